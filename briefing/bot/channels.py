"""Channels set up from a private chat with the bot (`/channels`), and the outbox's Telegram
channel that knows the bot's name, for the deep links of channel posts.

A channel becomes a target, inactive, when the bot is made its administrator
(`briefing.bot.membership`), and its administrator is told to send `/channels` here. In a
private chat `/channels` lists the targets of kind "channel" where, as Telegram says *now*
(`getChatMember`, never the message), the sender is an administrator and the bot may still
post; each comes with a button opening its settings panel (`briefing.bot.commands.panel`,
acting on that channel rather than on the chat it is shown in) and one turning its
deliveries on or off. Anyone else sees no channel, only a line saying how to get one.

Callback data `chan:<target id>:<panel data>` names the channel by its target id (a few
digits, so the panel's longest data, a time zone, stays within Telegram's 64 bytes), and
`chan:list` shows the list again. The rights are asked of Telegram again at every press
(`channel_target`), so a button kept from yesterday, or forged, changes nothing once its
presser no longer administers the channel (or the bot may no longer post there).

A digest posted in a channel has no buttons: its readers can neither reply nor press a
button the bot would answer there. Each story ends instead with a link to a private chat
with the bot (`https://t.me/<bot>?start=story_<id>`, `briefing.render.telegram.story_link`),
which needs the bot's username: `DeepLinkChannel` reads it from `getMe`.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import (
    Bot,
    ChatMemberAdministrator,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from briefing.bot.channel import TelegramChannel, send_html
from briefing.bot.membership import is_chat_admin
from briefing.bot.replies import edit_html
from briefing.bot.state import lang_of, state_of
from briefing.bot.texts import t
from briefing.render.live import live_parts
from briefing.service.digests import Digest, Part
from briefing.service.outbox import PostGone, RetryLater
from briefing.store.subscribers import CHANNEL, Subscriber, all_subscribers, by_id, destination

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "chan:"  # a panel button acting on a channel: chan:<target id>:<panel data>
CHANNELS_LIST = "chan:list"  # the list of the presser's channels, again
CHECKS_AT_ONCE = 8  # getChatMember calls in flight while /channels looks at every channel
TITLE_LENGTH = 32  # a channel's name on a button, cut there


def channel_prefix(target_id: int) -> str:
    """The callback data prefix of the panel of the channel with this target id."""
    return f"{CHANNEL_PREFIX}{target_id}:"


def channel_data(data: str) -> tuple[int, str] | None:
    """(target id, panel data) of `chan:<id>:<panel data>`; None for anything else
    (`chan:list` included)."""
    if not data.startswith(CHANNEL_PREFIX):
        return None
    head, _, rest = data.removeprefix(CHANNEL_PREFIX).partition(":")
    return (int(head), rest) if head.isdigit() else None


def title_of(target: Subscriber) -> str:
    """How a channel is named to its administrators: its title, else its chat id."""
    return target.title or target.chat


async def bot_may_post(bot: Bot, chat: str) -> bool:
    """Whether the bot administers this channel with the right to post, as Telegram says
    now."""
    try:
        member = await bot.get_chat_member(chat, bot.id)
    except TelegramError:
        return False
    if member.status == ChatMemberStatus.OWNER:
        return True
    return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)


async def administers(bot: Bot, target: Subscriber, user_id: int) -> bool:
    """Whether this user may set up this channel now: they administer it, and the bot may
    still post there (both asked of Telegram)."""
    admin, posts = await asyncio.gather(is_chat_admin(bot, target.chat, user_id),
                                        bot_may_post(bot, target.chat))
    return admin and posts


async def channel_target(context: ContextTypes.DEFAULT_TYPE, target_id: int,
                         user_id: int) -> Subscriber | None:
    """The channel with this target id when this user may set it up now; None when there
    is no such channel (another kind of target included) or they may not."""
    target = await asyncio.to_thread(by_id, state_of(context).db, target_id)
    if target is None or target.kind != CHANNEL:
        return None
    if not await administers(context.bot, target, user_id):
        log.info("user %s may not set up channel %s", user_id, target.chat)
        return None
    return target


async def administered(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> list[Subscriber]:
    """The channels this user may set up now, in target order."""
    targets = [target for target in await asyncio.to_thread(all_subscribers, state_of(context).db)
               if target.kind == CHANNEL and not target.thread_id]
    gate = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def check(target: Subscriber) -> bool:
        async with gate:
            return await administers(context.bot, target, user_id)

    allowed = await asyncio.gather(*(check(target) for target in targets))
    return [target for target, ok in zip(targets, allowed, strict=True) if ok]


def _cut(title: str) -> str:
    return title if len(title) <= TITLE_LENGTH else title[:TITLE_LENGTH - 1].rstrip() + "…"


def switch_button(target: Subscriber, lang: str, back_to_list: bool) -> InlineKeyboardButton:
    """The button turning a channel's deliveries on or off (the list shown again after it
    when `back_to_list`, else the channel's panel)."""
    action, label = ("off", "channels_turn_off") if target.active else ("on", "channels_turn_on")
    data = channel_prefix(target.id) + action + (":list" if back_to_list else "")
    return InlineKeyboardButton(t(label, lang), callback_data=data)


def channels_page(channels: list[Subscriber],
                  lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """The list of a user's channels: a line and a row of buttons each (its settings, its
    deliveries on or off); a polite line alone when there is none."""
    if not channels:
        return t("channels_none", lang), None
    lines = [t("channels_title", lang)]
    rows = []
    for target in channels:
        lines.append(t("channels_line", lang, title=title_of(target),
                       state=t("active" if target.active else "paused", lang),
                       time=target.digest_time, tz=target.timezone))
        rows.append([InlineKeyboardButton(f"⚙️ {_cut(title_of(target))}",
                                          callback_data=channel_prefix(target.id) + "main"),
                     switch_button(target, lang, back_to_list=True)])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def list_page(context: ContextTypes.DEFAULT_TYPE, user_id: int,
                    lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """The list of the channels this user may set up now."""
    return channels_page(await administered(context, user_id), lang)


async def channels_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/channels (in a private chat): the channels the sender administers, to set up."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or user is None:
        return
    lang = lang_of(update)
    if chat is None or chat.type != ChatType.PRIVATE:
        await message.reply_text(t("channels_private_only", lang))
        return
    text, keys = await list_page(context, user.id, lang)
    await message.reply_text(text, reply_markup=keys)


def bot_username(bot: Bot) -> str | None:
    """The bot's username (from `getMe`), None before the bot is initialised."""
    try:
        return bot.username or None
    except RuntimeError:  # no getMe yet: PTB refuses to guess
        return None


class DeepLinkChannel(TelegramChannel):
    """The outbox's channel to Telegram, whose digests posted in a channel link each story
    to a private chat with this bot."""

    def render(self, digest: Digest) -> list[Part]:
        """`TelegramChannel.render`, with the bot's username for a channel's deep links; a
        live update that answers its post is the short "what is new"."""
        return live_parts(digest, self.limit, bot_username=bot_username(self.bot))

    async def edit(self, chat_id: str, message_id: str, part: Part) -> None:
        """Turn a live post into `part` (an update while the post is recent). Raises Gone
        when the post was deleted: the update is then sent as a post of its own."""
        chat, _thread = destination(chat_id)
        try:
            await edit_html(self.bot, chat, int(message_id), part.text, part.keyboard)
        except BadRequest as exc:
            if "message to edit not found" in str(exc).lower():
                raise PostGone(str(exc)) from None
            raise RetryLater(str(exc)) from None
        except TelegramError as exc:
            raise RetryLater(str(exc)) from None

    async def reply_to(self, chat_id: str, message_id: str, part: Part) -> str:
        """Answer a live post with `part` (an update of an older post); returns its id."""
        chat, thread = destination(chat_id)
        try:
            message = await send_html(self.bot, chat, part.text, reply_to=int(message_id),
                                      message_thread_id=thread)
        except BadRequest as exc:
            if "not found" not in str(exc).lower():
                raise RetryLater(str(exc)) from None
            # The post is gone: what is new goes out on its own.
            message = await send_html(self.bot, chat, part.text, message_thread_id=thread)
        except TelegramError as exc:
            raise RetryLater(str(exc)) from None
        return str(message.message_id)

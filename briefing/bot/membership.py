"""The bot's own membership of groups and channels, as Telegram reports it.

`my_chat_member` updates say the bot was added to a group, made or unmade administrator
of a channel, or removed; a service message with `migrate_to_chat_id` says a group became
a supergroup. Each goes to `briefing.service.targets`, which keeps the chat's targets in
step. In a group the bot says once what it will post and who may change it; the person
who made it a channel's administrator is told, privately when they have talked to the bot
before, how to set the channel up.

Who may change a group's or a channel's settings is asked of Telegram each time
(`getChatMember`), never taken from the message: `is_chat_admin`.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, ChatMember, ChatMemberAdministrator, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from briefing.bot.state import state_of
from briefing.bot.texts import t, ui_language
from briefing.service.targets import bot_joined, bot_left, chat_migrated

log = logging.getLogger(__name__)

_PRESENT = (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER,
            ChatMemberStatus.RESTRICTED)
_KINDS: dict[str, str] = {ChatType.GROUP: "group", ChatType.SUPERGROUP: "supergroup",
                          ChatType.CHANNEL: "channel"}


def _may_post(member: ChatMember, chat_type: str) -> bool:
    """Whether the bot, as this member, may post: in a channel only as an administrator
    with the right to post; in a group as any present member not muted."""
    if member.status not in _PRESENT:
        return False
    if chat_type == ChatType.CHANNEL:
        return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)
    return member.status != ChatMemberStatus.RESTRICTED or bool(
        getattr(member, "can_send_messages", False))


async def my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was added to, promoted or demoted in, or removed from a group or channel."""
    change = update.my_chat_member
    if change is None or change.chat.type not in _KINDS:
        return  # a private chat: a reader blocking the bot is seen when sending
    state, chat = state_of(context), change.chat
    kind = _KINDS[chat.type]
    was = _may_post(change.old_chat_member, chat.type)
    now = _may_post(change.new_chat_member, chat.type)
    if not now:
        await asyncio.to_thread(bot_left, state.db, str(chat.id))
        return
    target = await asyncio.to_thread(bot_joined, state.db, str(chat.id), kind, chat.title)
    if was or target is None:
        return
    lang = ui_language(change.from_user.language_code if change.from_user else None)
    try:
        if kind == "channel":
            await context.bot.send_message(change.from_user.id, t(
                "channel_added", lang, title=chat.title or str(chat.id)))
        else:
            await context.bot.send_message(chat.id, t(
                "group_welcome", lang, time=target.digest_time, zone=target.timezone))
    except (Forbidden, TelegramError):  # they never talked to the bot: it cannot write first
        log.info("could not say hello after joining %s %s", kind, chat.id, exc_info=True)


async def migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup: its targets follow the new chat id."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    await asyncio.to_thread(chat_migrated, state_of(context).db, str(message.chat.id),
                            str(message.migrate_to_chat_id))


async def is_chat_admin(bot: Bot, chat_id: int | str, user_id: int) -> bool:
    """Whether this user administers the chat, as Telegram says now (`getChatMember`)."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramError:
        return False
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

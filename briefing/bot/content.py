"""Content commands: the digest now, the latest stories, page summaries."""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from briefing.bot.channel import send_html
from briefing.bot.replies import llm_blocked, reply, send_blocks
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.errors import BadInput
from briefing.render.telegram import story_blocks
from briefing.service import on_demand
from briefing.store.deliveries import record_message
from briefing.store.stories import withheld_reason

log = logging.getLogger(__name__)
URL = re.compile(r"^\s*(https?://\S+)\s*$")


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The digest now: what is new since the reader's last digest."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    digest = await asyncio.to_thread(
        on_demand.digest_now, state.db, chat, state.clock(), state.settings, lang)
    if not digest.items:
        await reply(update, t("nothing_new", lang))
        return
    from briefing.bot.channel import TelegramChannel

    for part in TelegramChannel(context.bot).render(digest):
        message = await send_html(context.bot, chat, part.text)
        await asyncio.to_thread(record_message, state.db, chat, str(message.message_id),
                                part.stories)


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/latest [N]: the N most recent stories (default 5, at most 20)."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    args = context.args or []
    default = state.settings.telegram.latest_default
    n = min(20, int(args[0])) if args and args[0].isdigit() else default
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.latest, state.db, max(1, n), languages,
                                    state.clock())
    if not found.items:
        await reply(update, t("no_stories", lang))
        return
    await send_blocks(update, context, story_blocks(found.items, languages[0]))


async def summarise_page(update: Update, context: ContextTypes.DEFAULT_TYPE, url: str) -> None:
    """Summarise a page on demand, in the reader's languages, with checked quotes."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    user = update.effective_user
    blocked = await asyncio.to_thread(llm_blocked, state, user.id if user else 0, "summary", lang)
    if blocked:
        await reply(update, blocked)
        return
    await context.bot.send_chat_action(chat, ChatAction.TYPING)
    try:
        story_id = await asyncio.to_thread(on_demand.summarise_url, state.db, url,
                                           state.settings, state.clock())
    except BadInput as exc:
        await reply(update, t("cannot_read", lang, reason=str(exc)))
        return
    withheld = await asyncio.to_thread(withheld_reason, state.db, story_id)
    if withheld is not None:  # not checked enough to show: say why, show nothing of it
        await reply(update, t("withheld", lang, reason=withheld))
        return
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.stories_now, state.db, [story_id], languages,
                                    state.clock())
    assert update.effective_message
    await send_blocks(update, context, story_blocks(found.items, languages[0]),
                       reply_to=update.effective_message.message_id)


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary URL: a brief of that page."""
    args = context.args or []
    if not args or not URL.match(args[0]):
        await reply(update, t("summary_usage", lang_of(update)))
        return
    await summarise_page(update, context, args[0])


async def url_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message that is just a URL: summarise it."""
    assert update.effective_message and update.effective_message.text
    match = URL.match(update.effective_message.text)
    if match:
        await summarise_page(update, context, match.group(1))



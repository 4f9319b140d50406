"""`/story N`: how story N of a message grew, version by version.

As a reply to a digest, a list or a brief, or alone about the last message with stories
sent to the reader; N is the number the message shows (a message of one story needs
none). The versions come from `briefing.service.history`, the words from
`briefing.render.history`.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from briefing.bot.channel import send_html
from briefing.bot.replies import reply
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.render.history import history_html
from briefing.service.digests import local_zone
from briefing.service.history import versions
from briefing.service.points import shown_in
from briefing.store.subscribers import find


async def story(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/story [N]: the versions of story N of the message replied to (or of the last one
    with stories sent here)."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    message = update.effective_message
    assert message is not None
    args = context.args or []
    if len(args) > 1 or (args and not args[0].isdigit()):
        await reply(update, t("story_usage", lang))
        return
    replied = message.reply_to_message.message_id if message.reply_to_message else None
    shown = await asyncio.to_thread(shown_in, state.db, chat,
                                    str(replied) if replied is not None else None, lang,
                                    state.clock())
    if shown is None or not shown.items:
        await reply(update, t("why_gone" if replied is not None else "why_nothing", lang))
        return
    if args:
        wanted = int(args[0])
        numbers = shown.numbers or {}
        chosen = [i for i in shown.items if numbers.get(i.story_id, 0) == wanted]
        if not chosen and len(shown.items) == 1 and wanted == 1:
            chosen = list(shown.items)
        if not chosen:
            await reply(update, t("why_no_story", lang, story=wanted))
            return
    elif len(shown.items) == 1:
        chosen = list(shown.items)
    else:
        await reply(update, t("story_usage", lang))
        return
    found = await asyncio.to_thread(versions, state.db, chosen[0].story_id, shown.languages)
    if not found:
        await reply(update, t("story_no_history", lang))
        return
    reader = await asyncio.to_thread(find, state.db, chat)
    zone = local_zone(reader.timezone if reader else "UTC")
    await send_html(context.bot, chat, history_html(found, zone, lang),
                    reply_to=message.message_id)

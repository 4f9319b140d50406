"""`/schedule`: how a target gets its stories, once a day or as they come.

`/schedule` alone says which; `/schedule live` posts each story once confirmed and
updates it as it grows (`briefing.service.live`), `/schedule digest` goes back to one
digest a day. In a group only its administrators may change it (the gate asks Telegram).
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from briefing.bot.replies import reply
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.store.subscribers import DIGEST_ONLY, LIVE, find, upsert

_NAMES = {"live": LIVE, "direct": LIVE, "digest": DIGEST_ONLY, "quotidien": DIGEST_ONLY,
          "daily": DIGEST_ONLY}


async def schedule(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/schedule [live|digest]: show or change how this chat gets its stories."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    args = [a.lower() for a in context.args or []]
    if not args:
        target = await asyncio.to_thread(find, state.db, chat)
        current = target.schedule if target else DIGEST_ONLY
        await reply(update, t(f"schedule_{current}", lang) + " " + t("schedule_usage", lang))
        return
    chosen = _NAMES.get(args[0])
    if chosen is None or len(args) > 1:
        await reply(update, t("schedule_usage", lang))
        return
    await asyncio.to_thread(upsert, state.db, chat, schedule=chosen)
    await reply(update, t(f"schedule_{chosen}", lang))

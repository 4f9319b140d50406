"""What every content handler shares: replying in one line, sending and editing messages
while remembering which stories each message is about, and the quota and budget gate
(which tells a reader over a limit when they may try again)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from babel.dates import format_time
from telegram import Bot, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from briefing.bot.channel import markup, plain_text, send_html, unchanged
from briefing.bot.limits import within_budget
from briefing.bot.state import BotState, state_of
from briefing.bot.texts import t
from briefing.service.digests import Keyboard, Part
from briefing.service.on_demand import reader_zone
from briefing.store.deliveries import record_message

log = logging.getLogger(__name__)


async def send_parts(context: ContextTypes.DEFAULT_TYPE, chat: str, parts: Sequence[Part],
                     reply_to: int | None = None,
                     about: Sequence[int] | None = None) -> list[Message]:
    """Send rendered parts with their buttons, remembering what each message is about
    (its stories, or `about` for every one: a list is about all of its pages)."""
    state = state_of(context)
    sent = []
    for part in parts:
        message = await send_html(context.bot, chat, part.text, reply_to=reply_to,
                                  reply_markup=markup(part.keyboard))
        stories = list(part.stories if about is None else about)
        if stories:  # an error or a refusal is about nothing a reply could ask about
            await asyncio.to_thread(record_message, state.db, chat, str(message.message_id),
                                    stories)
        sent.append(message)
    return sent


async def edit_html(bot: Bot, chat: str | int, message_id: int, text: str,
                    keyboard: Keyboard = ()) -> None:
    """Turn one of our messages into this HTML (plain text if Telegram refuses the HTML);
    an edit that changes nothing (a button pressed twice) is not an error."""
    options = LinkPreviewOptions(is_disabled=True)
    reply_markup = markup(keyboard)
    try:
        await bot.edit_message_text(text, chat_id=chat, message_id=message_id,
                                    parse_mode=ParseMode.HTML, link_preview_options=options,
                                    reply_markup=reply_markup)
    except BadRequest as exc:
        if unchanged(exc):
            return
        if "can't parse entities" not in str(exc).lower():
            raise
        log.warning("Telegram refused the HTML of an edit (%s); editing as plain text", exc)
        await bot.edit_message_text(plain_text(text), chat_id=chat, message_id=message_id,
                                    link_preview_options=options, reply_markup=reply_markup)


async def reply(update: Update, text: str) -> Message:
    """Answer the reader's message in one plain line."""
    assert update.effective_message
    return await update.effective_message.reply_text(text, disable_web_page_preview=True)


def when_text(at: datetime, now: datetime, zone: tzinfo | None, lang: str) -> str:
    """When a reader may try again, their way: "in 12 minutes" up to an hour, else the
    time in their zone ("at 14:05 (Europe/Paris)", "tomorrow at 07:10 (...)"), or "in 3 h
    20 min" when their zone is unknown."""
    minutes = max(1, math.ceil((at - now) / timedelta(minutes=1)))
    if minutes == 1:
        return t("in_one_minute", lang)
    if minutes <= 60:
        return t("in_minutes", lang, n=minutes)
    if zone is None:
        return t("in_hours", lang, hours=minutes // 60, minutes=minutes % 60)
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    clock = format_time(local.time(), "HH:mm", locale=lang if lang in ("fr", "en") else "en")
    key = "at_time" if local.date() == today else "tomorrow_at"
    return t(key, lang, time=clock, tz=str(zone))


def llm_blocked(state: BotState, user_id: int, kind: str, lang: str,
                chat: str | None = None) -> str | None:
    """Why this request may not run now (quota or budget), or None (and the use counted).

    Over a quota, the reader is told when they may try again, in the zone of the reader of
    `chat` (their private chat, the user's id, by default).
    """
    llm_on = state.settings.llm.configured and state.settings.llm.engine != "extractive"
    budget = state.settings.telegram.daily_token_budget
    now = state.clock()
    if llm_on and not within_budget(state.db, now, budget):
        return t("budget", lang)  # checked first: a refused request uses up no quota
    quota = state.summaries if kind == "summary" else state.questions
    hit = quota.allow(user_id, now)
    if hit is None:
        return None
    at = quota.retry_at(user_id, now)
    if at is None:  # a limit of zero: no use is ever allowed
        return t("quota_off", lang)
    per = quota.per_hour if hit == "hour" else quota.per_day
    zone = reader_zone(state.db, chat if chat is not None else str(user_id))
    return t("quota_summary" if kind == "summary" else "quota_question", lang, n=per,
             period=t(f"period_{hit}", lang), when=when_text(at, now, zone, lang))

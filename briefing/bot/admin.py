"""Commands for the administrators listed in `telegram.admins` (BRIEFING_ADMINS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from telegram import Update
from telegram.ext import ContextTypes

from briefing.bot.limits import tokens_today
from briefing.bot.state import lang_of, state_of
from briefing.bot.texts import t
from briefing.config import Settings
from briefing.errors import BadInput
from briefing.service.feeds_admin import add_checked_feed, remove_feed
from briefing.store.db import Database
from briefing.store.models import (
    FAILED,
    PENDING,
    SENT,
    DeliveryRow,
    LLMCallRow,
    StoryRow,
    SubscriberRow,
)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def admin_only(handler: Handler) -> Handler:
    """Let only administrators run `handler`; others get a polite refusal."""

    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if user is None or user.id not in state_of(context).settings.telegram.admins:
            assert update.effective_message
            await update.effective_message.reply_text(t("admins_only", lang_of(update)))
            return
        await handler(update, context)

    guarded.__doc__ = handler.__doc__
    return guarded


def stats_text(db: Database, now: datetime, settings: Settings) -> str:
    """Subscribers, stories, deliveries, failures, tokens and estimated cost today."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with db.session() as session:
        def count(query: object) -> int:
            return int(session.scalar(query) or 0)  # type: ignore[call-overload]

        subs = count(select(func.count(SubscriberRow.id)).where(SubscriberRow.active))
        stories = count(select(func.count(StoryRow.id)).where(StoryRow.created_at >= midnight))
        sent = count(select(func.count(DeliveryRow.id)).where(DeliveryRow.state == SENT,
                                                           DeliveryRow.sent_at >= midnight))
        failed = count(select(func.count(DeliveryRow.id)).where(DeliveryRow.state == FAILED))
        pending = count(select(func.count(DeliveryRow.id)).where(DeliveryRow.state == PENDING))
        prompt = count(select(func.coalesce(func.sum(LLMCallRow.prompt_tokens), 0))
                       .where(LLMCallRow.created_at >= midnight))
        completion = count(select(func.coalesce(func.sum(LLMCallRow.completion_tokens), 0))
                           .where(LLMCallRow.created_at >= midnight))
    cost = (prompt * settings.llm.price_input_per_mtok
            + completion * settings.llm.price_output_per_mtok) / 1e6
    return (f"subscribers: {subs}\nstories today: {stories}\ndeliveries today: {sent} sent, "
            f"{pending} pending, {failed} failed (all time)\ntokens today: {prompt} in, "
            f"{completion} out (total {tokens_today(db, now)}), about ${cost:.4f}")


@admin_only
async def addfeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/addfeed URL: add a feed."""
    state, args = state_of(context), context.args or []
    assert update.effective_message
    try:
        added = await asyncio.to_thread(add_checked_feed, state.db, args[0] if args else "",
                                        state.settings.fetch, state.settings.service)
        text = "\n".join([f"feed {added.id} added: {args[0]} ({added.entries} entries)",
                           *added.warnings])
    except BadInput as exc:
        text = str(exc)
    await update.effective_message.reply_text(text, disable_web_page_preview=True)


@admin_only
async def removefeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/removefeed N: remove a feed."""
    state, args = state_of(context), context.args or []
    assert update.effective_message
    if not args or not args[0].isdigit():
        usage = t("feed_usage", lang_of(update), cmd="removefeed")
        await update.effective_message.reply_text(usage)
        return
    try:
        await asyncio.to_thread(remove_feed, state.db, int(args[0]))
        text = f"feed {args[0]} removed"
    except BadInput as exc:
        text = str(exc)
    await update.effective_message.reply_text(text)


@admin_only
async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats: today's figures."""
    state = state_of(context)
    text = await asyncio.to_thread(stats_text, state.db, state.clock(), state.settings)
    assert update.effective_message
    await update.effective_message.reply_text(text)

"""Commands for the administrators listed in `telegram.admins` (BRIEFING_ADMINS)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from briefing.bot.state import lang_of, state_of
from briefing.bot.texts import t
from briefing.config import Settings
from briefing.errors import BadInput
from briefing.service.feeds_admin import add_checked_feed, remove_feed
from briefing.store.db import Database
from briefing.store.deliveries import delivery_counts
from briefing.store.feeds import failing_feeds
from briefing.store.llm_calls import tokens_since
from briefing.store.stories import created_since
from briefing.store.subscribers import active_count

log = logging.getLogger(__name__)
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
    """Subscribers, stories, deliveries, failures, tokens and estimated cost today, and the
    feeds that fail with their last error."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sent, pending, failed = delivery_counts(db, midnight)
    prompt, completion = tokens_since(db, midnight)
    cost = (prompt * settings.llm.price_input_per_mtok
            + completion * settings.llm.price_output_per_mtok) / 1e6
    lines = [f"subscribers: {active_count(db)}", f"stories today: {created_since(db, midnight)}",
             f"deliveries today: {sent} sent, {pending} pending, {failed} failed (all time)",
             f"tokens today: {prompt} in, {completion} out (total {prompt + completion}), "
             f"about ${cost:.4f}"]
    failing = failing_feeds(db)
    lines.append(f"failing feeds: {len(failing)}")
    lines += [f"  {feed.id}. {feed.url}: {feed.errors} errors in a row, last: {feed.last_error}"
              for feed in failing]
    return "\n".join(lines)


async def alert_admins(bot: Bot, settings: Settings, url: str, error: str) -> None:
    """Tell every administrator, once, that a feed has started failing (the service calls
    this on the feed's first error in a row; the full error stays in the log too)."""
    for admin in settings.telegram.admins:
        try:
            await bot.send_message(admin, f"feed failing: {url}\n{error}",
                                   disable_web_page_preview=True)
        except TelegramError:  # an admin who never opened the bot: the log has it
            log.warning("could not tell admin %s that %s fails", admin, url, exc_info=True)


@admin_only
async def addfeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/addfeed URL: add a feed."""
    state, args = state_of(context), context.args or []
    assert update.effective_message
    try:
        added = await asyncio.to_thread(add_checked_feed, state.db, args[0] if args else "",
                                        state.settings.fetch, state.settings.service)
        title = f"“{added.title}”, " if added.title else ""
        text = "\n".join([f"feed {added.id} added: {title}{args[0]} ({added.entries} entries)",
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

"""Commands for the administrators listed in `telegram.admins` (BRIEFING_ADMINS), and the
readers' side of /addfeed and /removefeed when `telegram.reader_feeds` lets readers add
feeds of their own (see `briefing.service.feeds_admin`): a reader's /addfeed adds the feed
if it is new and follows it, their /removefeed unfollows it (as /unfollow does)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from briefing.bot.commands import unfollow
from briefing.bot.failures import failure_text
from briefing.bot.opml import limit_text
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.config import Settings
from briefing.errors import BadInput
from briefing.service.feeds_admin import (
    FeedLimit,
    add_checked_feed,
    add_reader_feed,
    remove_feed,
)
from briefing.sources.fetch import shown_url
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


def _is_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    return user is not None and user.id in state_of(context).settings.telegram.admins


async def addfeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/addfeed URL: add a feed (admins); with telegram.reader_feeds, a reader adds one
    they then follow."""
    if not _is_admin(update, context):
        await _reader_addfeed(update, context)
        return
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


async def _reader_addfeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reader's /addfeed URL: the feed added if new (checked as an admin's), and followed,
    within telegram.reader_feeds_limit; refused politely when readers may not add feeds."""
    state, args, lang = state_of(context), context.args or [], lang_of(update)
    assert update.effective_message
    telegram = state.settings.telegram
    if not telegram.reader_feeds:
        await update.effective_message.reply_text(t("admins_only", lang))
        return
    if not args:
        await update.effective_message.reply_text(t("reader_feed_usage", lang))
        return
    try:
        feed = await asyncio.to_thread(
            add_reader_feed, state.db, chat_of(update), args[0], state.settings.fetch,
            state.settings.service, telegram.reader_feeds_limit)
    except FeedLimit as exc:
        text = limit_text(exc, lang)
    except BadInput as exc:
        # A page that answers but is not a feed has no reason of its own.
        text = (t("reader_feed_not_a_feed", lang) if exc.reason in (None, "not_a_page")
                else failure_text(exc, lang))
    else:
        name = feed.title or shown_url(feed.url)
        key = ("reader_feed_added" if feed.added else "reader_feed_followed" if feed.followed
               else "reader_feed_already")
        text = t(key, lang, name=name)
    await update.effective_message.reply_text(text, disable_web_page_preview=True)


async def removefeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/removefeed N: remove a feed (admins); with telegram.reader_feeds, a reader stops
    following it and the feed stays for the others."""
    if not _is_admin(update, context):
        if state_of(context).settings.telegram.reader_feeds:
            await unfollow(update, context)
        else:
            assert update.effective_message
            await update.effective_message.reply_text(t("admins_only", lang_of(update)))
        return
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

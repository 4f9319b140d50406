"""Subscription and settings commands, and the settings buttons."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import help_text, t
from briefing.errors import BadInput
from briefing.service.subscribers import (
    check_languages,
    check_time,
    check_timezone,
)
from briefing.service.subscribers import subscribe as subscribe_reader
from briefing.store.db import Database
from briefing.store.feeds import active_feeds
from briefing.store.subscribers import find, upsert

TIMES = ("06:00", "07:00", "07:30", "08:00", "12:00", "18:00")
LANG_LABELS = {"fr": "Français", "en": "English", "both": "FR + EN"}


def settings_keyboard() -> InlineKeyboardMarkup:
    """Buttons for languages and digest time."""
    langs = [InlineKeyboardButton(label, callback_data=f"lang:{code}")
             for code, label in LANG_LABELS.items()]
    times = [InlineKeyboardButton(at, callback_data=f"time:{at}") for at in TIMES]
    return InlineKeyboardMarkup([langs, times[:3], times[3:]])


def settings_text(db: Database, chat_id: str, lang: str) -> str:
    """The reader's settings in one sentence."""
    sub = find(db, chat_id)
    if sub is None:
        return help_text(lang)
    feeds = ", ".join(str(f) for f in sub.feeds) if sub.feeds else t("all_feeds", lang)
    return t("settings", lang, langs=LANG_LABELS.get(sub.languages, sub.languages),
             time=sub.digest_time, tz=sub.timezone, feeds=feeds,
             state=t("active" if sub.active else "paused", lang))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Welcome the reader in their language, subscribe them, offer the settings buttons."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    existing = await asyncio.to_thread(find, state.db, chat)
    if existing is None:  # a new reader starts in their interface language
        sub, _ = await asyncio.to_thread(subscribe_reader, state.db, chat, languages=lang)
    else:  # /start again: resume, settings kept
        sub, _ = await asyncio.to_thread(upsert, state.db, chat, active=True)
    name = update.effective_user.first_name if update.effective_user else ""
    assert update.effective_message
    await update.effective_message.reply_text(
        t("welcome", lang, name=name, time=sub.digest_time, tz=sub.timezone),
        reply_markup=settings_keyboard())


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List every command, one line each."""
    user = update.effective_user
    admin = bool(user and user.id in state_of(context).settings.telegram.admins)
    assert update.effective_message
    await update.effective_message.reply_text(help_text(lang_of(update), admin))


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the reader's settings with buttons to change them."""
    state = state_of(context)
    text = await asyncio.to_thread(settings_text, state.db, chat_of(update), lang_of(update))
    assert update.effective_message
    await update.effective_message.reply_text(text, reply_markup=settings_keyboard())


async def _set(update: Update, context: ContextTypes.DEFAULT_TYPE, **values: Any) -> None:
    state, lang = state_of(context), lang_of(update)
    await asyncio.to_thread(partial(upsert, state.db, chat_of(update), **values))
    text = await asyncio.to_thread(settings_text, state.db, chat_of(update), lang)
    assert update.effective_message
    await update.effective_message.reply_text(f"{t('saved', lang)} {text}")


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Resume deliveries."""
    await _set(update, context, active=True)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pause deliveries, keeping the settings."""
    state = state_of(context)
    await asyncio.to_thread(partial(upsert, state.db, chat_of(update), active=False))
    assert update.effective_message
    await update.effective_message.reply_text(t("unsubscribed", lang_of(update)))


async def _checked(update: Update, check: object, value: str) -> str | None:
    try:
        return check(value)  # type: ignore[operator, no-any-return]
    except BadInput as exc:
        assert update.effective_message
        await update.effective_message.reply_text(str(exc))
        return None


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lang fr|en|both: the languages of the briefs."""
    value = await _checked(update, check_languages, (context.args or [""])[0].lower())
    if value is not None:
        await _set(update, context, languages=value)


async def time_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/time HH:MM: when the daily digest arrives."""
    value = await _checked(update, check_time, (context.args or [""])[0])
    if value is not None:
        await _set(update, context, digest_time=value)


async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/timezone Area/City: the reader's IANA time zone."""
    value = await _checked(update, check_timezone, (context.args or [""])[0])
    if value is not None:
        await _set(update, context, timezone=value)


def _feeds(db: Database) -> list[tuple[int, str]]:
    return [(f.id, f.title or f.url) for f in active_feeds(db)]


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the feeds available, numbered for /follow and /unfollow."""
    feeds = await asyncio.to_thread(_feeds, state_of(context).db)
    text = "\n".join(f"{fid}. {name}" for fid, name in feeds) or t("no_feeds", lang_of(update))
    assert update.effective_message
    await update.effective_message.reply_text(text, disable_web_page_preview=True)


async def _follow(update: Update, context: ContextTypes.DEFAULT_TYPE, follow: bool) -> None:
    state, lang = state_of(context), lang_of(update)
    assert update.effective_message
    args = context.args or []
    if not args or not args[0].isdigit():
        cmd = "follow" if follow else "unfollow"
        await update.effective_message.reply_text(t("feed_usage", lang, cmd=cmd))
        return
    feed_id = int(args[0])
    if feed_id not in {fid for fid, _ in await asyncio.to_thread(_feeds, state.db)}:
        await update.effective_message.reply_text(t("no_such_feed", lang, n=feed_id))
        return
    sub = await asyncio.to_thread(find, state.db, chat_of(update))
    current = set(sub.feeds if sub else ())
    current = current | {feed_id} if follow else current - {feed_id}
    await _set(update, context, feeds=tuple(sorted(current)))


async def follow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/follow N: get stories from feed N (by default, every feed)."""
    await _follow(update, context, True)


async def unfollow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unfollow N: stop following feed N."""
    await _follow(update, context, False)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A settings button was pressed: save it and show the new settings."""
    query = update.callback_query
    assert query is not None
    kind, _, value = (query.data or "").partition(":")
    state, lang = state_of(context), lang_of(update)
    if kind == "lang" and value in LANG_LABELS:
        change = partial(upsert, state.db, chat_of(update), languages=value)
    elif kind == "time" and value in TIMES:
        change = partial(upsert, state.db, chat_of(update), digest_time=value)
    else:
        await query.answer()
        return
    await asyncio.to_thread(change)
    await query.answer(t("saved", lang))
    text = await asyncio.to_thread(settings_text, state.db, chat_of(update), lang)
    await query.edit_message_text(text, reply_markup=settings_keyboard())

"""Subscription and settings commands, and the settings panel.

The panel is one message that edits itself: its text is the reader's settings, its buttons
(callback data `set:...`, see `PREFIX`) show the current choices with ✅ and open a page
for the digest time, the time zone or the sources followed. "Other…" on the time or zone
page asks for a value: the reader's next text message is taken as it (`typed_setting`,
while `AwaitingSetting` says so); a command or another button press cancels that. The
welcome message of /start keeps its text: its buttons only confirm the time zone guessed
from the Telegram language, or open the panel as a message of its own.

Telegram answers an edit that changes nothing with 400 "message is not modified" (a
choice pressed again, a double tap): that is success here. Every callback query is
answered, whatever happens.

Sources are the feeds and `FOLDER` (number 0): the articles from no feed, that is the
watched folder and the pages readers have had summarised. They are followed like feeds.

The panel may act on another target than the chat it is shown in: a channel, set up from
its administrator's private chat (`briefing.bot.channels`). Its buttons then carry the
channel's target id (`chan:<id>:...` instead of `set:...`), its pages are headed by the
channel's name, and its main page adds the channel's keyword filters (typed like /filters'
words, after "✏️ Change"), a button turning deliveries on or off, and the way back to the
list. Each press, and each value typed, asks Telegram again whether the presser still
administers the channel (`briefing.bot.channels.channel_target`).

`/start story_<id>` (a channel post's "Ask about it" link) shows that story in the private
chat it opens, after the welcome of a new reader (`briefing.bot.content.story_from_link`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from briefing.bot.channel import unchanged
from briefing.bot.channels import (
    CHANNEL_PREFIX,
    CHANNELS_LIST,
    channel_data,
    channel_prefix,
    channel_target,
    list_page,
    switch_button,
    title_of,
)
from briefing.bot.content import story_from_link
from briefing.bot.keywords import filter_lines
from briefing.bot.keywords import parse as parse_filters
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import help_text, t
from briefing.errors import BadInput
from briefing.render.telegram import story_start
from briefing.service.subscribers import (
    FilterAction,
    FilterChange,
    Follow,
    UnknownTimezone,
    all_sources,
    change_filters,
    change_follow,
    check_languages,
    check_time,
    followed,
    match_timezone,
    zone_for_language,
)
from briefing.service.subscribers import subscribe as subscribe_reader
from briefing.store.db import Database
from briefing.store.feeds import active_feeds, working_feeds
from briefing.store.subscribers import (
    FOLDER,
    SCHEDULES,
    Subscriber,
    by_id,
    destination,
    find,
    remember_interface,
    upsert,
)
from briefing.stories.filters import MAX_PHRASE_WORDS, MAX_PHRASES, Filters

log = logging.getLogger(__name__)

PREFIX = "set:"
# The CallbackQueryHandler pattern of the panel's buttons; "lang:" and "time:" are the
# buttons of welcomes sent before the panel, still in readers' chats: they are answered too.
# "chan:" are the buttons of a channel's panel and of the list of channels.
PATTERN = f"^({PREFIX}|lang:|time:|{CHANNEL_PREFIX})"
TIMES = ("06:00", "06:30", "07:00", "07:30", "08:00", "09:00", "12:00", "18:00", "20:00")
ZONES = ("Europe/Paris", "Europe/Brussels", "Europe/Zurich", "Europe/London",
         "America/Toronto", "America/New_York", "Africa/Dakar", "Africa/Abidjan", "UTC")
LANG_LABELS = {"fr": "Français", "en": "English", "both": "FR + EN"}
# French ways of saying "both" (the French texts never ask for the English word).
LANG_ALIASES = {"deux": "both", "les deux": "both", "fr+en": "both", "fr + en": "both"}
FEEDS_PER_PAGE = 8
LABEL_LENGTH = 40  # a feed title on a button, cut there
# chat_data: ("time" | "tz" | "filters", message id of the panel asking, the target id of
# the channel it sets up or None for the chat itself)
WAITING = "settings.waiting"


# --- what the panel shows -----------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What the panel and the source commands show of one reader."""

    reader: Subscriber
    names: dict[int, str]  # every source that may be followed, by number (FOLDER first)
    shown: tuple[int, ...]  # the sources offered: FOLDER and the working feeds

    @property
    def chosen(self) -> set[int]:
        """The sources the reader follows."""
        return followed(self.reader.feeds, self.names)


def load_view(db: Database, chat_id: str, lang: str) -> View | None:
    """The reader of this chat and the sources, or None for a chat with no reader."""
    reader = find(db, chat_id)
    if reader is None:
        return None
    names = {FOLDER: t("panel_outside_feeds", lang)}
    names.update({feed.id: feed.title or feed.url for feed in active_feeds(db)})
    shown = (FOLDER, *(feed.id for feed in working_feeds(db)))
    return View(reader, names, shown)


def feeds_value(view: View, lang: str) -> str:
    """The sources followed, in a few words: all, none, their names or how many."""
    if not view.reader.feeds:
        return t("all_feeds", lang)
    chosen = view.chosen
    if not chosen:
        return t("panel_none", lang)
    if len(chosen) <= 3:
        return ", ".join(view.names[n] for n in sorted(chosen))
    return t("panel_n_of", lang, n=len(chosen), total=len(view.names))


def settings_line(view: View, lang: str) -> str:
    """The reader's settings in one sentence."""
    reader = view.reader
    return t("settings", lang, langs=LANG_LABELS.get(reader.languages, reader.languages),
             time=reader.digest_time, tz=reader.timezone, feeds=feeds_value(view, lang),
             state=t("active" if reader.active else "paused", lang))


def _button(text: str, data: str, prefix: str = PREFIX) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=prefix + data)


def _prefix(channel: int | None) -> str:
    """The callback data prefix of a panel: the chat's own, or a channel's."""
    return PREFIX if channel is None else channel_prefix(channel)


def _mark(selected: bool, text: str) -> str:
    return f"✅ {text}" if selected else text


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i:i + width] for i in range(0, len(buttons), width)]


def _choices(common: tuple[str, ...], current: str, ordered: bool) -> list[str]:
    # The current choice is always on its page, even when it is not a common one: among
    # the others when they are `ordered` (times), else first.
    if current in common:
        return list(common)
    return sorted({*common, current}) if ordered else [current, *common]


def _main_keys(view: View, lang: str, prefix: str = PREFIX) -> list[list[InlineKeyboardButton]]:
    reader = view.reader
    langs = [_button(_mark(code == reader.languages, label), f"lang:{code}", prefix)
             for code, label in LANG_LABELS.items()]
    return [langs,
            [_button(f"🕐 {reader.digest_time}", "time", prefix),
             _button(f"🌍 {reader.timezone}", "tz", prefix)],
            [_button(t("panel_feeds", lang, feeds=feeds_value(view, lang)), "feeds", prefix)],
            [_button(_mark(reader.schedule == code, t(f"panel_{code}", lang)), f"sched:{code}",
                     prefix) for code in SCHEDULES]]


def _cut(name: str) -> str:
    """A long name cut to LABEL_LENGTH, at a word when there is one."""
    head = name[:LABEL_LENGTH - 1]
    return (head.rsplit(" ", 1)[0] if " " in head else head).rstrip(" :,.") + "…"


def _feed_keys(view: View, lang: str, page: int,
               prefix: str = PREFIX) -> list[list[InlineKeyboardButton]]:
    pages = max(1, -(-len(view.shown) // FEEDS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    chosen = view.chosen
    rows = []
    for number in view.shown[page * FEEDS_PER_PAGE:(page + 1) * FEEDS_PER_PAGE]:
        name = view.names[number]
        label = name if len(name) <= LABEL_LENGTH else _cut(name)
        mark = "✅" if number in chosen else "⬜"
        rows.append([_button(f"{mark} {number}. {label}", f"feed:{number}:{page}", prefix)])
    turn = ([_button("◀", f"feeds:{page - 1}", prefix)] if page > 0 else []) + (
        [_button("▶", f"feeds:{page + 1}", prefix)] if page < pages - 1 else [])
    return [*rows, *([turn] if turn else []), [_button(t("panel_back", lang), "main", prefix)]]


def filters_text(reader: Subscriber, lang: str) -> str:
    """A channel's keyword filters in words: what is posted, what is left out."""
    return "\n".join(filter_lines(Filters(reader.include, reader.exclude), lang,
                                   include_key="channels_filters_include",
                                   none_key="channels_filters_none"))


def _channel_main(view: View, lang: str, channel: int) -> list[list[InlineKeyboardButton]]:
    """A channel's main page: the panel's, its filters, on/off, and back to the list."""
    prefix = channel_prefix(channel)
    return [*_main_keys(view, lang, prefix),
            [_button(t("channels_filters", lang), "filters", prefix)],
            [switch_button(view.reader, lang, back_to_list=False)],
            [InlineKeyboardButton(t("channels_back", lang), callback_data=CHANNELS_LIST)]]


def panel(view: View, lang: str, page: str = "main", feeds_page: int = 0,
          channel: int | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of one page of the panel: main, time, tz, feeds, or the
    question of "Other…" (type_time, type_zone); for a channel (`channel`: its target id,
    which its buttons carry) also its filters and their question (filters, type_filters)."""
    reader, line = view.reader, settings_line(view, lang)
    prefix = _prefix(channel)
    if channel is not None:
        line = f"{t('channels_heading', lang, title=title_of(reader))}\n{line}"
    back = [_button(t("panel_back", lang), "main", prefix)]
    if page == "time":
        times = [_button(_mark(at == reader.digest_time, at), f"time:{at}", prefix)
                 for at in _choices(TIMES, reader.digest_time, ordered=True)]
        keys = [*_rows(times, 3), [_button(t("panel_other", lang), "time:other", prefix), *back]]
        return f"{line}\n\n{t('panel_pick_time', lang)}", InlineKeyboardMarkup(keys)
    if page == "tz":
        zones = [_button(_mark(zone == reader.timezone, zone), f"tz:{zone}", prefix)
                 for zone in _choices(ZONES, reader.timezone, ordered=False)]
        keys = [*_rows(zones, 2), [_button(t("panel_other", lang), "tz:other", prefix), *back]]
        return f"{line}\n\n{t('panel_pick_zone', lang)}", InlineKeyboardMarkup(keys)
    if page == "feeds":
        return (f"{line}\n\n{t('panel_pick_feeds', lang)}",
                InlineKeyboardMarkup(_feed_keys(view, lang, feeds_page, prefix)))
    if page in ("type_time", "type_zone"):
        question = t("panel_type_time" if page == "type_time" else "panel_type_zone", lang)
        up = [_button(t("panel_back", lang), "time" if page == "type_time" else "tz", prefix)]
        return f"{line}\n\n{question}", InlineKeyboardMarkup([up])
    if channel is not None and page == "filters":
        change = [_button(t("channels_filters_change", lang), "filters:other", prefix)]
        if reader.include or reader.exclude:
            change.append(_button(t("channels_filters_clear", lang), "filters:clear", prefix))
        return (f"{line}\n\n{filters_text(reader, lang)}",
                InlineKeyboardMarkup([change, back]))
    if channel is not None and page == "type_filters":
        up = [_button(t("panel_back", lang), "filters", prefix)]
        return (f"{line}\n\n{filters_text(reader, lang)}\n\n{t('channels_type_filters', lang)}",
                InlineKeyboardMarkup([up]))
    if channel is not None:
        return (f"{line}\n{filters_text(reader, lang)}",
                InlineKeyboardMarkup(_channel_main(view, lang, channel)))
    return line, InlineKeyboardMarkup(_main_keys(view, lang))


def welcome_keyboard(lang: str, zone: str | None) -> InlineKeyboardMarkup:
    """The welcome's buttons: confirm or change the guessed `zone` (when asking), and open
    the panel."""
    rows = [[_button(f"✅ {zone}", "tzok"), _button(t("panel_change", lang), "open:tz")]
            ] if zone else []
    return InlineKeyboardMarkup([*rows, [_button(t("panel_open", lang), "open:main")]])


async def _unchanged_is_fine(edit: Awaitable[object]) -> None:
    """Await an edit; Telegram's "message is not modified" means it already shows that."""
    try:
        await edit
    except BadRequest as exc:
        if not unchanged(exc):
            raise


# --- commands -----------------------------------------------------------------------------


async def _view(context: ContextTypes.DEFAULT_TYPE, chat: str, lang: str) -> View | None:
    return await asyncio.to_thread(load_view, state_of(context).db, chat, lang)


async def _reply_panel(update: Update, context: ContextTypes.DEFAULT_TYPE, page: str,
                       heading: str | None = None) -> None:
    """Send the panel at `page`; with `heading` (a text key), the current value it names
    is the text instead of the settings."""
    lang, chat = lang_of(update), chat_of(update)
    view = await _view(context, chat, lang)
    assert update.effective_message
    if view is None:  # no reader yet: the commands say how to start
        await update.effective_message.reply_text(help_text(lang))
        return
    text, keys = panel(view, lang, page)
    if heading is not None:
        reader = view.reader
        text = t(heading, lang, time=reader.digest_time, tz=reader.timezone,
                 langs=LANG_LABELS.get(reader.languages, reader.languages))
    await update.effective_message.reply_text(text, reply_markup=keys)


def _linked_story(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """The story a `/start story_<id>` deep link (from a channel post) opens a private chat
    about; None for a plain /start, and anywhere but in a private chat."""
    chat = update.effective_chat
    args = context.args or []
    if chat is None or chat.type != ChatType.PRIVATE or len(args) != 1:
        return None
    return story_start(args[0])


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Welcome the reader in their language and subscribe them; a new reader's time zone
    comes from their Telegram language, and the welcome asks once to confirm it. Through a
    story's deep link, the story follows the welcome (a reader known already gets the story
    alone, their deliveries left as they were)."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    user = update.effective_user
    existing = await asyncio.to_thread(find, state.db, chat)
    linked = _linked_story(update, context)
    if linked is not None and existing is not None:
        await story_from_link(update, context, linked)
        return
    if existing is None:  # a new reader starts in their interface language
        zone = zone_for_language(user.language_code if user else None)
        sub, _ = await asyncio.to_thread(partial(subscribe_reader, state.db, chat,
                                                 languages=lang, timezone=zone))
    else:  # /start again: resume, settings kept, nothing asked again
        sub, _ = await asyncio.to_thread(upsert, state.db, chat, active=True)
    # The gate could not store it before the reader existed: their digests speak it.
    await asyncio.to_thread(remember_interface, state.db, chat, lang)
    name = user.first_name if user else ""
    assert update.effective_message
    await update.effective_message.reply_text(
        t("welcome", lang, name=name, time=sub.digest_time, tz=sub.timezone),
        reply_markup=welcome_keyboard(lang, sub.timezone if existing is None else None))
    if linked is not None:
        await story_from_link(update, context, linked)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List every command, one line each."""
    user = update.effective_user
    admin = bool(user and user.id in state_of(context).settings.telegram.admins)
    assert update.effective_message
    await update.effective_message.reply_text(help_text(lang_of(update), admin))


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the settings panel."""
    await _reply_panel(update, context, "main")


async def _set(update: Update, context: ContextTypes.DEFAULT_TYPE, **values: Any) -> None:
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    await asyncio.to_thread(partial(upsert, state.db, chat, **values))
    view = await _view(context, chat, lang)
    assert update.effective_message and view is not None
    await update.effective_message.reply_text(f"{t('saved', lang)} {settings_line(view, lang)}")


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Resume deliveries."""
    await _set(update, context, active=True)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pause deliveries, keeping the settings."""
    state = state_of(context)
    await asyncio.to_thread(partial(upsert, state.db, chat_of(update), active=False))
    assert update.effective_message
    await update.effective_message.reply_text(t("unsubscribed", lang_of(update)))


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lang fr|en|both: the languages of the briefs; alone, the current ones and the panel."""
    value = " ".join(context.args or []).strip().lower()
    if not value:
        await _reply_panel(update, context, "main", "panel_current_lang")
        return
    try:
        chosen = check_languages(LANG_ALIASES.get(value, value))
    except BadInput:
        assert update.effective_message
        await update.effective_message.reply_text(t("panel_bad_lang", lang_of(update)))
        return
    await _set(update, context, languages=chosen)


async def time_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/time 7:30 (or 7h30): when the daily digest arrives; alone, the current time and the
    panel's times."""
    value = " ".join(context.args or [])
    if not value.strip():
        await _reply_panel(update, context, "time", "panel_current_time")
        return
    try:
        at = check_time(value)
    except BadInput:
        assert update.effective_message
        await update.effective_message.reply_text(t("panel_bad_time", lang_of(update),
                                                    value=value))
        return
    await _set(update, context, digest_time=at)


async def _bad_zone(update: Update, exc: UnknownTimezone) -> None:
    """Say the zone is unknown; offer the closest one as a button."""
    lang = lang_of(update)
    text = t("panel_bad_zone", lang, value=exc.value)
    keys = None
    if exc.suggestion:
        text += " " + t("panel_did_you_mean", lang, zone=exc.suggestion)
        keys = InlineKeyboardMarkup([[_button(f"✅ {exc.suggestion}", f"zone:{exc.suggestion}")]])
    assert update.effective_message
    await update.effective_message.reply_text(text, reply_markup=keys)


async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/timezone Europe/Paris (or a city: Paris): the reader's time zone; alone, the current
    zone and the panel's zones."""
    value = " ".join(context.args or [])
    if not value.strip():
        await _reply_panel(update, context, "tz", "panel_current_zone")
        return
    try:
        zone = match_timezone(value)
    except UnknownTimezone as exc:
        await _bad_zone(update, exc)
        return
    await _set(update, context, timezone=zone)


def _source_lines(db: Database, chat_id: str, lang: str) -> list[str]:
    view = load_view(db, chat_id, lang)
    if view is None:  # not a reader: the list without marks
        shown = [(FOLDER, t("panel_outside_feeds", lang))]
        shown += [(feed.id, feed.title or feed.url) for feed in working_feeds(db)]
        return [f"{number}. {name}" for number, name in shown]
    chosen = view.chosen
    return [f"{'✅' if n in chosen else '⬜'} {n}. {view.names[n]}" for n in view.shown]


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the sources that work now (the feeds without a current error, and 0: the
    articles from no feed), numbered for /follow and /unfollow, followed ones marked ✅."""
    lang = lang_of(update)
    lines = await asyncio.to_thread(_source_lines, state_of(context).db, chat_of(update), lang)
    if len(lines) == 1:  # only the folder: say there is no feed yet
        lines.append(t("no_feeds", lang))
    assert update.effective_message
    await update.effective_message.reply_text("\n".join(lines), disable_web_page_preview=True)


def _source_name(db: Database, number: int, lang: str) -> str:
    if number == FOLDER:
        return t("panel_outside_feeds", lang)
    return next((f.title or f.url for f in active_feeds(db) if f.id == number), str(number))


async def _follow(update: Update, context: ContextTypes.DEFAULT_TYPE, follow: bool) -> None:
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    assert update.effective_message
    args = context.args or []
    if not args or not args[0].isdigit():
        cmd = "follow" if follow else "unfollow"
        await update.effective_message.reply_text(t("feed_usage", lang, cmd=cmd))
        return
    number = int(args[0])
    outcome, _ = await asyncio.to_thread(change_follow, state.db, chat, number, follow)
    if outcome is Follow.UNKNOWN:
        await update.effective_message.reply_text(t("no_such_feed", lang, n=number))
        return
    name = await asyncio.to_thread(_source_name, state.db, number, lang)
    said = {Follow.FOLLOWED: "panel_now_following", Follow.ALREADY: "panel_already_following",
            Follow.UNFOLLOWED: "panel_unfollowed", Follow.NOT_FOLLOWED: "panel_not_following",
            Follow.NOTHING_LEFT: "panel_follows_nothing"}[outcome]
    text = t(said, lang, name=name)
    if outcome in (Follow.FOLLOWED, Follow.UNFOLLOWED):
        view = await _view(context, chat, lang)
        assert view is not None
        text += " " + settings_line(view, lang)
    await update.effective_message.reply_text(text)


async def follow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/follow N: also get the stories of source N (see /sources; by default, every one)."""
    await _follow(update, context, True)


async def unfollow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unfollow N: stop following source N, keeping every other one."""
    await _follow(update, context, False)


# --- the panel's buttons ------------------------------------------------------------------


async def _answer(query: CallbackQuery, note: str | None) -> None:
    try:
        await query.answer(note)
    except BadRequest:  # too old to answer: the reader's client has given up waiting
        log.debug("could not answer a callback query", exc_info=True)


def _waiting(context: ContextTypes.DEFAULT_TYPE) -> dict[Any, Any]:
    data = context.chat_data
    assert data is not None
    return data


async def _channel_address(context: ContextTypes.DEFAULT_TYPE, channel: int) -> str | None:
    target = await asyncio.to_thread(by_id, state_of(context).db, channel)
    return target.chat_id if target is not None else None


async def _stop_waiting(context: ContextTypes.DEFAULT_TYPE, chat: str, lang: str,
                        keep: int | None = None) -> None:
    """Forget a question of "Other…"; its panel, unless it is message `keep`, goes back to
    the main page so that it no longer asks."""
    waiting = _waiting(context).pop(WAITING, None)
    if waiting is None or waiting[1] == keep:
        return
    channel = waiting[2] if len(waiting) > 2 else None
    target = chat if channel is None else await _channel_address(context, channel)
    view = await _view(context, target, lang) if target is not None else None
    if view is None:
        return
    text, keys = panel(view, lang, channel=channel)
    try:
        await _unchanged_is_fine(context.bot.edit_message_text(
            text, chat_id=destination(chat)[0], message_id=waiting[1], reply_markup=keys))
    except BadRequest:  # the panel is gone or too old to edit: nothing asks any more
        log.debug("could not reset the settings panel", exc_info=True)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A panel button (`set:...`, or `chan:...` for a channel's) was pressed: save the
    choice and show it; always answer the callback query."""
    query = update.callback_query
    assert query is not None
    note: str | None = None
    data = query.data or ""
    try:
        if data.startswith(CHANNEL_PREFIX):
            note = await _channel_pressed(update, context, data)
        else:  # an old "lang:fr" reads as "set:lang:fr" once the prefix is dropped
            note = await _pressed(update, context, data.removeprefix(PREFIX), chat_of(update))
    finally:
        await _answer(query, note)


async def _channel_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE,
                           data: str) -> str | None:
    """A button of the list of channels or of a channel's panel, in a private chat, by
    someone Telegram says administers the channel now; else refused (the note says so)."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    assert query is not None and query.message is not None
    lang = lang_of(update)
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return t("channels_refused", lang)
    if data == CHANNELS_LIST:
        await _stop_waiting(context, chat_of(update), lang, keep=query.message.message_id)
        text, keys = await list_page(context, user.id, lang)
        await _unchanged_is_fine(query.edit_message_text(text, reply_markup=keys))
        return None
    parsed = channel_data(data)
    target = await channel_target(context, parsed[0], user.id) if parsed else None
    if parsed is None or target is None:
        return t("channels_refused", lang)
    return await _pressed(update, context, parsed[1], target.chat_id, channel=target.id)


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE, data: str, target: str,
                   channel: int | None = None) -> str | None:
    """Act on one button of the panel of `target` (the chat's own address, or the channel
    with target id `channel`); the note to answer with."""
    query = update.callback_query
    assert query is not None and query.message is not None
    state, lang, chat = state_of(context), lang_of(update), target
    kind, _, value = data.partition(":")
    await _stop_waiting(context, chat_of(update), lang, keep=query.message.message_id)
    if channel is not None and kind in ("open", "tzok", "zone"):
        return None  # the welcome's and /timezone's buttons: never a channel's
    if kind == "open":  # from the welcome: the panel as a message of its own
        page = "tz" if value == "tz" else "main"
        if page == "tz":  # "change": the question of the welcome is answered
            await _unchanged_is_fine(query.edit_message_reply_markup(welcome_keyboard(lang, None)))
        view = await _view(context, chat, lang)
        if view is not None:
            text, keys = panel(view, lang, page)
            await context.bot.send_message(chat, text, reply_markup=keys)
        return None
    if kind == "tzok":  # the guessed zone is right: it is saved already, stop asking
        await _unchanged_is_fine(query.edit_message_reply_markup(welcome_keyboard(lang, None)))
        return t("saved", lang)
    page, feeds_page, note, to_list = "main", 0, None, False
    change: dict[str, Any] = {}
    if kind == "lang" and value in LANG_LABELS:
        change = {"languages": value}
    elif kind in ("time", "tz") and value == "other":
        _waiting(context)[WAITING] = (kind, query.message.message_id, channel)
        page = "type_time" if kind == "time" else "type_zone"
    elif channel is not None and kind in ("on", "off") and value in ("", "list"):
        change, to_list = {"active": kind == "on"}, value == "list"
    elif channel is not None and kind == "filters" and value in ("", "other", "clear"):
        page = "filters"
        if value == "other":
            _waiting(context)[WAITING] = ("filters", query.message.message_id, channel)
            page = "type_filters"
        elif value == "clear":
            await asyncio.to_thread(change_filters, state.db, chat, FilterAction.CLEAR, [])
            note = t("saved", lang)
    elif kind == "sched" and value in SCHEDULES:  # once a day, or live (/schedule)
        change = {"schedule": value}
    elif kind == "time" and value:
        change = {"digest_time": check_time(value)}
    elif kind in ("tz", "zone") and value:
        change = {"timezone": match_timezone(value)}
    elif kind in ("time", "tz", "main") and not value:
        page = kind
    elif kind in ("feeds", "feed"):
        page = "feeds"
        number, _, at = value.partition(":") if kind == "feed" else ("", "", value)
        feeds_page = int(at) if at.isdigit() else 0
        if number.isdigit():
            note = await _toggle(context, chat, int(number), lang)
    else:
        return None  # a button of an older version of the bot: nothing to do
    if change:
        await asyncio.to_thread(partial(upsert, state.db, chat, **change))
        note = t("saved", lang)
    if to_list and update.effective_user is not None:  # a switch of the list of channels
        listed, list_keys = await list_page(context, update.effective_user.id, lang)
        await _unchanged_is_fine(query.edit_message_text(listed, reply_markup=list_keys))
        return note
    view = await _view(context, chat, lang)
    if view is None:
        return None
    if kind == "zone":  # the suggestion of an unknown zone: answered, the panel elsewhere
        text = f"{t('saved', lang)} {settings_line(view, lang)}"
        await _unchanged_is_fine(query.edit_message_text(text))
        return note
    text, keys = panel(view, lang, page, feeds_page, channel)
    await _unchanged_is_fine(query.edit_message_text(text, reply_markup=keys))
    return note


async def _toggle(context: ContextTypes.DEFAULT_TYPE, chat: str, number: int,
                  lang: str) -> str | None:
    """Follow source `number` if not followed, else unfollow it; the note to answer with."""
    db = state_of(context).db

    def toggle() -> Follow:
        reader = find(db, chat)
        available = all_sources(db)
        on = reader is not None and number in followed(reader.feeds, available)
        return change_follow(db, chat, number, not on)[0]

    outcome = await asyncio.to_thread(toggle)
    if outcome is Follow.NOTHING_LEFT:
        return t("panel_follows_nothing", lang)
    return None if outcome is Follow.UNKNOWN else t("saved", lang)


# --- "Other…": the value typed after the question -----------------------------------------


class AwaitingSetting(filters.MessageFilter):
    """Messages of chats whose panel asked for a time or a zone ("Other…")."""

    def __init__(self, chat_data: Mapping[int, Mapping[Any, Any]]) -> None:
        super().__init__(name="AwaitingSetting")
        self._chat_data = chat_data

    def filter(self, message: Message) -> bool:
        """Whether this message's chat is asked for a value."""
        return WAITING in self._chat_data.get(message.chat_id, {})


def _filters_saved(change: FilterChange, reader: Subscriber, lang: str) -> str:
    text = f"{t('saved', lang)} {filters_text(reader, lang)}"
    if change.refused:
        text = t("filters_refused", lang, words=MAX_PHRASE_WORDS, limit=MAX_PHRASES,
                 phrases=", ".join(change.refused)) + "\n" + text
    return text


async def typed_setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The text answering "Other…" (or a channel's "✏️ Change" of its filters): save it as
    the time, the zone or the filters, or say why not (and keep asking). A channel's is
    saved only while Telegram says the sender administers it."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    message = update.effective_message
    waiting = _waiting(context).get(WAITING)
    if message is None or waiting is None:
        return
    shown_in, channel = chat, (waiting[2] if len(waiting) > 2 else None)
    if channel is not None:
        user = update.effective_user
        found = await channel_target(context, channel, user.id) if user else None
        if found is None:
            _waiting(context).pop(WAITING, None)
            await message.reply_text(t("channels_refused", lang))
            return
        chat = found.chat_id
    typed = message.text or ""
    if waiting[0] == "filters":
        asked = parse_filters(typed)
        if asked is None:
            await message.reply_text(t("channels_bad_filters", lang))
            return
        done = await asyncio.to_thread(change_filters, state.db, chat, *asked)
        await _stop_waiting(context, shown_in, lang)
        reader = await asyncio.to_thread(find, state.db, chat)
        assert reader is not None
        await message.reply_text(_filters_saved(done, reader, lang))
        return
    change: dict[str, Any]
    try:
        change = ({"digest_time": check_time(typed)} if waiting[0] == "time"
                  else {"timezone": match_timezone(typed)})
    except UnknownTimezone as exc:
        await _bad_zone(update, exc)
        return
    except BadInput:
        await message.reply_text(t("panel_bad_time", lang, value=typed))
        return
    await asyncio.to_thread(partial(upsert, state.db, chat, **change))
    await _stop_waiting(context, shown_in, lang)  # the panel shows the new value
    view = await _view(context, chat, lang)
    assert view is not None
    heading = f"{t('channels_heading', lang, title=title_of(view.reader))} " if channel else ""
    await message.reply_text(f"{t('saved', lang)} {heading}{settings_line(view, lang)}")


async def cancel_typed_setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command while "Other…" asks: the question is dropped (the command runs as usual)."""
    await _stop_waiting(context, chat_of(update), lang_of(update))

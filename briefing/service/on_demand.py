"""What readers ask for now rather than at their digest time: a page summarised on demand,
the latest stories, the digest so far, the stories a digest left out. The bot calls these
(in threads: they block) and renders what they return.

A page is summarised in two steps, so that the bot can spend a reader's quota only on
what costs something: `fetch_page` fetches and stores it (a page already stored under that
URL is not fetched again: its story is taken from the store), and `brief_page` briefs its
story when it needs it. A page whose story is briefed already is served from the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from briefing.briefs.engines.select import select_engine
from briefing.config import Settings
from briefing.errors import ExtractionError
from briefing.service.articles import store_article
from briefing.service.digests import (
    Digest,
    compose_digest,
    filters_of,
    languages_of,
    load_digest,
    local_zone,
)
from briefing.service.summaries import summarise_story
from briefing.sources.load import fetch_article
from briefing.store.articles import story_of_url
from briefing.store.db import Database
from briefing.store.deliveries import load_delivery, record_message, replied_stories
from briefing.store.llm_calls import CallLog
from briefing.store.stories import latest_briefed, needs_brief
from briefing.store.subscribers import find, mark_digest

# The stories a digest asked for now left out are remembered as the "message -> stories" of
# its last message, under the chat id with this suffix: a chat of their own, so that no
# question about "the last message sent here" ever lands on stories the reader did not see.
LEFT_OUT_CHAT = ":left-out"


def page_known(db: Database, url: str) -> bool:
    """Whether a page with this URL is stored already (its story may be briefed)."""
    return story_of_url(db, url) is not None


def fetch_page(db: Database, url: str, settings: Settings, now: datetime) -> tuple[int, bool]:
    """Fetch and store a page; its story id, and whether that story needs a brief (none
    yet, or a source joined since its last one). A page stored under this URL is not
    fetched again."""
    known = story_of_url(db, url)
    if known is not None:
        return known, needs_brief(db, known)
    extracted = fetch_article(url, settings.fetch)
    stored = store_article(db, extracted, now, url=extracted.url)
    if stored.story_id is None:
        raise ExtractionError(f"{url}: could not be stored")
    return stored.story_id, needs_brief(db, stored.story_id)


def brief_page(db: Database, story_id: int, settings: Settings, now: datetime) -> None:
    """Brief a stored page's story (the offline engine if the LLM fails)."""
    engine = select_engine(settings, cache=CallLog(db))
    summarise_story(db, story_id, engine, settings, fallback=True, clock=lambda: now)


def reader_languages(db: Database, chat_id: str, default: str) -> tuple[str, ...]:
    """The brief languages of a reader (their setting, else their interface language)."""
    reader = find(db, chat_id)
    return languages_of(reader.languages if reader else default)


def reader_zone(db: Database, chat_id: str) -> ZoneInfo | None:
    """The reader's time zone, None when they have none (not subscribed)."""
    reader = find(db, chat_id)
    return local_zone(reader.timezone) if reader else None


def stories_now(db: Database, story_ids: Sequence[int], languages: tuple[str, ...],
                now: datetime) -> Digest:
    """These stories' current briefs in the reader's languages (withheld ones left out)."""
    return load_digest(db, now.date(), languages, story_ids)


def latest(db: Database, n: int, languages: tuple[str, ...], now: datetime) -> Digest:
    """The `n` most recent stories that may be read."""
    return stories_now(db, latest_briefed(db, n), languages, now)


def digest_now(db: Database, chat_id: str, now: datetime, settings: Settings,
               default: str) -> Digest:
    """A digest for this reader now, for their local day, speaking `default` (their
    interface language): what is new since their last one (or a day), the stories beyond
    the limit in `more`; the next digest covers from now."""
    reader = find(db, chat_id)
    since = reader.last_digest_at if reader and reader.last_digest_at else now - timedelta(days=1)
    languages = languages_of(reader.languages if reader else default)
    items, more = compose_digest(db, since, languages, reader.feeds if reader else (),
                                 settings.service.digest_max_stories, filters_of(reader))
    if reader is not None and items:
        mark_digest(db, chat_id, now)
    day = now.astimezone(local_zone(reader.timezone if reader else "UTC")).date()
    return Digest(day, languages, tuple(items), more=more, interface=default)


def remember_left_out(db: Database, chat_id: str, message_id: str,
                      story_ids: Sequence[int]) -> None:
    """Remember the stories a digest sent now left out, by the message offering them."""
    record_message(db, chat_id + LEFT_OUT_CHAT, message_id, story_ids)


def left_out(db: Database, chat_id: str, message_id: str, delivery_id: int | None) -> list[int]:
    """The stories a digest left out, by its outbox row (a digest queued and delivered) or
    by the message offering them (a digest sent now); [] when they are not this chat's."""
    if delivery_id is None:
        return replied_stories(db, chat_id + LEFT_OUT_CHAT, message_id)
    delivery = load_delivery(db, delivery_id)
    if delivery.chat_id != chat_id:  # a button of another chat's digest: nothing to show
        return []
    shown = {story for part in delivery.sent for story in part}
    return [story for story in delivery.story_ids if story not in shown]

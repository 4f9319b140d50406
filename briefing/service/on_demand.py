"""What readers ask for now rather than at their digest time: a page summarised on demand,
the latest stories, the digest so far. The bot calls these (in threads: they block) and
renders what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from briefing.briefs.engines.select import select_engine
from briefing.config import Settings
from briefing.errors import ExtractionError
from briefing.service.articles import store_article
from briefing.service.digests import Digest, compose, languages_of, load_digest
from briefing.service.summaries import summarise_story
from briefing.sources.load import fetch_article
from briefing.store.db import Database
from briefing.store.llm_calls import CallLog
from briefing.store.stories import latest_briefed, needs_brief
from briefing.store.subscribers import find, mark_digest


def summarise_url(db: Database, url: str, settings: Settings, now: datetime) -> int:
    """Fetch, store and summarise a page; returns its story id (a known page's story is
    reused, and briefed again only when a source joined since)."""
    extracted = fetch_article(url, settings.fetch)
    stored = store_article(db, extracted, now, url=extracted.url)
    if stored.story_id is None:
        raise ExtractionError(f"{url}: could not be stored")
    if needs_brief(db, stored.story_id):
        engine = select_engine(settings, cache=CallLog(db))
        summarise_story(db, stored.story_id, engine, settings, fallback=True,
                        clock=lambda: now)
    return stored.story_id


def reader_languages(db: Database, chat_id: str, default: str) -> tuple[str, ...]:
    """The brief languages of a reader (their setting, else their interface language)."""
    reader = find(db, chat_id)
    return languages_of(reader.languages if reader else default)


def stories_now(db: Database, story_ids: Sequence[int], languages: tuple[str, ...],
                now: datetime) -> Digest:
    """These stories' current briefs in the reader's languages (withheld ones left out)."""
    return load_digest(db, now.date(), languages, story_ids)


def latest(db: Database, n: int, languages: tuple[str, ...], now: datetime) -> Digest:
    """The `n` most recent stories that may be read."""
    return stories_now(db, latest_briefed(db, n), languages, now)


def digest_now(db: Database, chat_id: str, now: datetime, settings: Settings,
               default: str) -> Digest:
    """A digest for this reader now: what is new since their last one (or a day); the next
    digest covers from now."""
    reader = find(db, chat_id)
    since = reader.last_digest_at if reader and reader.last_digest_at else now - timedelta(days=1)
    languages = languages_of(reader.languages if reader else default)
    items = compose(db, since, languages, reader.feeds if reader else (),
                    settings.service.digest_max_stories)
    if reader is not None and items:
        mark_digest(db, chat_id, now)
    return Digest(now.date(), languages, tuple(items))

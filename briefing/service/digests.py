"""Daily digests: which stories a reader gets, and when.

A digest holds the stories that got a new brief since the reader's last digest
(they reached the service, gained a source or were summarised again: see
`Story.briefed_at`) and are not withheld, from the feeds they follow (all by
default), in their language(s), best-sourced first, then newest, at most
`service.digest_max_stories`; an empty period sends nothing. The publication
date orders and labels stories but never hides one: a story published at 06:20
that arrives at 06:32 is in the digest after 06:32, whatever its date says.
A digest is due at the reader's local time; one missed while the service was
down is still sent within `service.digest_grace_hours`, and never twice: the
outbox key is the reader and their local date.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from briefing.config import Settings
from briefing.render.labels import briefs_once, own_name, untranslated_label
from briefing.store.db import Database
from briefing.store.models import (
    PENDING,
    ArticleRow,
    BriefRow,
    DeliveryRow,
    StoryRow,
    SubscriberRow,
)

log = logging.getLogger(__name__)
SKIPPED = "skipped"  # a due digest with nothing to say: remembered so it is not recomputed
LANGUAGES = {"fr": ("fr",), "en": ("en",), "both": ("fr", "en")}


@dataclass(frozen=True)
class DigestItem:
    """One story of a digest, in the reader's language(s)."""

    story_id: int
    briefs: tuple[dict[str, Any], ...]  # per language: headline, points, quotes, language
    sources: tuple[tuple[str, str | None], ...]  # (outlet or title, url)
    published: datetime | None
    source_details: tuple[dict[str, Any], ...] = ()  # id (S1...), outlet, title, url


def languages_of(setting: str) -> tuple[str, ...]:
    """The brief languages for a reader's setting: fr, en or both."""
    return LANGUAGES.get(setting, ("fr", "en"))


def _story_rows(session: Session, since: datetime, feeds: list[int], limit: int) -> list[Any]:
    """The stories briefed after `since` (arrival, not publication) and not withheld."""
    # The ids come from a range of ix_stories_briefed_at in a subquery of their own: joined
    # directly, SQLite (no ANALYZE) prefers scanning every story to grouping by id after the
    # range, and that scan would grow with the store's history.
    arrived = aliased(StoryRow)
    recent = select(arrived.id).where(arrived.briefed_at > since, arrived.withheld.is_(None))
    sources = func.count(func.distinct(ArticleRow.id)).label("sources")
    query = (
        select(StoryRow.id, StoryRow.last_published, sources)
        .join(ArticleRow, ArticleRow.story_id == StoryRow.id)
        .where(StoryRow.id.in_(recent))
        .group_by(StoryRow.id, StoryRow.last_published)
        .order_by(sources.desc(), StoryRow.last_published.desc(), StoryRow.id.desc())
        .limit(limit)
    )
    if feeds:
        query = query.where(ArticleRow.feed_id.in_(feeds))
    return list(session.execute(query))


def _label(row: Any) -> str:
    """Outlet, else title, else the file name of a folder article."""
    return str(row.outlet or row.title or (row.path or "source").rsplit("/", 1)[-1])


def _brief_dict(brief: BriefRow) -> dict[str, Any]:
    return {"language": brief.language, "headline": brief.headline,
            "points": list(brief.points), "quotes": list(brief.quotes[:1]),
            "original_language": brief.original_language}


def compose(
    session: Session, since: datetime, languages: tuple[str, ...], feeds: list[int], limit: int
) -> list[DigestItem]:
    """The stories of a digest, in order."""
    rows = _story_rows(session, since, feeds, limit)
    ids = [row.id for row in rows]
    briefs = session.scalars(
        select(BriefRow).where(BriefRow.story_id.in_(ids), BriefRow.language.in_(languages))
    ).all()
    by_story: dict[int, list[BriefRow]] = {}
    for brief in briefs:
        by_story.setdefault(brief.story_id, []).append(brief)
    articles = session.execute(
        select(ArticleRow.story_id, ArticleRow.outlet, ArticleRow.title, ArticleRow.url,
               ArticleRow.path)
        .where(ArticleRow.story_id.in_(ids)).order_by(ArticleRow.id)
    ).all()
    items = []
    for row in rows:
        found = sorted(by_story.get(row.id, []), key=lambda b: languages.index(b.language))
        members = [a for a in articles if a.story_id == row.id]
        details = tuple({"id": f"S{i}", "outlet": _label(a), "title": a.title, "url": a.url}
                        for i, a in enumerate(members, start=1))
        links = tuple((_label(a), a.url) for a in members)
        if found:
            items.append(DigestItem(row.id, tuple(_brief_dict(b) for b in found), links,
                                    row.last_published, details))
    return items


def local_zone(name: str) -> ZoneInfo:
    """The reader's time zone (UTC when the stored name is unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def due_date(subscriber: SubscriberRow, now: datetime, grace: timedelta) -> date | None:
    """The local date whose digest is due now for this reader, if any."""
    local_now = now.astimezone(local_zone(subscriber.timezone))
    hour, minute = (int(x) for x in subscriber.digest_time.split(":"))
    for day in (local_now.date(), local_now.date() - timedelta(days=1)):
        at = datetime.combine(day, time(hour, minute), tzinfo=local_now.tzinfo)
        if at <= local_now <= at + grace:
            return day
    return None


def digest_key(subscriber_id: int, day: date) -> str:
    """The outbox key of a reader's digest for one local date."""
    return f"digest:{subscriber_id}:{day.isoformat()}"


Part = dict[str, Any]  # {"text": message, "stories": [story ids it covers]}
Renderer = Callable[[list[DigestItem], date, tuple[str, ...]], list[Part]]


def render_text(items: list[DigestItem], day: date, languages: tuple[str, ...] = ()) -> list[Part]:
    """Plain-text parts of a digest, one per story, for the console and file channels."""
    parts: list[Part] = [{"text": f"Briefing — {day.isoformat()}", "stories": []}]
    for number, item in enumerate(items, start=1):
        lines = []
        for brief, original in briefs_once(item.briefs):
            tag = own_name(brief["language"])
            if original is not None:  # the sources' brief, offline: said in the reader's words
                tag += f", {untranslated_label(original, brief['language'])}"
            lines.append(f"{number}. [{tag}] {brief['headline']}")
            lines += [f"   • {point}" for point in brief["points"]]
            for quote in brief["quotes"]:
                lines.append(f"   « {quote['text']} »")
                if quote.get("translation"):
                    lines.append(f"     (translation: {quote['translation']})")
                elif quote.get("untranslated") and original is None:
                    lines.append("     (quote not translated)")
        lines += [f"   — {name}{f' {url}' if url else ''}" for name, url in item.sources]
        parts.append({"text": "\n".join(lines), "stories": [item.story_id]})
    return parts


def _queue(session: Session, sub: SubscriberRow, day: date, now: datetime,
           settings: Settings, render: Renderer) -> bool:
    since = sub.last_digest_at or now - timedelta(days=1)
    items = compose(session, since, languages_of(sub.languages), list(sub.feeds or []),
                    settings.service.digest_max_stories)
    key = digest_key(sub.id, day)
    if not items:
        session.add(DeliveryRow(key=key, subscriber_id=sub.id, kind="digest", payload=[],
                             state=SKIPPED))
        return False
    session.add(DeliveryRow(key=key, subscriber_id=sub.id, kind="digest",
                         story_ids=[i.story_id for i in items],
                         payload=render(items, day, languages_of(sub.languages)),
                         state=PENDING))
    sub.last_digest_at = now
    return True


def schedule_digests(db: Database, now: datetime, settings: Settings,
                     render: Renderer = render_text) -> int:
    """Queue in the outbox every digest that is due now, rendered for the channel."""
    grace = timedelta(hours=settings.service.digest_grace_hours)
    queued = 0
    with db.session() as session:
        subscribers = session.scalars(select(SubscriberRow).where(SubscriberRow.active)).all()
        done = set(session.scalars(select(DeliveryRow.key).where(DeliveryRow.kind == "digest",
                                                            DeliveryRow.created_at > now
                                                            - timedelta(days=2))))
        for sub in subscribers:
            day = due_date(sub, now, grace)
            if day is not None and digest_key(sub.id, day) not in done:
                queued += _queue(session, sub, day, now, settings, render)
    return queued

"""Queries of digest selection: the stories briefed since a reader's last digest, and the
briefs and articles a digest shows of them.

Selection follows arrival (`StoryRow.briefed_at`), never publication, and leaves out
withheld stories. The same stories are read again at delivery (`briefed_stories`), so a
queued digest shows the briefs as they are when it goes out.

A digest pass queues its rows here too (`queue_digest_rows`): the rows of
`briefing.store.deliveries.queue_digests`, written by batches, for the hundred thousand
targets a pass may have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from briefing.briefs.models import Brief, Point, Quote, Support
from briefing.store.db import Database
from briefing.store.deliveries import DIGEST, SKIPPED, NewDigest
from briefing.store.models import (
    PENDING,
    ArticleRow,
    BriefRow,
    DeliveryRow,
    StoryRow,
    SubscriberRow,
)
from briefing.store.subscribers import FOLDER, NOTHING


@dataclass(frozen=True)
class StoryPick:
    """One story a digest selection picked, with what orders it."""

    id: int
    last_published: datetime | None
    sources: int


@dataclass(frozen=True)
class DigestArticle:
    """What a digest shows of one source article."""

    outlet: str | None
    title: str | None
    url: str | None
    path: str | None


@dataclass(frozen=True)
class BriefedStory:
    """A story as a digest reads it: its briefs in the languages asked (in that order) and
    its articles in arrival order (the order that numbers them S1, S2, ...)."""

    story_id: int
    published: datetime | None
    briefs: tuple[Brief, ...]
    articles: tuple[DigestArticle, ...]


def quote_of(data: dict[str, Any]) -> Quote:
    """A stored quote (a JSON object of `BriefRow.quotes`) as a checked `Quote`."""
    # Rows written before `untranslated` existed lack it (and tests store minimal quotes).
    return Quote(text=str(data["text"]), source=str(data["source"]),
                 start=int(data.get("start", 0)), end=int(data.get("end", 0)),
                 translation=data.get("translation"),
                 untranslated=bool(data.get("untranslated", False)))


def point_of(data: Any) -> Point:
    """A stored point (an item of `BriefRow.points`) as a checked `Point`."""
    if isinstance(data, str):  # stored before points carried their support: none to show
        return Point(data, ())
    return Point(str(data["text"]), tuple(
        Support(str(s["source"]), int(s["sentence"]), int(s["start"]), int(s["end"]),
                str(s["text"])) for s in data.get("support", ())))


def _brief(language: str, headline: str, points: Sequence[Any],
           quotes: Sequence[dict[str, Any]], original_language: str | None) -> Brief:
    return Brief(language=language, headline=headline, points=tuple(point_of(p) for p in points),
                 quotes=tuple(quote_of(q) for q in quotes), original_language=original_language)


def _story_query(by_feed: bool, folder: bool) -> Select[int, datetime | None, int]:
    """The selection of `story_rows`, with bound parameters (built once, see `_QUERIES`):
    every source when neither is set, else articles of the `feeds` bound (`by_feed`) and/or
    articles from no feed (`folder`)."""
    # The ids come from a range of ix_stories_briefed_at in a subquery of their own: joined
    # directly, SQLite (no ANALYZE) prefers scanning every story to grouping by id after the
    # range, and that scan would grow with the store's history.
    arrived = aliased(StoryRow)
    recent = select(arrived.id).where(arrived.briefed_at > bindparam("since"),
                                      arrived.withheld.is_(None))
    sources = func.count(func.distinct(ArticleRow.id)).label("sources")
    query = (
        select(StoryRow.id, StoryRow.last_published, sources)
        .join(ArticleRow, ArticleRow.story_id == StoryRow.id)
        .where(StoryRow.id.in_(recent))
        .group_by(StoryRow.id, StoryRow.last_published)
        .order_by(sources.desc(), StoryRow.last_published.desc(), StoryRow.id.desc())
        .limit(bindparam("limit"))
    )
    followed = ([ArticleRow.feed_id.in_(bindparam("feeds", expanding=True))] if by_feed else [])
    followed += [ArticleRow.feed_id.is_(None)] if folder else []
    if followed:
        query = query.where(or_(*followed))
    return query


def _queries() -> dict[str, Any]:
    return {
        "all feeds": _story_query(by_feed=False, folder=False),
        "some feeds": _story_query(by_feed=True, folder=False),
        "some feeds and folder": _story_query(by_feed=True, folder=True),
        "folder": _story_query(by_feed=False, folder=True),
        "briefs": select(BriefRow.story_id, BriefRow.language, BriefRow.headline,
                         BriefRow.points, BriefRow.quotes, BriefRow.original_language)
        .where(BriefRow.story_id.in_(bindparam("ids", expanding=True)),
               BriefRow.language.in_(bindparam("languages", expanding=True))),
        "articles": select(ArticleRow.story_id, ArticleRow.outlet, ArticleRow.title,
                           ArticleRow.url, ArticleRow.path)
        .where(ArticleRow.story_id.in_(bindparam("ids", expanding=True)))
        .order_by(ArticleRow.id),
        "stories": select(StoryRow.id, StoryRow.last_published)
        .where(StoryRow.id.in_(bindparam("ids", expanding=True)), StoryRow.withheld.is_(None)),
        "texts: stories": select(StoryRow.id, StoryRow.title)
        .where(StoryRow.id.in_(bindparam("ids", expanding=True))),
        "texts: articles": select(ArticleRow.story_id, ArticleRow.title)
        .where(ArticleRow.story_id.in_(bindparam("ids", expanding=True))),
        "texts: briefs": select(BriefRow.story_id, BriefRow.headline, BriefRow.points)
        .where(BriefRow.story_id.in_(bindparam("ids", expanding=True))),
    }


# Stories a filtered digest looks through for the ones its filters keep: a day of a busy
# newsroom's stories; older ones would not be in the digest anyway.
FILTER_CANDIDATES = 500
# Built once: every reader's digest runs the same statements, and building a statement
# cost more than running it (a digest pass composes a thousand of them).
_QUERIES = _queries()


def story_rows(conn: Connection, since: datetime, feeds: Sequence[int],
               limit: int) -> list[StoryPick]:
    """The stories briefed after `since` (arrival, not publication) and not withheld, from
    the sources a reader follows (`Subscriber.feeds`: every source when empty; else these
    feed ids, `FOLDER` for articles from no feed; nothing for `(NOTHING,)`), best-sourced
    first, then newest."""
    params: dict[str, Any] = {"since": since, "limit": limit}
    ids = [f for f in feeds if f > FOLDER]
    folder = FOLDER in feeds
    if not feeds:
        key = "all feeds"
    elif ids:
        key, params["feeds"] = ("some feeds and folder" if folder else "some feeds"), ids
    elif folder:
        key = "folder"
    else:  # NOTHING (or only ids that cannot be feeds): the reader follows no source
        return []
    rows = conn.execute(_QUERIES[key], params)
    return [StoryPick(row.id, row.last_published, int(row.sources)) for row in rows]


def _briefed(conn: Connection, picks: Sequence[tuple[int, datetime | None]],
             languages: Sequence[str]) -> list[BriefedStory]:
    """The briefs and articles of these stories, in the order given; a story without a
    brief in any of the languages is left out."""
    ids = [story_id for story_id, _ in picks]
    # Columns on a plain connection, not ORM entities in a session: a digest pass reads
    # thousands of briefs, and tracking them cost more than the queries themselves.
    by_story: dict[int, dict[str, Brief]] = {}
    for row in conn.execute(_QUERIES["briefs"], {"ids": ids, "languages": list(languages)}):
        by_story.setdefault(row.story_id, {})[row.language] = _brief(
            row.language, row.headline, row.points, row.quotes, row.original_language)
    articles: dict[int, list[DigestArticle]] = {}
    for row in conn.execute(_QUERIES["articles"], {"ids": ids}):
        articles.setdefault(row.story_id, []).append(
            DigestArticle(row.outlet, row.title, row.url, row.path))
    stories = []
    for story_id, published in picks:
        briefs = by_story.get(story_id, {})
        found = tuple(briefs[lang] for lang in languages if lang in briefs)
        if found:
            stories.append(BriefedStory(story_id, published, found,
                                        tuple(articles.get(story_id, []))))
    return stories


def briefed_since(db: Database, since: datetime, languages: Sequence[str],
                  feeds: Sequence[int], limit: int) -> list[BriefedStory]:
    """The stories of a digest covering what was briefed after `since`, in digest order."""
    with db.reading() as conn:
        picks = story_rows(conn, since, feeds, limit)
        return _briefed(conn, [(p.id, p.last_published) for p in picks], languages)


def briefed_stories(db: Database, story_ids: Sequence[int],
                    languages: Sequence[str]) -> list[BriefedStory]:
    """These stories as they are now, in the order given (a queued digest at delivery);
    a story gone, withheld since, or without a brief in the languages is left out."""
    with db.reading() as conn:
        rows = conn.execute(_QUERIES["stories"], {"ids": list(story_ids)}).all()
        published = {row.id: row.last_published for row in rows}
        picks = [(i, published[i]) for i in story_ids if i in published]
        return _briefed(conn, picks, languages)


def _texts(conn: Connection, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """What keyword filters read of each story: its title, its articles' titles, and the
    headline and points of its briefs in every language."""
    texts: dict[int, list[str]] = {i: [] for i in story_ids}
    for row in conn.execute(_QUERIES["texts: stories"], {"ids": list(story_ids)}):
        texts[row.id].append(row.title or "")
    for row in conn.execute(_QUERIES["texts: articles"], {"ids": list(story_ids)}):
        texts[row.story_id].append(row.title or "")
    for row in conn.execute(_QUERIES["texts: briefs"], {"ids": list(story_ids)}):
        texts[row.story_id] += [row.headline, *(point_of(p).text for p in row.points)]
    return texts


def briefed_and_left_out(db: Database, since: datetime, languages: Sequence[str],
                         feeds: Sequence[int], limit: int, beyond: int,
                         keep: Callable[[Sequence[str]], bool] | None = None,
                         ) -> tuple[list[BriefedStory], list[int]]:
    """`briefed_since`, and the ids of up to `beyond` stories the limit left out, in digest
    order (their count is what a digest says it stops short of). With `keep`, only the
    stories whose text it keeps (`_texts`), among the first `FILTER_CANDIDATES`."""
    # One selection for both: the stories are sorted whole to take the first `limit`, so
    # reading `beyond` more rows of that sort costs next to nothing, unlike a count of its own.
    with db.reading() as conn:
        if keep is None:
            picks = story_rows(conn, since, feeds, limit + beyond)
        else:
            candidates = story_rows(conn, since, feeds, FILTER_CANDIDATES)
            texts = _texts(conn, [p.id for p in candidates])
            picks = [p for p in candidates if keep(texts[p.id])][:limit + beyond]
        shown = _briefed(conn, [(p.id, p.last_published) for p in picks[:limit]], languages)
        return shown, [p.id for p in picks[limit:]]


def followed(feeds: Sequence[int]) -> tuple[int, ...]:
    """`Subscriber.feeds` in the one spelling that says which stories `story_rows` selects:
    `()` for every source; else the feed ids and `FOLDER`, sorted, each once; `(NOTHING,)`
    when no source is left. Two targets whose `followed` is equal get the same stories, so
    a digest pass composes once for both (`(3, 1, 3)` and `(1, 3)` read the same feeds)."""
    if not feeds:
        return ()
    # What `story_rows` reads: ids above FOLDER, and FOLDER itself; anything lower is none.
    return tuple(sorted({f for f in feeds if f >= FOLDER})) or (NOTHING,)


# Outbox rows written by one INSERT (and last digests moved by one UPDATE): few enough for
# every driver's parameter limit (PostgreSQL's is 65,535 per statement).
QUEUE_BATCH = 1000


def queue_digest_rows(db: Database, digests: Sequence[NewDigest], now: datetime,
                      batch: int = QUEUE_BATCH) -> int:
    """`queue_digests` for a whole digest pass: the same rows, one statement per `batch`
    rows instead of one per row. In one transaction: a key already queued is left alone
    (each key once), a digest with stories is PENDING and moves its target's
    `last_digest_at` to `now`, one without is SKIPPED. Returns how many have stories."""
    if not digests:
        return 0
    queued = 0
    with db.session() as session:
        conn = session.connection()
        seen: set[str] = set()
        for start in range(0, len(digests), batch):
            chunk = digests[start:start + batch]
            known = set(conn.scalars(select(DeliveryRow.key).where(
                DeliveryRow.key.in_([d.key for d in chunk]))))
            fresh = []
            for digest in chunk:
                if digest.key not in known and digest.key not in seen:
                    seen.add(digest.key)
                    fresh.append(digest)
            if not fresh:
                continue
            # Core, not ORM objects: a pass queues a row per due target (100,000 of them),
            # and tracking each as an entity cost more than writing it.
            conn.execute(insert(DeliveryRow), [
                {"key": d.key, "subscriber_id": d.subscriber_id, "kind": DIGEST, "day": d.day,
                 "languages": list(d.languages), "story_ids": list(d.story_ids),
                 "state": PENDING if d.story_ids else SKIPPED} for d in fresh])
            moved = [d.subscriber_id for d in fresh if d.story_ids]
            if moved:
                conn.execute(update(SubscriberRow).where(SubscriberRow.id.in_(moved))
                             .values(last_digest_at=now))
                queued += len(moved)
    return queued

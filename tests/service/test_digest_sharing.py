"""Digests and live candidates composed once per setting: every target gets, row for row,
what its own composition would give it, and a pass composes once per distinct setting."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from briefing.config import Settings
from briefing.service.digests import digest_for, due_targets, schedule_digests
from briefing.service.live import posts_for, schedule_live
from briefing.store.db import Database
from briefing.store.models import (
    ArticleRow,
    BriefRow,
    DeliveryRow,
    FeedRow,
    StoryRow,
    SubscriberRow,
)
from briefing.store.subscribers import FOLDER, NOTHING, all_subscribers
from tests.conftest import service_settings

NOW = datetime(2026, 1, 15, 6, 35, tzinfo=UTC)  # 07:35 in Paris, 15:35 in Tokyo
TODAY = date(2026, 1, 15)


def add_story(db: Database, title: str, sources: int, hours_ago: float, feed: int | None, *,
              languages: tuple[str, ...] = ("fr", "en"), withheld: str | None = None,
              version: int | None = None) -> int:
    """A story briefed `hours_ago`, its articles from `feed` (None: the folder), with briefs
    in `languages` whose headline is its title (what filters read)."""
    at = NOW - timedelta(hours=hours_ago)
    with db.session() as session:
        story = StoryRow(title=title, first_published=at, last_published=at,
                         version=version or sources, summarised_version=version or sources,
                         briefed_at=at, withheld=withheld, created_at=at)
        session.add(story)
        session.flush()
        for i in range(sources):
            session.add(ArticleRow(content_hash=f"{title}-{i}", title=f"{title} {i}",
                                   outlet=f"Outlet {i}", url=f"https://news.example/{story.id}/{i}",
                                   text="texte", language="fr", story_id=story.id, feed_id=feed,
                                   published=at, published_text=at.isoformat()))
        for lang in languages:
            session.add(BriefRow(story_id=story.id, language=lang, story_version=sources,
                                 headline=f"{title} ({lang})", points=[f"point {lang}"],
                                 quotes=[], engine="extractive", model=None, usage={},
                                 citations={}))
        return story.id


@dataclass(frozen=True)
class Newsroom:
    feed_a: int
    feed_b: int
    stories: dict[str, int]


def newsroom(db: Database) -> Newsroom:
    """Two feeds and the folder; stories over two days, some in one language only, one
    withheld, titles that filters on "énergie", "energy" and "football" tell apart."""
    with db.session() as session:
        feeds = [FeedRow(url="https://a.example/rss"), FeedRow(url="https://b.example/rss")]
        session.add_all(feeds)
        session.flush()
        a, b = (f.id for f in feeds)
    specs: list[tuple[str, int, float, int | None, tuple[str, ...]]] = [
        ("Prix de l'énergie", 3, 2, a, ("fr", "en")),
        ("Football et énergie", 2, 3, b, ("fr", "en")),
        ("Budget des écoles", 1, 5, None, ("fr", "en")),
        ("Grève des trains", 2, 10, a, ("fr",)),
        ("Élections municipales", 1, 20, b, ("fr", "en")),
        ("Météo de la semaine", 4, 28, a, ("fr", "en")),
        ("Energy market opens", 1, 1, None, ("en",)),
        ("Ski et football", 2, 8, b, ("fr", "en")),
        ("Archives", 3, 40, a, ("fr", "en")),
        ("Port de Marseille", 1, 0.5, a, ("fr", "en")),
        ("Énergie solaire à Lyon", 2, 12, b, ("fr",)),
    ]
    stories = {title: add_story(db, title, n, hours, feed, languages=langs)
               for title, n, hours, feed, langs in specs}
    stories["hidden"] = add_story(db, "Énergie cachée", 4, 1, a, withheld="no point survived")
    return Newsroom(a, b, stories)


def add_target(db: Database, chat: str, **values: Any) -> int:
    """A target row as the bot would store it (defaults: due now in Paris, every source)."""
    row = {"languages": "both", "digest_time": "07:30", "timezone": "Europe/Paris",
           "feeds": [], "active": True, "schedule": "digest", "kind": "private", **values}
    with db.session() as session:
        target = SubscriberRow(chat_id=chat, **row)
        session.add(target)
        session.flush()
        return target.id


@dataclass(frozen=True)
class Spec:
    """What decides a digest's content."""

    languages: str
    feeds: tuple[int, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    hours: float | None  # since the last digest (None: never had one)


def specs(room: Newsroom) -> list[Spec]:
    """Settings that differ in one thing at a time, each giving another digest on this
    newsroom with a limit of 3."""
    a, b = room.feed_a, room.feed_b
    out = [Spec(languages, feeds, (), (), None)
           for languages in ("fr", "en", "both")
           for feeds in ((), (a,), (b,), (a, b), (FOLDER,), (FOLDER, b))]
    out += [Spec("fr", (), ("énergie",), (), None), Spec("en", (), ("énergie",), (), None),
            Spec("fr", (), (), ("football",), None),
            Spec("fr", (), ("énergie",), ("football",), None),
            Spec("both", (), ("energy", "énergie"), (), None),
            Spec("fr", (a,), ("énergie",), (), None),
            Spec("fr", (), (), (), 6), Spec("fr", (), (), (), 30), Spec("both", (b,), (), (), 30),
            Spec("fr", (), (), ("football",), 9)]
    return out


def spelled(rng: random.Random, spec: Spec) -> dict[str, Any]:
    """A target row with this setting, spelled as a row may spell it: feeds shuffled and
    repeated, filter phrases reordered and repeated."""
    feeds = list(spec.feeds) + list(spec.feeds[:1])
    include = list(spec.include) + list(spec.include[:1])
    rng.shuffle(feeds)
    rng.shuffle(include)
    last = None if spec.hours is None else NOW - timedelta(hours=spec.hours)
    return {"languages": spec.languages, "feeds": feeds, "filters_include": include,
            "filters_exclude": list(spec.exclude), "last_digest_at": last}


def population(db: Database) -> tuple[Newsroom, list[Spec]]:
    """Two or three targets per setting, due in Paris or Tokyo (other days, other local
    times, other kinds of chat: none of it changes the stories); a Montreal target and an
    inactive one not due; a live target of a shared setting with a story posted to it;
    and one whose digest of the day is already queued."""
    room = newsroom(db)
    rng = random.Random(3)
    settings = specs(room)
    number = 0
    for spec in settings:
        for copy in range(rng.choice((2, 3))):
            number += 1
            where = ({"timezone": "Asia/Tokyo", "digest_time": "15:30", "kind": "group"}
                     if copy == 1 else {})
            add_target(db, str(number), **spelled(rng, spec), **where)
    add_target(db, "montreal", timezone="America/Montreal")  # 01:35 there: not due
    add_target(db, "gone", active=False)
    add_target(db, "nothing", feeds=[NOTHING])
    live = add_target(db, "live", schedule="live", kind="channel")
    posted = room.stories["Prix de l'énergie"]
    done = add_target(db, "done")
    with db.session() as session:
        session.add(DeliveryRow(key=f"live:{live}:{posted}", subscriber_id=live, kind="live",
                                day=TODAY, languages=["fr", "en"], story_ids=[posted],
                                state="sent", story_version=3, message_ids=["70"],
                                sent_at=NOW - timedelta(hours=1),
                                created_at=NOW - timedelta(hours=1)))
        session.add(DeliveryRow(key=f"digest:{done}:{TODAY.isoformat()}", subscriber_id=done,
                                kind="digest", day=TODAY, languages=["fr", "en"],
                                story_ids=[posted], state="pending",
                                created_at=NOW - timedelta(hours=1)))
    return room, settings


@contextmanager
def selections(db: Database) -> Iterator[list[str]]:
    """The story selections (`briefing.store.digests.story_rows`) run in the block."""
    seen: list[str] = []

    def keep(conn: object, cursor: object, statement: str, *args: object) -> None:
        sql = " ".join(statement.lower().split())
        if "as sources" in sql and "briefed_at >" in sql:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def digest_settings(store_url: str, tmp_path: Path) -> Settings:
    return service_settings(store_url, tmp_path, digest_max_stories=3)


def test_a_shared_pass_queues_what_each_target_composed_alone_would_get(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    room, _ = population(db)
    settings = digest_settings(store_url, tmp_path)
    due = due_targets(db, NOW, settings)
    alone = {d.key: d for d in (digest_for(db, t, day, NOW, settings) for t, day in due)}
    before = {t.id: t.last_digest_at for t in all_subscribers(db)}
    # The population tells settings apart: many different digests, an empty one too.
    assert len({d.story_ids for d in alone.values()}) >= 15
    assert any(not d.story_ids for d in alone.values())
    assert len(alone) == len(due) > 60

    queued = schedule_digests(db, NOW, settings)

    with db.session() as session:
        rows = session.scalars(select(DeliveryRow).where(DeliveryRow.kind == "digest",
                                                         DeliveryRow.key.in_(list(alone)))
                               .order_by(DeliveryRow.id)).all()
        got = {r.key: (r.subscriber_id, r.day, tuple(r.languages),
                       tuple(int(i) for i in r.story_ids), r.state) for r in rows}
        after = {r.id: r.last_digest_at for r in session.scalars(select(SubscriberRow))}
    want = {d.key: (d.subscriber_id, d.day, d.languages, d.story_ids,
                    "pending" if d.story_ids else "skipped") for d in alone.values()}
    assert got == want
    assert queued == sum(1 for d in alone.values() if d.story_ids)
    moved = {d.subscriber_id for d in alone.values() if d.story_ids}
    assert {i for i in after if after[i] != before[i]} == moved
    assert all(after[i] == NOW for i in moved)
    # The live target shares "both, every source, never had a digest" with private chats,
    # yet its digest leaves out the story posted to it live, theirs does not.
    live = next(t for t, _ in due if t.chat_id == "live")
    twin = next(t for t, _ in due if t.chat_id != "live" and t.languages == "both"
                and not t.feeds and not t.include and not t.exclude
                and t.last_digest_at is None)
    posted = room.stories["Prix de l'énergie"]
    live_row = want[f"digest:{live.id}:{TODAY.isoformat()}"][3]
    twin_row = want[f"digest:{twin.id}:{TODAY.isoformat()}"][3]
    assert posted in twin_row and posted not in live_row
    assert [i for i in twin_row if i != posted] == list(live_row)


def test_a_pass_composes_once_per_distinct_setting(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    _, settings_made = population(db)
    settings = digest_settings(store_url, tmp_path)
    due = due_targets(db, NOW, settings)
    # "nothing" follows no source: its digest needs no selection at all.
    selecting = [t for t, _ in due if t.chat_id != "nothing"]
    # "live" has a setting of `specs` (both, every source, no digest yet), like "done".
    distinct = len(settings_made)
    assert len(selecting) > 2 * distinct  # most settings have several targets
    with selections(db) as one_by_one:
        for target, day in due:
            digest_for(db, target, day, NOW, settings)
    assert len(one_by_one) == len(selecting)  # alone: a selection per target
    with selections(db) as shared:
        schedule_digests(db, NOW, settings)
    assert len(shared) == distinct


def test_live_candidates_are_composed_once_per_setting_with_each_targets_posts(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    room = newsroom(db)
    settings = digest_settings(store_url, tmp_path)
    settings = settings.model_copy(update={"live": settings.live.model_copy(
        update={"posts_per_hour": 3, "confirm_minutes": 60.0})})
    a, b = room.feed_a, room.feed_b
    rng = random.Random(8)
    live_specs = [Spec("fr", (), (), (), None), Spec("en", (), (), (), None),
                  Spec("both", (a,), (), (), None), Spec("fr", (b, FOLDER), (), (), None),
                  Spec("fr", (), ("énergie",), (), None), Spec("both", (), (), ("football",), None)]
    targets = [add_target(db, f"live-{n}-{copy}", schedule="live", kind="channel",
                          digest_time="20:00", **spelled(rng, spec))
               for n, spec in enumerate(live_specs) for copy in range(3)]
    add_target(db, "stopped", schedule="live", active=False)
    add_target(db, "daily")  # not live
    # One target had a story posted an hour ago that was briefed again since: an update;
    # another had two posts in the last hour: room for one more only.
    energy = room.stories["Prix de l'énergie"]
    with db.session() as session:
        session.get_one(StoryRow, energy).summarised_version = 5
        for target, story, message in ((targets[0], energy, "81"),
                                       (targets[1], room.stories["Budget des écoles"], "82"),
                                       (targets[1], room.stories["Football et énergie"], "83")):
            session.add(DeliveryRow(key=f"live:{target}:{story}", subscriber_id=target,
                                    kind="live", day=TODAY, languages=["fr"], story_ids=[story],
                                    state="sent", story_version=3, message_ids=[message],
                                    sent_at=NOW - timedelta(minutes=40),
                                    created_at=NOW - timedelta(minutes=40)))
    live = [t for t in all_subscribers(db) if t.active and t.schedule == "live"]
    alone = [post for target in live for post in posts_for(db, target, NOW, settings)]
    assert any(p.kind == "update" for p in alone)
    assert len({(p.subscriber_id, p.story_id) for p in alone}) == len(alone) > 20

    with db.session() as session:
        before = max(session.scalars(select(DeliveryRow.id)))
    with selections(db) as shared:
        queued = schedule_live(db, NOW, settings)

    with db.session() as session:
        rows = session.scalars(select(DeliveryRow).where(DeliveryRow.id > before)
                               .order_by(DeliveryRow.id)).all()
        got = [(r.key, r.subscriber_id, r.kind, r.day, tuple(r.languages), r.story_ids,
                r.story_version, r.target_message, r.action) for r in rows]
    assert queued == len(alone)
    assert got == [(p.key, p.subscriber_id, p.kind, p.day, p.languages, [p.story_id],
                    p.story_version, p.target_message, p.action) for p in alone]
    assert len(shared) == len(live_specs)  # one composition per setting

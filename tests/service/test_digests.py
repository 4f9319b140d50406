"""Digests: due at each reader's local time, once, with the right stories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from briefing.render.text import render_text
from briefing.service.digests import compose, due_date, load_digest, schedule_digests
from briefing.service.subscribers import subscribe
from briefing.store.db import Database
from briefing.store.models import (
    ArticleRow,
    BriefRow,
    DeliveryRow,
    FeedRow,
    StoryRow,
    SubscriberRow,
)
from tests.conftest import service_settings

NOW = datetime(2026, 1, 15, 6, 35, tzinfo=UTC)  # 07:35 in Paris (winter), 01:35 in Montreal


def add_story(db: Database, title: str, sources: int, published: datetime,
              feed_id: int | None = None, *, briefed: datetime | None = None,
              withheld: str | None = None, published_text: str | None = None) -> int:
    """A summarised story; briefed when it was published unless `briefed` says otherwise."""
    with db.session() as session:
        story = StoryRow(title=title, first_published=published, last_published=published,
                      version=sources, summarised_version=sources,
                      briefed_at=briefed or published, withheld=withheld)
        session.add(story)
        session.flush()
        for i in range(sources):
            session.add(ArticleRow(content_hash=f"{title}-{i}", title=f"{title} {i}",
                                outlet=f"Outlet {i}", url=f"https://news.example/{title}/{i}",
                                text="texte", language="fr", story_id=story.id,
                                feed_id=feed_id, published=published,
                                published_text=published_text or published.isoformat()))
        for lang in ("fr", "en"):
            session.add(BriefRow(story_id=story.id, language=lang, story_version=sources,
                              headline=f"{title} ({lang})", points=[f"point {lang}"],
                              quotes=[{"text": "une citation vérifiée", "source": "S1",
                                       "start": 0, "end": 5, "translation": None}],
                              engine="extractive", model=None, usage={}, citations={}))
        return story.id


def subscriber(db: Database, chat: str = "42", **changes: object) -> SubscriberRow:
    sub_id = subscribe(db, chat, "07:30", "Europe/Paris", "both")[0].id
    with db.session() as session:
        sub = session.get_one(SubscriberRow, sub_id)
        for key, value in changes.items():
            setattr(sub, key, value)
        return sub


@dataclass(frozen=True)
class When:
    digest_time: str
    timezone: str


def queued_text(db: Database) -> str:
    """The pending digest as the file channel would render it now."""
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        digest = load_digest(db, row.day, tuple(row.languages), row.story_ids)
    return "\n".join(part.text for part in render_text(digest))


def test_due_date_follows_the_readers_time_zone() -> None:
    grace = timedelta(hours=6)
    paris = When(digest_time="07:30", timezone="Europe/Paris")
    montreal = When(digest_time="07:30", timezone="America/Montreal")
    assert due_date(paris, NOW, grace) == date(2026, 1, 15)
    assert due_date(montreal, NOW, grace) is None  # 01:35 there
    assert due_date(montreal, NOW + timedelta(hours=6), grace) == date(2026, 1, 15)
    assert due_date(paris, NOW - timedelta(minutes=10), grace) is None  # 07:25 in Paris
    assert due_date(paris, NOW + timedelta(hours=7), grace) is None  # past the grace
    summer = datetime(2026, 7, 15, 5, 35, tzinfo=UTC)  # 07:35 in Paris (summer time)
    assert due_date(paris, summer, grace) == date(2026, 7, 15)


def test_a_due_digest_is_queued_once(db: Database, store_url: str, tmp_path: Path) -> None:
    settings = service_settings(store_url, tmp_path)
    add_story(db, "budget", 2, NOW - timedelta(hours=3))
    subscriber(db)
    assert schedule_digests(db, NOW, settings) == 1
    assert schedule_digests(db, NOW + timedelta(minutes=1), settings) == 0
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        assert row.key.endswith(":2026-01-15") and row.state == "pending"
        assert (row.day, row.languages) == (date(2026, 1, 15), ["fr", "en"])
        assert session.get_one(SubscriberRow, row.subscriber_id).last_digest_at == NOW
    text = queued_text(db)
    assert "budget (fr)" in text and "budget (en)" in text


def test_the_outbox_row_keeps_the_readers_local_day_and_languages(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """At 00:10 UTC on the 16th it is 07:10 on the 16th in Ho Chi Minh City: the digest is
    the 16th's there, whatever the UTC date, and the English interface comes first."""
    settings = service_settings(store_url, tmp_path)
    add_story(db, "budget", 1, NOW)
    subscribe(db, "84", "07:00", "Asia/Ho_Chi_Minh", "en")
    assert schedule_digests(db, datetime(2026, 1, 16, 0, 10, tzinfo=UTC), settings) == 1
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        assert (row.day, row.languages, row.key[-10:]) == (date(2026, 1, 16), ["en"],
                                                          "2026-01-16")
    assert "Briefing — 2026-01-16" in queued_text(db) and "budget (fr)" not in queued_text(db)


def test_an_empty_period_sends_nothing(db: Database, store_url: str, tmp_path: Path) -> None:
    settings = service_settings(store_url, tmp_path)
    add_story(db, "old", 1, NOW - timedelta(days=3))
    subscriber(db)
    assert schedule_digests(db, NOW, settings) == 0
    with db.session() as session:
        assert session.scalars(select(DeliveryRow.state)).all() == ["skipped"]
    assert schedule_digests(db, NOW + timedelta(minutes=5), settings) == 0


def test_missed_digest_is_sent_within_the_grace_only(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path, digest_grace_hours=2)
    add_story(db, "budget", 1, NOW - timedelta(hours=3))
    subscriber(db)
    assert schedule_digests(db, NOW + timedelta(hours=3), settings) == 0  # came back too late
    assert schedule_digests(db, NOW + timedelta(hours=1), settings) == 1  # within the grace


def test_compose_orders_best_sourced_first_then_newest_and_filters_feeds(
    db: Database,
) -> None:
    with db.session() as session:
        feed = FeedRow(url="https://news.example/rss")
        session.add(feed)
        session.flush()
        feed_id = feed.id
    lone_new = add_story(db, "lone", 1, NOW - timedelta(hours=1))
    wide = add_story(db, "wide", 3, NOW - timedelta(hours=5), feed_id=feed_id)
    older = add_story(db, "older", 1, NOW - timedelta(hours=8))
    items = compose(db, NOW - timedelta(days=1), ("fr",), [], 10)
    assert [i.story_id for i in items] == [wide, lone_new, older]
    assert [b.language for b in items[0].briefs] == ["fr"]
    assert [(s.id, s.outlet) for s in items[0].sources] == [
        ("S1", "Outlet 0"), ("S2", "Outlet 1"), ("S3", "Outlet 2")]
    assert items[0].sources[0].url == "https://news.example/wide/0"
    assert items[0].briefs[0].quotes[0].text == "une citation vérifiée"
    followed = compose(db, NOW - timedelta(days=1), ("en", "fr"), [feed_id], 10)
    assert [i.story_id for i in followed] == [wide]
    assert [b.language for b in followed[0].briefs] == ["en", "fr"]  # the reader's order
    assert compose(db, NOW - timedelta(days=1), ("en",), [], 1)[0].story_id == wide


@pytest.mark.parametrize("value", ["25:00", "7h75", ""])  # 7h30 is a time
def test_bad_digest_times_are_refused(db: Database, value: str) -> None:
    from briefing.errors import BadInput

    with pytest.raises(BadInput, match="HH:MM"):
        subscribe(db, "7", value)


def test_bad_time_zone_gets_an_example(db: Database) -> None:
    from briefing.errors import BadInput

    with pytest.raises(BadInput, match="Europe/Paris"):
        subscribe(db, "7", "07:30", "Mars/Olympus")


# --- What a digest covers: arrival since the last digest, not publication ------------------


def test_a_story_briefed_after_the_last_digest_is_in_the_next_whatever_its_date(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """Published 06:20 (its page said only the day: midnight), briefed 06:32, last digest 06:27."""
    settings = service_settings(store_url, tmp_path)
    last = datetime(2026, 1, 14, 6, 27, tzinfo=UTC)
    late = add_story(db, "late", 1, datetime(2026, 1, 14, tzinfo=UTC),
                     briefed=datetime(2026, 1, 14, 6, 32, tzinfo=UTC), published_text="2026-01-14")
    sent = add_story(db, "sent", 1, datetime(2026, 1, 14, 6, 10, tzinfo=UTC),
                     briefed=datetime(2026, 1, 14, 6, 15, tzinfo=UTC))
    subscriber(db, last_digest_at=last)
    assert schedule_digests(db, NOW, settings) == 1  # the next morning's digest
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        assert row.story_ids == [late]  # and not `sent`, already in the 06:27 digest
        assert sent not in row.story_ids
    assert "late (fr)" in queued_text(db)


def test_a_story_published_after_the_last_digest_but_briefed_before_is_not_repeated(
    db: Database,
) -> None:
    since = NOW - timedelta(hours=2)
    add_story(db, "early", 1, NOW - timedelta(hours=1), briefed=NOW - timedelta(hours=3))
    again = add_story(db, "again", 2, NOW - timedelta(days=2), briefed=NOW - timedelta(hours=1))
    # `again` gained a source and a new brief after the last digest: it comes back.
    assert [i.story_id for i in compose(db, since, ("fr",), [], 10)] == [again]


def test_withheld_stories_never_reach_a_digest(db: Database) -> None:
    shown = add_story(db, "shown", 1, NOW - timedelta(hours=1))
    add_story(db, "hidden", 3, NOW - timedelta(hours=1), withheld="no point survived the checks")
    assert [i.story_id for i in compose(db, NOW - timedelta(days=1), ("fr",), [],
                                        10)] == [shown]


def test_digest_selection_uses_the_briefed_at_index(db: Database, store_url: str) -> None:
    """Selecting by arrival stays an index range, not a scan of every story."""
    if not store_url.startswith("sqlite"):
        pytest.skip("the plan is checked on SQLite, the default store")
    from sqlalchemy import event

    from briefing.store.digests import story_rows

    executed: list[tuple[str, Any]] = []

    def keep(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        executed.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        with db.reading() as conn:
            story_rows(conn, NOW - timedelta(days=1), [], 8)
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    statement, parameters = executed[-1]
    raw = db.engine.raw_connection()
    try:
        plan = raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    finally:
        raw.close()
    assert any("ix_stories_briefed_at" in str(row) for row in plan), plan


# --- What a reader follows: every source, some, the folder, or none ------------------------


def test_following_none_some_or_the_folder_selects_accordingly(db: Database) -> None:
    """`()` is every source, `FOLDER` the articles from no feed (folder, on demand), and
    `(NOTHING,)` nothing at all, not every source."""
    from briefing.store.subscribers import FOLDER, NOTHING

    with db.session() as session:
        feeds = [FeedRow(url="https://a.example/rss"), FeedRow(url="https://b.example/rss")]
        session.add_all(feeds)
        session.flush()
        first, second = (f.id for f in feeds)
    folder = add_story(db, "folder", 1, NOW - timedelta(hours=1))
    a = add_story(db, "a", 2, NOW - timedelta(hours=2), feed_id=first)
    b = add_story(db, "b", 3, NOW - timedelta(hours=3), feed_id=second)
    since = NOW - timedelta(days=1)

    def picked(feeds: tuple[int, ...]) -> list[int]:
        return [i.story_id for i in compose(db, since, ("fr",), feeds, 10)]

    assert picked(()) == [b, a, folder]
    assert picked((first,)) == [a]
    assert picked((FOLDER,)) == [folder]
    assert picked((FOLDER, second)) == [b, folder]
    assert picked((NOTHING,)) == []


def test_unfollowing_keeps_the_others_and_the_last_one_leaves_nothing(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    from briefing.service.subscribers import Follow, change_follow
    from briefing.store.subscribers import FOLDER, NOTHING, find

    def follows() -> tuple[int, ...]:
        reader = find(db, "42")
        assert reader is not None
        return reader.feeds

    with db.session() as session:
        feed = FeedRow(url="https://a.example/rss")
        session.add(feed)
        session.flush()
        feed_id = feed.id
    add_story(db, "news", 1, NOW - timedelta(hours=1), feed_id=feed_id)
    subscriber(db)
    assert change_follow(db, "42", feed_id, False)[0] is Follow.UNFOLLOWED
    assert follows() == (FOLDER,)  # the other source is kept
    assert change_follow(db, "42", FOLDER, False)[0] is Follow.NOTHING_LEFT
    assert follows() == (NOTHING,)
    assert change_follow(db, "42", 999, True)[0] is Follow.UNKNOWN
    settings = service_settings(store_url, tmp_path)
    assert schedule_digests(db, NOW, settings) == 0  # following nothing: nothing is sent
    assert change_follow(db, "42", feed_id, True)[0] is Follow.FOLLOWED
    assert change_follow(db, "42", FOLDER, True)[0] is Follow.FOLLOWED
    assert follows() == ()  # every source again


# --- keyword filters ----------------------------------------------------------------------


def test_a_digest_keeps_what_the_filters_include_and_leaves_out_what_they_exclude(
    db: Database
) -> None:
    from briefing.service.digests import compose_digest
    from briefing.stories.filters import Filters

    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    energy = add_story(db, "Prix de l'énergie", 3, now - timedelta(hours=1))
    football = add_story(db, "Football et énergie", 2, now - timedelta(hours=2))
    other = add_story(db, "Budget des écoles", 1, now - timedelta(hours=3))
    since = now - timedelta(days=1)
    # Only French briefs are read, but the filter reads the English one too.
    with db.session() as session:
        brief = session.scalars(select(BriefRow).where(BriefRow.story_id == other,
                                                       BriefRow.language == "en")).one()
        brief.points = [{"text": "Schools get an energy bonus", "support": []}]
    items, more = compose_digest(db, since, ("fr",), (), 1,
                                 Filters(include=("énergie", "energy"), exclude=("football",)))
    assert [i.story_id for i in items] == [energy] and more == (other,)
    everything, _ = compose_digest(db, since, ("fr",), (), 10)
    assert {i.story_id for i in everything} == {energy, football, other}


def test_scheduled_digests_follow_the_targets_filters(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    from briefing.service.subscribers import FilterAction, change_filters

    now = NOW
    kept = add_story(db, "Prix de l'énergie", 2, now - timedelta(hours=1))
    add_story(db, "Football", 3, now - timedelta(hours=2))
    subscriber(db, "42")
    change_filters(db, "42", FilterAction.EXCLUDE, ["football"])
    assert schedule_digests(db, now, service_settings(store_url, tmp_path)) == 1
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        assert row.story_ids == [kept]

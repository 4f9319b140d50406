"""Digest queries: one spelling of what a target follows, and a pass's outbox rows written
by batches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event, select

from briefing.store.db import Database
from briefing.store.deliveries import NewDigest
from briefing.store.digests import followed, queue_digest_rows, story_rows
from briefing.store.models import ArticleRow, DeliveryRow, FeedRow, StoryRow, SubscriberRow
from briefing.store.subscribers import FOLDER, NOTHING, upsert

NOW = datetime(2026, 1, 15, 6, 35, tzinfo=UTC)
DAY = date(2026, 1, 15)


def story(db: Database, feed: int | None, hours_ago: float, sources: int = 1) -> int:
    at = NOW - timedelta(hours=hours_ago)
    with db.session() as session:
        row = StoryRow(title="t", first_published=at, last_published=at, version=sources,
                       summarised_version=sources, briefed_at=at)
        session.add(row)
        session.flush()
        for i in range(sources):
            session.add(ArticleRow(content_hash=f"{row.id}-{i}", title="t", text="x",
                                   language="fr", story_id=row.id, feed_id=feed, published=at))
        return row.id


def test_every_spelling_of_what_a_target_follows_selects_what_the_spelling_does(
    db: Database,
) -> None:
    with db.session() as session:
        feeds = [FeedRow(url=f"https://{n}.example/rss") for n in "abc"]
        session.add_all(feeds)
        session.flush()
        a, b, c = (f.id for f in feeds)
    for n, feed in enumerate((a, b, c, None, a, None, c)):
        story(db, feed, n + 1, sources=n % 3 + 1)
    spellings = [(), (a,), (b, a), (a, b, a), (FOLDER,), (c, FOLDER, c), (FOLDER, FOLDER),
                 (NOTHING,), (NOTHING, NOTHING), (-7,)]
    with db.reading() as conn:
        for feeds_of in spellings:
            raw = story_rows(conn, NOW - timedelta(days=1), feeds_of, 10)
            assert story_rows(conn, NOW - timedelta(days=1), followed(feeds_of), 10) == raw
    # One spelling each: sorted, each once, "nothing" for no source at all.
    assert followed((b, a)) == followed((a, b, a)) == tuple(sorted((a, b)))
    assert followed((c, FOLDER, c)) == (FOLDER, c)
    assert followed(()) == () and followed((NOTHING, NOTHING)) == followed((-7,)) == (NOTHING,)
    assert followed((NOTHING,)) != followed(())


@contextmanager
def inserts(db: Database) -> Iterator[list[int]]:
    """How many rows each INSERT INTO deliveries run in the block carried."""
    seen: list[int] = []

    def keep(conn: object, cursor: object, statement: str, parameters: object,
             context: object, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERIES"):
            seen.append(len(parameters) if executemany else 1)  # type: ignore[arg-type]

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def test_a_pass_queues_its_rows_by_batches_once_per_key(db: Database) -> None:
    readers = [upsert(db, str(n))[0].id for n in range(6)]
    earlier = NOW - timedelta(days=1)
    with db.session() as session:
        for reader in readers:
            session.get_one(SubscriberRow, reader).last_digest_at = earlier
        session.add(DeliveryRow(key="digest:taken", subscriber_id=readers[0], kind="digest",
                                day=DAY, languages=["fr"], story_ids=[99], state="pending"))
    digests = [NewDigest(readers[0], "digest:taken", DAY, ("fr",), (1, 2)),  # already queued
               NewDigest(readers[1], "digest:b", DAY, ("fr", "en"), (3, 1)),
               NewDigest(readers[2], "digest:c", DAY, ("en",), ()),  # nothing new: skipped
               NewDigest(readers[3], "digest:d", DAY, ("fr",), (4,)),
               NewDigest(readers[4], "digest:d", DAY, ("fr",), (5,)),  # the same key again
               NewDigest(readers[5], "digest:f", DAY, ("en", "fr"), (6, 7, 8))]
    with inserts(db) as batches:
        assert queue_digest_rows(db, digests, NOW, batch=2) == 3
    # Batches of two: (taken, b) writes b; (c, d) both; (d again, f) writes f.
    assert batches == [1, 2, 1]
    with db.session() as session:
        rows = session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)).all()
        got = [(r.key, r.subscriber_id, r.kind, r.day, r.languages, r.story_ids, r.state,
                r.sent_parts, r.attempts, r.message_ids) for r in rows]
        last = {r.id: r.last_digest_at for r in session.scalars(select(SubscriberRow))}
    assert got == [
        ("digest:taken", readers[0], "digest", DAY, ["fr"], [99], "pending", 0, 0, []),
        ("digest:b", readers[1], "digest", DAY, ["fr", "en"], [3, 1], "pending", 0, 0, []),
        ("digest:c", readers[2], "digest", DAY, ["en"], [], "skipped", 0, 0, []),
        ("digest:d", readers[3], "digest", DAY, ["fr"], [4], "pending", 0, 0, []),
        ("digest:f", readers[5], "digest", DAY, ["en", "fr"], [6, 7, 8], "pending", 0, 0, []),
    ]
    # The last digest moves with the rows written with stories, and only with them.
    assert last == {readers[0]: earlier, readers[1]: NOW, readers[2]: earlier,
                    readers[3]: NOW, readers[4]: earlier, readers[5]: NOW}
    assert queue_digest_rows(db, digests, NOW + timedelta(hours=1)) == 0  # all taken now


def test_a_large_pass_takes_one_insert_per_thousand_rows(db: Database) -> None:
    reader = upsert(db, "1")[0].id
    digests = [NewDigest(reader, f"digest:{n}", DAY, ("fr",), (n,)) for n in range(2_500)]
    with inserts(db) as batches:
        assert queue_digest_rows(db, digests, NOW) == 2_500
    assert batches == [1_000, 1_000, 500]
    with db.session() as session:
        keys = set(session.scalars(select(DeliveryRow.key)))
    assert keys == {d.key for d in digests}


def test_active_targets_are_the_active_ones_of_all_subscribers_field_for_field(
    db: Database,
) -> None:
    """A digest pass reads its targets as plain columns: they must be what the ORM read
    gives, every field, for rows that set each one (and rows that leave them empty)."""
    from briefing.store.subscribers import LIVE, active_targets, all_subscribers

    upsert(db, "1")
    upsert(db, "-100:7", languages="en", digest_time="06:05", timezone="Asia/Tokyo",
           feeds=(3, FOLDER, 3), name="Topic", kind="supergroup", title="Le groupe",
           include=("prix de l'énergie", "ski"), exclude=("football",), schedule=LIVE)
    upsert(db, "-200", feeds=(NOTHING,), kind="channel", schedule=LIVE)
    upsert(db, "off", active=False, schedule=LIVE)
    upsert(db, "2", include=("énergie",))
    with db.session() as session:
        for row in session.scalars(select(SubscriberRow)):
            row.interface_language = "fr" if row.id % 2 else None
            row.last_digest_at = NOW - timedelta(hours=row.id) if row.id > 1 else None
        row.feeds = None  # type: ignore[assignment]  # stored as JSON null: no list
    everyone = all_subscribers(db)
    assert active_targets(db) == [t for t in everyone if t.active]
    assert [t.chat_id for t in active_targets(db, LIVE)] == ["-100:7", "-200"]
    live = active_targets(db, LIVE)[0]
    assert (live.feeds, live.include, live.thread_id) == ((3, FOLDER, 3), ("prix de l'énergie",
                                                                           "ski"), 7)

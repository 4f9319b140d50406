"""The fleet at a glance: workers and their leases, feeds, pending stories, the outbox and
the last errors, counted by the store on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from briefing.store.db import Database
from briefing.store.deliveries import NewDigest, due_deliveries, mark_failure, queue_digests
from briefing.store.feeds import add_feed, record_failure, record_poll
from briefing.store.leases import claim, worker_seen, worker_stopped
from briefing.store.status import fleet_status, outbox_depth
from briefing.store.subscribers import upsert

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def test_an_empty_store_is_an_empty_fleet(db: Database) -> None:
    fleet = fleet_status(db, NOW)
    assert fleet.workers == () and fleet.last_errors == ()
    assert (fleet.feeds.active, fleet.feeds.due, fleet.feeds.failing) == (0, 0, 0)
    assert fleet.stories_pending == 0
    assert (fleet.outbox.depth, fleet.outbox.due, fleet.outbox.failed) == (0, 0, 0)
    assert outbox_depth(db, NOW).oldest_due_seconds == 0


def test_workers_are_listed_with_what_each_holds(db: Database) -> None:
    worker_seen(db, "a:1:x", "a", 1, NOW - timedelta(seconds=10))
    worker_seen(db, "b:2:y", "b", 2, NOW - timedelta(minutes=5), error="boom")
    worker_seen(db, "c:3:z", "c", 3, NOW - timedelta(seconds=5))
    worker_stopped(db, "c:3:z", NOW - timedelta(seconds=5))
    claim(db, ["feed:1", "feed:2", "story:7"], "a:1:x", NOW, LEASE)
    claim(db, ["telegram:poller"], "poller@a:1:x", NOW, LEASE)
    claim(db, ["delivery:3"], "b:2:y", NOW - timedelta(minutes=5), LEASE)  # expired
    workers = {w.id: w for w in fleet_status(db, NOW).workers}
    assert set(workers) == {"a:1:x", "b:2:y", "c:3:z"}
    assert workers["a:1:x"].alive and workers["a:1:x"].holds == {"feed": 2, "story": 1,
                                                                 "telegram": 1}
    assert not workers["b:2:y"].alive and workers["b:2:y"].holds == {}
    assert workers["c:3:z"].stopped and not workers["c:3:z"].alive
    errors = fleet_status(db, NOW).last_errors
    assert [(e.where, e.name, e.error) for e in errors] == [("worker", "b:2:y", "boom")]


def test_feeds_due_and_failing(db: Database) -> None:
    ids = [add_feed(db, f"https://example.org/{n}.xml", None) for n in range(3)]
    assert all(i is not None for i in ids)
    first, second, _third = (i for i in ids if i is not None)
    record_poll(db, first, NOW + timedelta(minutes=15), etag=None, last_modified=None,
                title=None)
    record_failure(db, second, NOW, "HTTP 503", timedelta(minutes=15), timedelta(days=1))
    fleet = fleet_status(db, NOW)
    # The third was never polled: due. The first polled, the second backed off: not due.
    assert (fleet.feeds.active, fleet.feeds.due, fleet.feeds.failing) == (3, 1, 1)
    assert [(e.where, e.error) for e in fleet.last_errors] == [("feed", "HTTP 503")]


def test_the_outbox_depth_and_the_age_of_its_oldest_due_row(db: Database) -> None:
    readers = [upsert(db, str(100 + n))[0] for n in range(3)]
    digests = [NewDigest(r.id, f"digest:{r.id}", date(2026, 12, 3), ("fr",), (1,))
               for r in readers]
    queued = datetime.now(UTC)  # rows take their `created_at` from the clock
    queue_digests(db, digests, queued)
    _first, second, third = due_deliveries(db, queued)
    # One waits for a retry in the future, one is given up.
    mark_failure(db, second, "429", queued, gone=False, max_attempts=5,
                 wait=lambda _: timedelta(minutes=5))
    mark_failure(db, third, "403 blocked", queued, gone=True, max_attempts=5,
                 wait=lambda _: timedelta(minutes=5))
    later = queued + timedelta(seconds=90)
    fleet = fleet_status(db, later)
    assert (fleet.outbox.depth, fleet.outbox.due, fleet.outbox.failed) == (2, 1, 1)
    depth = outbox_depth(db, later)
    assert depth.depth == 2
    # The first row, due since it was queued 90 s before `later` (give or take the test's
    # own time between reading the clock and writing the rows).
    assert 85 <= depth.oldest_due_seconds <= 95
    errors = {(e.where, e.error) for e in fleet.last_errors}
    assert errors == {("delivery", "429"), ("delivery", "403 blocked")}

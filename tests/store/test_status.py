"""The fleet at a glance: workers and their leases, feeds, pending stories, the outbox and
the last errors, counted by the store on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from briefing.store.articles import NewArticle, add_article
from briefing.store.db import Database
from briefing.store.deliveries import (
    NewDigest,
    due_deliveries,
    finish_delivery,
    mark_failure,
    mark_sending,
    queue_digests,
)
from briefing.store.feeds import add_feed, record_failure, record_poll
from briefing.store.leases import claim, worker_seen, worker_stopped
from briefing.store.status import OutboxDepth, fleet_status, outbox_depth
from briefing.store.stories import keep_brief
from briefing.store.subscribers import upsert
from briefing.stories.signature import signature
from tests.conftest import NEWS

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def test_an_empty_store_is_an_empty_fleet(db: Database) -> None:
    fleet = fleet_status(db, NOW)
    assert fleet.workers == () and fleet.other_holders == () and fleet.last_errors == ()
    assert (fleet.feeds.active, fleet.feeds.due, fleet.feeds.failing) == (0, 0, 0)
    assert fleet.stories_pending == 0
    assert (fleet.outbox.depth, fleet.outbox.due, fleet.outbox.failed) == (0, 0, 0)
    assert outbox_depth(db, NOW) == OutboxDepth(0, 0.0)


def test_workers_are_listed_with_what_each_holds(db: Database) -> None:
    worker_seen(db, "a:1:x", "a", 1, NOW - timedelta(seconds=10))
    worker_seen(db, "b:2:y", "b", 2, NOW - timedelta(minutes=5), error="boom")
    worker_seen(db, "c:3:z", "c", 3, NOW - timedelta(seconds=5))
    worker_stopped(db, "c:3:z", NOW - timedelta(seconds=5))
    worker_seen(db, "d:4:w", "d", 4, NOW - timedelta(days=2))  # out of the window
    claim(db, ["feed:1", "feed:2", "story:7", "delivery:4", "job:queue"], "a:1:x", NOW, LEASE)
    claim(db, ["telegram:poller"], "poller@a:1:x", NOW, LEASE)
    claim(db, ["delivery:3"], "b:2:y", NOW - timedelta(minutes=5), LEASE)  # expired
    # Held by no worker that beats: an LLM call's own holder, a one-off command.
    claim(db, ["llm:abc", "misc:1"], "calls:9:ff", NOW, LEASE)
    fleet = fleet_status(db, NOW)
    workers = {w.id: w for w in fleet.workers}
    assert set(workers) == {"a:1:x", "b:2:y", "c:3:z"}
    assert workers["a:1:x"].alive
    assert workers["a:1:x"].holds == {"feed": 2, "story": 1, "delivery": 1, "job": 1,
                                      "telegram": 1}
    assert (workers["a:1:x"].host, workers["a:1:x"].pid) == ("a", 1)
    assert not workers["b:2:y"].alive and workers["b:2:y"].holds == {}
    assert workers["c:3:z"].stopped and not workers["c:3:z"].alive
    assert [(h.id, h.holds) for h in fleet.other_holders] == [
        ("calls:9:ff", {"llm": 1, "other": 1})]
    assert [(e.where, e.name, e.error) for e in fleet.last_errors] == [
        ("worker", "b:2:y", "boom")]
    # A longer patience counts the quiet worker alive; a stopped one stays stopped.
    patient = {w.id: w.alive for w in
               fleet_status(db, NOW, alive_within=timedelta(minutes=10)).workers}
    assert patient == {"a:1:x": True, "b:2:y": True, "c:3:z": False}


def test_leases_are_counted_in_every_batch(db: Database) -> None:
    worker_seen(db, "a:1:x", "a", 1, NOW)
    claim(db, [f"feed:{n}" for n in range(450)], "a:1:x", NOW, LEASE)  # three batches
    claim(db, [f"story:{n}" for n in range(3)], "a:1:x", NOW, LEASE)
    (worker,) = fleet_status(db, NOW).workers
    assert worker.holds == {"feed": 450, "story": 3}
    # Once they have expired, nothing is held.
    assert fleet_status(db, NOW + LEASE).workers[0].holds == {}


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
    assert [(e.where, e.name, e.error) for e in fleet.last_errors] == [
        ("feed", "https://example.org/1.xml", "HTTP 503")]
    # An hour on, both polled feeds are due again.
    assert fleet_status(db, NOW + timedelta(hours=1)).feeds.due == 3


def source(db: Database, story_id: int | None, number: int) -> int:
    """Store source `number` in story `story_id` (None: a story of its own)."""
    title, text = NEWS["tram"]
    text = f"{text} Source {number}."
    new = NewArticle(content_hash=f"hash-{number}", text=text, language="fr", title=title,
                     outlet=f"outlet{number}.example", published=NOW,
                     published_text=NOW.isoformat(),
                     signature=signature(text, title, "fr", NOW),
                     url=f"https://outlet{number}.example/tram")
    stored = add_article(db, new, lambda _candidates: story_id, NOW)
    assert stored.story_id is not None
    return stored.story_id


def test_stories_waiting_for_a_brief(db: Database) -> None:
    first = source(db, None, 1)
    source(db, first, 2)  # a story of two sources, never briefed
    source(db, None, 3)
    briefed = source(db, None, 4)
    keep_brief(db, briefed, 1, NOW)
    assert fleet_status(db, NOW).stories_pending == 2
    source(db, briefed, 5)  # a new source: its brief is out of date
    assert fleet_status(db, NOW).stories_pending == 3


def test_the_outbox_depth_and_the_age_of_its_oldest_due_row(
    db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued = NOW - timedelta(minutes=10)
    # Rows take their `created_at` from the clock.
    monkeypatch.setattr("briefing.clock.utcnow", lambda: queued)
    readers = [upsert(db, str(100 + n))[0] for n in range(5)]
    queue_digests(db, [NewDigest(r.id, f"digest:{r.id}", date(2026, 12, 3), ("fr",), (1,))
                       for r in readers], queued)
    _first, retried, given_up, sending, skipped = due_deliveries(db, queued)
    # One waits for a retry in the future, one is given up, one is closed with nothing
    # to send after an error; the one being sent stays in the outbox and due.
    mark_failure(db, retried, "429", queued, gone=False, max_attempts=5,
                 wait=lambda _: timedelta(minutes=30))
    mark_failure(db, given_up, "403 blocked", queued, gone=True, max_attempts=5,
                 wait=lambda _: timedelta(minutes=5))
    mark_sending(db, sending)
    mark_failure(db, skipped, "timed out", queued, gone=False, max_attempts=5,
                 wait=lambda _: timedelta(0))
    finish_delivery(db, skipped, queued)
    fleet = fleet_status(db, NOW)
    assert (fleet.outbox.depth, fleet.outbox.due, fleet.outbox.failed) == (3, 2, 1)
    # The oldest due rows were queued ten minutes before NOW.
    assert outbox_depth(db, NOW) == OutboxDepth(3, 600.0)
    assert fleet.outbox.oldest_due_seconds == 600.0
    errors = {(e.where, e.name, e.error) for e in fleet.last_errors}
    assert errors == {("delivery", "digest to 101", "429"),
                      ("delivery", "digest to 102", "403 blocked")}
    # An hour on, the retry is due too; the oldest due rows are still the first ones.
    later = NOW + timedelta(hours=1)
    assert outbox_depth(db, later) == OutboxDepth(3, (later - queued).total_seconds())
    assert fleet_status(db, later).outbox.due == 3


def test_a_retried_row_is_due_from_its_retry_time(
    db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("briefing.clock.utcnow", lambda: NOW)
    reader, _ = upsert(db, "100")
    queue_digests(db, [NewDigest(reader.id, "digest:1", date(2026, 12, 3), ("fr",), (1,))],
                  NOW)
    (row,) = due_deliveries(db, NOW)
    mark_failure(db, row, "429", NOW, gone=False, max_attempts=5,
                 wait=lambda _: timedelta(minutes=5))
    assert outbox_depth(db, NOW + timedelta(minutes=4)) == OutboxDepth(1, 0.0)  # not due
    assert outbox_depth(db, NOW + timedelta(minutes=8)) == OutboxDepth(1, 180.0)

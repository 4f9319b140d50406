"""Queries of the Telegram updates taken in: each taken in once whoever asks, even at the
same moment; the offset among recent ids; pruning that keeps the offset."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from briefing.store.db import Database
from briefing.store.updates import first_time, last_update_id, prune, taken_by

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_an_update_is_new_once_whichever_worker_asks(db: Database) -> None:
    assert first_time(db, 700001, "a", NOW)
    assert not first_time(db, 700001, "b", NOW + timedelta(seconds=1))
    assert not first_time(db, 700001, "a", NOW + timedelta(seconds=2))
    assert taken_by(db, 700001) == "a"
    assert first_time(db, 700002, "b", NOW)
    assert taken_by(db, 700002) == "b"
    assert taken_by(db, 700003) is None


def test_workers_asking_at_once_get_one_yes(db: Database) -> None:
    answers: list[bool] = []
    start = threading.Barrier(8)

    def ask(worker: str) -> None:
        start.wait()
        answers.append(first_time(db, 42, worker, NOW))

    threads = [threading.Thread(target=ask, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 7 + [True]
    assert taken_by(db, 42) in {f"w{i}" for i in range(8)}


def test_the_offset_is_the_highest_id_among_recent_ones(db: Database) -> None:
    assert last_update_id(db) is None
    first_time(db, 900, "a", NOW - timedelta(days=8))  # before a renumbering by Telegram
    first_time(db, 12, "a", NOW - timedelta(minutes=5))
    first_time(db, 15, "b", NOW - timedelta(minutes=1))
    first_time(db, 13, "a", NOW)  # ids are not always taken in in order
    assert last_update_id(db) == 900
    assert last_update_id(db, since=NOW - timedelta(hours=24)) == 15
    assert last_update_id(db, since=NOW + timedelta(seconds=1)) is None


def test_pruning_forgets_old_ids_but_never_the_highest(db: Database) -> None:
    for update_id, age in ((1, 10), (2, 9), (3, 8), (4, 1), (5, 0)):
        first_time(db, update_id, "a", NOW - timedelta(days=age))
    assert prune(db, NOW - timedelta(days=3)) == 3
    assert [taken_by(db, i) for i in (1, 2, 3, 4, 5)] == [None, None, None, "a", "a"]
    # Everything old: the highest id stays (it is the offset), the others go.
    assert prune(db, NOW + timedelta(days=1)) == 1
    assert last_update_id(db) == 5
    assert taken_by(db, 4) is None
    assert prune(db, NOW + timedelta(days=1)) == 0
    # A pruned id comes back as new (Telegram keeps an update 24 h: it cannot come back).
    assert first_time(db, 1, "b", NOW)

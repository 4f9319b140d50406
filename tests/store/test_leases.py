"""Queries of leases and workers: one holder per piece of work, expiry, takeover, renewal;
and the call log's claim on a request, which keeps two workers from paying for it twice."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from briefing.llm.calls import CallRecord
from briefing.llm.usage import Usage
from briefing.store.db import Database
from briefing.store.leases import (
    claim,
    claim_one,
    holder_of,
    release,
    release_all,
    renew,
)
from briefing.store.llm_calls import CallLog

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
TTL = timedelta(seconds=60)


def test_a_lease_held_by_a_live_worker_is_refused_to_another(db: Database) -> None:
    assert claim(db, ["feed:1", "feed:2"], "a", NOW, TTL).names == ("feed:1", "feed:2")
    got = claim(db, ["feed:2", "feed:3"], "b", NOW + timedelta(seconds=5), TTL)
    assert got.names == ("feed:3",)
    assert got.taken_over == 0
    # Asked again by its holder, a lease is still its own (and extended).
    assert claim_one(db, "feed:1", "a", NOW + timedelta(seconds=10), TTL)
    assert holder_of(db, "feed:2", NOW + timedelta(seconds=10)) == "a"


def test_an_expired_lease_is_taken_over_and_counted(db: Database) -> None:
    claim(db, ["story:7"], "dead", NOW, TTL)
    later = NOW + TTL + timedelta(seconds=1)
    assert holder_of(db, "story:7", later) is None
    got = claim(db, ["story:7", "story:8"], "alive", later, TTL)
    assert got.names == ("story:7", "story:8")
    assert got.taken_over == 1  # story:8 was free, not taken from anyone
    assert holder_of(db, "story:7", later) == "alive"


def test_release_frees_only_the_holders_own_leases(db: Database) -> None:
    claim(db, ["delivery:1"], "a", NOW, TTL)
    release(db, ["delivery:1"], "b")  # not b's: nothing happens
    assert holder_of(db, "delivery:1", NOW) == "a"
    release(db, ["delivery:1"], "a")
    assert claim_one(db, "delivery:1", "b", NOW, TTL)
    claim(db, ["job:queue", "feed:9"], "b", NOW, TTL)
    release_all(db, "b")
    # Nothing of b's is left: a third holder gets both at once.
    assert claim(db, ["job:queue", "feed:9"], "c", NOW, TTL).names == ("job:queue", "feed:9")


def test_renewal_keeps_a_working_holders_leases_past_their_first_expiry(db: Database) -> None:
    claim(db, ["story:1", "story:2"], "a", NOW, TTL)
    assert renew(db, "a", NOW + timedelta(seconds=50), TTL) == 2
    # 70 s after the claim, past the first expiry: still a's thanks to the renewal.
    assert not claim(db, ["story:1"], "b", NOW + timedelta(seconds=70), TTL).names
    # An expired lease is not revived by a late renewal: another may hold it by then.
    assert renew(db, "a", NOW + timedelta(seconds=200), TTL) == 0


def test_many_workers_claiming_at_once_get_each_lease_once(db: Database) -> None:
    names = [f"feed:{i}" for i in range(300)]  # more than one batch
    won: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def worker(holder: str) -> None:
        barrier.wait()
        won[holder] = list(claim(db, names, holder, NOW, TTL).names)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [name for got in won.values() for name in got]
    assert sorted(every) == sorted(names)  # each lease won by exactly one worker


def _record(content: str | None) -> CallRecord:
    return CallRecord("m", content, "stop" if content else None, Usage(calls=1), 1.0,
                      "ok" if content else "error")


def test_a_request_in_flight_elsewhere_is_waited_for_not_bought_again(db: Database) -> None:
    first, second = CallLog(db, holder="w1"), CallLog(db, holder="w2", poll_seconds=0.02)
    assert first.get("k") is None  # w1 misses and claims: it makes the call
    answers: list[tuple[str, str] | None] = []
    waiting = threading.Thread(target=lambda: answers.append(second.get("k")))
    waiting.start()
    time.sleep(0.2)
    assert waiting.is_alive()  # w2 waits for w1's answer instead of calling
    first.put("k", _record("the answer"))
    waiting.join(timeout=5)
    assert answers == [("the answer", "stop")]


def test_a_failed_call_leaves_the_request_to_the_next_asker(db: Database) -> None:
    first, second = CallLog(db, holder="w1"), CallLog(db, holder="w2", poll_seconds=0.02)
    assert first.get("k") is None
    first.put("k", _record(None))  # the call failed: logged, no answer
    assert second.get("k") is None  # w2 claims it and calls itself, at once
    assert holder_of(db, "llm:k", datetime.now(UTC)) == "w2"


def test_a_waiting_worker_gives_up_after_its_limit(db: Database) -> None:
    CallLog(db, holder="w1").get("k")
    patient = CallLog(db, holder="w2", wait=timedelta(seconds=0.1), poll_seconds=0.02)
    assert patient.get("k") is None  # the holder never answered: call anyway

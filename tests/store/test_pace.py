"""Queries of the send pace: a slot per send that respects its lane and its chat, booked
atomically, so that workers booking at once on one PostgreSQL never share a slot; holds;
pruning the chats long past. On both backends, with a clock of our own; the concurrent
bookings on PostgreSQL, with the real clock."""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from briefing.config import StoreSettings
from briefing.store.db import Database, open_database
from briefing.store.pace import (
    DEADLOCK,
    FREE,
    PAID,
    Hold,
    Lane,
    Send,
    Slot,
    book,
    chat_lane,
    hold,
    next_slots,
    prune,
)
from tests.pg import fresh_database

T0 = 1_750_000_000.0  # a wall-clock time, seconds since the epoch
OVERALL = 1 / 30


def at(seconds: float) -> float:
    return T0 + seconds


def near(expected: object) -> object:
    """`expected`, to the resolution of a float that holds seconds since the epoch."""
    return pytest.approx(expected, abs=1e-6)


def later(woken: float) -> float:
    """The real clock, or `woken` if later: a sender that waited until then."""
    return max(time.time(), woken)


def private(chat: str, lane: str = FREE, gap: float = OVERALL) -> Send:
    return Send(Lane(lane, gap), Lane(chat_lane(chat), 1.0))


def group(chat: str, spacing: float = 3.0) -> Send:
    return Send(Lane(FREE, OVERALL), Lane(chat_lane(chat), spacing), turn_first=True)


def test_each_send_gets_the_first_slot_free_on_its_lane_and_for_its_chat(db: Database) -> None:
    clock = lambda: T0  # noqa: E731 - time stands still: only the rows move the slots
    [first] = book(db, [private("1")], clock)
    assert first == Slot(T0, booked=True)
    # Another chat: the lane's next thirtieth. The same chat's second is not booked ahead
    # of the lane (that would push the lane a second on for everyone): it asks again then.
    other, again = book(db, [private("2"), private("1")], clock)
    assert other == Slot(near(at(OVERALL)), booked=True)  # type: ignore[arg-type]
    assert again == Slot(near(at(1.0)), booked=False)  # type: ignore[arg-type]
    rows = next_slots(db, [FREE, chat_lane("1"), chat_lane("2")])
    assert rows == {FREE: near(at(2 * OVERALL)), chat_lane("1"): near(at(1.0)),
                    chat_lane("2"): near(at(1.0 + OVERALL))}
    [then] = book(db, [private("1")], lambda: at(1.0))
    assert then == Slot(at(1.0), booked=True)


def test_a_slot_given_up_is_booked_again_without_waiting_on_itself(db: Database) -> None:
    [slot] = book(db, [private("1")], lambda: T0)
    # Woken 0.2 s late, the sender gives its slot up: its chat's row still says "next at
    # T0 + 1", its own booking, which must not make it wait a second more.
    late = at(0.2)
    [again] = book(db, [Send(Lane(FREE, OVERALL), Lane(chat_lane("1"), 1.0),
                             given_up=slot.at)], lambda: late)
    assert again == Slot(late, booked=True)
    # Once someone else has booked the chat since, it is that booking that counts.
    book(db, [private("2")], lambda: at(5.0))
    [mine] = book(db, [private("2")], lambda: at(5.5))
    assert mine == Slot(near(at(6.0)), booked=False)  # type: ignore[arg-type]
    [given] = book(db, [Send(Lane(FREE, OVERALL), Lane(chat_lane("2"), 1.0),
                             given_up=at(4.0))], lambda: at(5.5))
    assert given == Slot(near(at(6.0)), booked=False)  # type: ignore[arg-type]


def test_a_batch_is_booked_in_order_and_the_paid_lane_apart(db: Database) -> None:
    clock = lambda: T0  # noqa: E731
    slots = book(db, [private(str(c)) for c in range(5)]
                 + [private("p", PAID, 0.001), private("q", PAID, 0.001)], clock)
    assert [s.at - T0 for s in slots[:5]] == near([k * OVERALL for k in range(5)])
    # Paid sends ride their own lane: not behind the five free ones.
    assert [s.at - T0 for s in slots[5:]] == near([0.0, 0.001])
    # Time has moved on past every row: a slot is never in the past.
    later = book(db, [private("0")], lambda: at(10.0))
    assert later == [Slot(at(10.0), booked=True)]


def test_a_groups_turn_comes_before_its_lane_is_booked(db: Database) -> None:
    assert book(db, [group("-100")], lambda: T0) == [Slot(T0, booked=True)]
    # Its next message, a second later: not booked, told to ask again at the group's turn,
    # and the lane left free for everyone else.
    [waiting] = book(db, [group("-100")], lambda: at(1.0))
    assert waiting == Slot(near(at(3.0)), booked=False)  # type: ignore[arg-type]
    assert book(db, [private("7")], lambda: at(1.0)) == [Slot(at(1.0), booked=True)]
    [turn] = book(db, [group("-100")], lambda: at(3.0))
    assert turn == Slot(at(3.0), booked=True)
    assert next_slots(db, [chat_lane("-100")])[chat_lane("-100")] == near(at(6.0))


def test_holds_push_rows_on_and_never_pull_them_back(db: Database) -> None:
    book(db, [private("1")], lambda: T0)  # the chat's next slot: T0 + 1
    hold(db, [Hold(FREE, at(5.0)), Hold(PAID, at(5.0)), Hold(chat_lane("1"), at(0.5))])
    rows = next_slots(db, [FREE, PAID, chat_lane("1")])
    assert rows == {FREE: at(5.0), PAID: at(5.0), chat_lane("1"): near(at(1.0))}
    # A hold given with a booking applies before it.
    [slot] = book(db, [private("2")], lambda: at(1.0), [Hold(FREE, at(8.0))])
    assert slot.at == at(8.0)


def test_prune_deletes_only_the_chats_long_past(db: Database) -> None:
    book(db, [private("old")], lambda: T0)
    book(db, [private("new")], lambda: at(500.0))
    hold(db, [Hold(PAID, at(1.0))])
    assert prune(db, at(400.0)) == 1
    left = next_slots(db, [FREE, PAID, chat_lane("old"), chat_lane("new")])
    assert set(left) == {FREE, PAID, chat_lane("new")}  # the lanes stay, however old
    # A pruned chat is a chat with nothing booked: its next send goes at once.
    assert book(db, [private("old")], lambda: at(600.0)) == [Slot(at(600.0), booked=True)]


def test_nothing_to_book_touches_nothing(db: Database) -> None:
    assert book(db, [], lambda: T0) == []
    assert next_slots(db, [FREE]) == {}


# --------------------------------------------------------------------------- on PostgreSQL


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[str]:
    """A migrated database of its own on the throwaway cluster."""
    with fresh_database(pg_url) as url:
        open_database(StoreSettings(url=url)).close()
        yield url


def test_workers_booking_at_once_never_share_a_slot(pg_store: str) -> None:
    # Three workers, each with its own connections, book 60 sends each as fast as they can,
    # partly to the same chats: the lane's slots and each chat's must come out spaced
    # as if one process had booked them all.
    workers, per_worker, chats = 3, 60, 20
    stores = [open_database(StoreSettings(url=pg_store), migrate=False)
              for _ in range(workers)]
    booked: list[tuple[str, float]] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)

    def work(number: int) -> None:
        start.wait()
        for k in range(per_worker):
            chat = str((number * 7 + k) % chats)
            batch = [private(chat)] if k % 3 else [private(chat), private(str(chats + k))]
            woken = 0.0  # a chat not free yet: the sender asks again once it is (no sleep:
            while batch:  # its clock jumps there)
                slots = book(stores[number], batch, functools.partial(later, woken))
                with lock:
                    booked.extend((s.chat.name, slot.at)
                                  for s, slot in zip(batch, slots, strict=True) if slot.booked)
                waiting = [(s, slot.at) for s, slot in zip(batch, slots, strict=True)
                           if not slot.booked]
                batch = [s for s, _ in waiting]
                woken = max((at for _, at in waiting), default=0.0)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    times = sorted(t for _, t in booked)
    assert len(times) == workers * per_worker * 4 // 3
    assert min(b - a for a, b in itertools.pairwise(times)) >= OVERALL - 1e-6
    # In any second, from any send on, at most 30 (the thirty-first is a full second on).
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 30
    for chat in {c for c, _ in booked}:
        mine = sorted(t for c, t in booked if c == chat)
        assert all(b - a >= 1.0 - 1e-6 for a, b in itertools.pairwise(mine)), chat


def test_the_deadlock_code_is_postgresqls() -> None:
    # PostgreSQL's SQLSTATE for a deadlock broken by the server, which `book` retries.
    import psycopg.errors

    assert psycopg.errors.DeadlockDetected.sqlstate == DEADLOCK

"""Queries of the send pace: the next free send slot of each lane, shared by every worker.

Telegram's limits are the bot's, not a process's: thirty messages a second in all (or the
paid lane's rate with `allow_paid_broadcast`), one a second per chat, a group's spacing.
With several `briefing run` processes on one store, each books its sends here: a row per
lane (`lane:free`, `lane:paid`) and per chat (`chat:<id>`, a group's too) holds the time
of its next free slot, in seconds since the epoch. `book` locks the rows of a batch of
sends in one transaction (`SELECT … FOR UPDATE`, in the order of their names so that two
workers never wait on each other in a circle), gives each send the first slot free on
its lane and for its chat, and moves the rows on by their gaps; whoever books next, on
this machine or another, gets a later slot. A missing row is a lane or chat with nothing
booked (slot 0): it is inserted first, so that there is a row to lock.

The slots are wall-clock times, compared across machines: the workers' clocks must agree
(NTP), or a worker whose clock runs ahead books slots the others see as already past.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError

from briefing.store.db import Database, insert_for
from briefing.store.models import SendPaceRow

FREE = "lane:free"  # the bot's messages: Telegram's thirty a second
PAID = "lane:paid"  # the broadcasts that pay (`allow_paid_broadcast`): a lane of their own
CHAT_PREFIX = "chat:"
DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected
DEADLOCK_ATTEMPTS = 3
CLOSE = 1e-6  # s: two slots this close are one (a float holding epoch seconds is this fine)


def chat_lane(chat: str) -> str:
    """The row of one chat (a private chat, a group or a channel; a forum topic is paced
    as its group, so it is named by its group's id)."""
    return f"{CHAT_PREFIX}{chat}"


@dataclass(frozen=True)
class Lane:
    """A row of the pace and the seconds a send on it keeps it busy."""

    name: str
    gap: float


@dataclass(frozen=True)
class Send:
    """One message to book: the bot-wide lane it goes on, and its chat.

    A chat is never booked ahead of its lane: when its next slot is later than the lane's,
    nothing is booked and the answer says when to ask again. Booked together, the lane
    would be pushed on to the chat's slot, and every send of the bot would wait behind one
    chat's second (a reader's next part, a group's 3 s), leaving the lane empty meanwhile.
    `turn_first`: the chat's turn must have come by now, not only by the lane's slot: a
    group's, whose spacing runs from Telegram's answer to its last message (a `Hold`
    that may come after the lane's next slot was handed out).
    `given_up`: the slot this send had and did not use (woken too late): its own booking
    of the chat is not a reason to wait."""

    lane: Lane
    chat: Lane
    turn_first: bool = False
    given_up: float | None = None


@dataclass(frozen=True)
class Slot:
    """When to send (`booked`), or, for a chat whose turn has not come, when to ask again."""

    at: float
    booked: bool


@dataclass(frozen=True)
class Hold:
    """Nothing goes out on the row `name` before `until` (a 429's `retry_after`, a group
    answered later than its slot); a row already held later is left as it is."""

    name: str
    until: float


def book(db: Database, sends: Sequence[Send], clock: Callable[[], float],
         holds: Sequence[Hold] = ()) -> list[Slot]:
    """Apply `holds`, then book `sends` in their order, in one transaction; their slots.

    `clock` (wall-clock seconds since the epoch) is read once the rows are locked, so that
    time spent waiting for another worker's booking is not handed out as a slot already
    gone. A send's slot is the later of now and its lane's next slot, if its chat is free
    by then (else see `Send`); its lane then moves on by the lane's gap from the slot, its
    chat by the chat's."""
    names = sorted({lane.name for s in sends for lane in (s.lane, s.chat)}
                   | {h.name for h in holds})
    if not names:
        return []
    for attempt in range(DEADLOCK_ATTEMPTS):
        try:
            return _book_once(db, names, sends, clock, holds)
        except DBAPIError as exc:
            # Bookings lock in one order and `prune` skips what is locked; a circle is left
            # only in a corner (a row pruned between a booking's insert and its lock, written
            # back while another booking inserts it): PostgreSQL breaks it, and we book again.
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt + 1 == DEADLOCK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _book_once(db: Database, names: Sequence[str], sends: Sequence[Send],
               clock: Callable[[], float], holds: Sequence[Hold]) -> list[Slot]:
    """`book`'s one transaction."""
    with db.session() as session:
        insert = insert_for(session)
        session.execute(insert(SendPaceRow)
                        .values([{"name": n, "next_at": 0.0} for n in names])
                        .on_conflict_do_nothing(index_elements=[SendPaceRow.name]))
        locked = session.execute(select(SendPaceRow.name, SendPaceRow.next_at)
                                 .where(SendPaceRow.name.in_(names))
                                 .order_by(SendPaceRow.name).with_for_update())
        before = {n: 0.0 for n in names} | {name: at for name, at in locked}
        next_at = dict(before)
        for hold in holds:
            next_at[hold.name] = max(next_at[hold.name], hold.until)
        now = clock()
        slots: list[Slot] = []
        for send in sends:
            chat_at = next_at[send.chat.name]
            if send.given_up is not None and math.isclose(
                    chat_at, send.given_up + send.chat.gap, rel_tol=0.0, abs_tol=CLOSE):
                chat_at = send.given_up  # still its own booking, given up: not a later one
            at = max(now, next_at[send.lane.name])
            if chat_at > (now if send.turn_first else at):
                slots.append(Slot(chat_at, booked=False))
                continue
            next_at[send.lane.name] = at + send.lane.gap
            next_at[send.chat.name] = at + send.chat.gap
            slots.append(Slot(at, booked=True))
        changed = [{"name": n, "next_at": at} for n, at in next_at.items() if at != before[n]]
        if changed:
            # An upsert rather than an UPDATE: a row `prune` deleted between the insert above
            # and the lock (long past, so nothing was lost) is written back all the same.
            write = insert(SendPaceRow).values(changed)
            session.execute(write.on_conflict_do_update(
                index_elements=[SendPaceRow.name], set_={"next_at": write.excluded.next_at}))
    return slots


def hold(db: Database, holds: Sequence[Hold]) -> None:
    """Apply `holds` on their own (see `Hold`)."""
    book(db, (), lambda: 0.0, holds)


def next_slots(db: Database, names: Sequence[str]) -> dict[str, float]:
    """The next free slot of each of these rows that exists."""
    with db.session() as session:
        rows = session.execute(select(SendPaceRow.name, SendPaceRow.next_at)
                               .where(SendPaceRow.name.in_(list(names))))
        return {name: at for name, at in rows}


def prune(db: Database, before: float) -> int:
    """Delete the rows of chats whose next slot is before `before` (a time long past: a
    missing row means the same as a slot gone by, so this changes no slot); how many.
    A fan-out to 10,000 readers leaves 10,000 of them; the lanes stay."""
    with db.session() as session:
        # The rows a booking has locked are skipped (they are in use, so not stale): a prune
        # never waits for a booking, and so never waits in a circle with one.
        stale = (select(SendPaceRow.name)
                 .where(SendPaceRow.name.startswith(CHAT_PREFIX, autoescape=True),
                        SendPaceRow.next_at < before)
                 .with_for_update(skip_locked=True))
        result = session.execute(delete(SendPaceRow).where(SendPaceRow.name.in_(stale)))
        return int(getattr(result, "rowcount", 0) or 0)

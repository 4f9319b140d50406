"""Queries of leases and workers: who holds which piece of shared work, and who is alive.

A lease is a row per piece of work (`feed:12`, `story:7`, `delivery:30`, `job:digests`,
`telegram:poller`), taken with one atomic upsert that succeeds only when the row is free,
expired, or already the taker's (`INSERT … ON CONFLICT DO UPDATE … WHERE`, the same
statement on PostgreSQL and SQLite): two workers asking at once cannot both get it. A
worker renews every lease it holds with its heartbeat, and lets go of each when done; a
worker killed outright loses its leases when they expire, and the next worker to ask
takes them over (counted: `Claimed.taken_over`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from briefing.store.db import Database, insert_for
from briefing.store.models import LeaseRow, WorkerRow

# Leases asked for in one statement at most (a pass over 10,000 feeds asks in batches).
BATCH = 200


@dataclass(frozen=True)
class Claimed:
    """The names a claim got, and how many of them it took from a worker whose lease had
    expired (a worker that died or stalled)."""

    names: tuple[str, ...]
    taken_over: int = 0


def claim(db: Database, names: Sequence[str], holder: str, now: datetime,
          ttl: timedelta) -> Claimed:
    """Take the leases of `names` that are free, expired or already `holder`'s, until
    `now + ttl`; the others (held by a live worker) are left out of the answer."""
    got: list[str] = []
    taken_over = 0
    for start in range(0, len(names), BATCH):
        batch = list(dict.fromkeys(names[start:start + BATCH]))
        with db.session() as session:
            # Read first what was someone else's and has expired: what this claim takes over.
            stale = set(session.scalars(select(LeaseRow.name).where(
                LeaseRow.name.in_(batch), LeaseRow.holder != holder,
                LeaseRow.expires_at <= now)))
            insert = insert_for(session)
            statement = insert(LeaseRow).values(
                [{"name": n, "holder": holder, "expires_at": now + ttl, "taken_at": now}
                 for n in batch])
            statement = statement.on_conflict_do_update(
                index_elements=[LeaseRow.name],
                set_={"holder": statement.excluded.holder,
                      "expires_at": statement.excluded.expires_at,
                      "taken_at": statement.excluded.taken_at},
                where=or_(LeaseRow.expires_at <= now, LeaseRow.holder == holder),
            ).returning(LeaseRow.name)
            won = set(session.scalars(statement))
        got += [n for n in batch if n in won]
        taken_over += len(stale & won)
    return Claimed(tuple(got), taken_over)


def claim_one(db: Database, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """`claim` for one name: whether `holder` holds it now."""
    return bool(claim(db, [name], holder, now, ttl).names)


def release(db: Database, names: Iterable[str], holder: str) -> None:
    """Let go of these leases, if `holder` still holds them."""
    wanted = list(names)
    if not wanted:
        return
    with db.session() as session:
        session.execute(delete(LeaseRow).where(LeaseRow.name.in_(wanted),
                                               LeaseRow.holder == holder))


def release_all(db: Database, holder: str) -> None:
    """Let go of every lease `holder` holds (a worker stopping cleanly)."""
    with db.session() as session:
        session.execute(delete(LeaseRow).where(LeaseRow.holder == holder))


def renew(db: Database, holder: str, now: datetime, ttl: timedelta) -> int:
    """Move every lease `holder` still holds on to `now + ttl`; returns how many it holds."""
    with db.session() as session:
        result = session.execute(update(LeaseRow).where(
            LeaseRow.holder == holder, LeaseRow.expires_at > now
        ).values(expires_at=now + ttl))
        return int(result.rowcount)  # type: ignore[attr-defined]


def holders(db: Database) -> list[str]:
    """Every worker holding a lease, expired or not."""
    with db.session() as session:
        return list(session.scalars(select(LeaseRow.holder).distinct()))


def holder_of(db: Database, name: str, now: datetime) -> str | None:
    """Who holds the lease `name` now (None: nobody, or it has expired)."""
    with db.session() as session:
        return session.scalars(select(LeaseRow.holder).where(
            LeaseRow.name == name, LeaseRow.expires_at > now)).first()


def worker_seen(db: Database, worker_id: str, host: str, pid: int, now: datetime,
                error: str | None = None) -> None:
    """Record the worker as alive at `now` (its first call registers it)."""
    with db.session() as session:
        row = session.get(WorkerRow, worker_id)
        if row is None:
            session.add(WorkerRow(id=worker_id, host=host, pid=pid, started_at=now,
                                  seen_at=now, last_error=error))
            return
        row.seen_at, row.stopped_at = now, None
        if error is not None:
            row.last_error = error


def worker_stopped(db: Database, worker_id: str, now: datetime) -> None:
    """Record a clean stop (its leases are released separately)."""
    with db.session() as session:
        row = session.get(WorkerRow, worker_id)
        if row is not None:
            row.stopped_at = now


def held_of_kind(db: Database, kind: str, now: datetime) -> int:
    """How many live leases of `kind` (`feed`: feeds being polled right now) any worker
    holds."""
    with db.session() as session:
        return int(session.scalar(select(func.count()).where(
            LeaseRow.name.like(f"{kind}:%"), LeaseRow.expires_at > now)) or 0)

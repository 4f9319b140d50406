"""Queries of the Telegram updates taken in: each update handled once, whichever worker
polls or receives it, and the `getUpdates` offset a new poller starts from.

`first_time` is the one gate: an `INSERT … ON CONFLICT DO NOTHING` on the update's id (the
same statement on PostgreSQL and SQLite), so of two workers given the same update (a poller
that died before Telegram heard its offset, a webhook retried or sent to two workers behind
a load balancer) exactly one is told it is new.

The offset is the highest id taken in, asked only among recent rows (`last_update_id`'s
`since`): Telegram keeps an update 24 hours at most, and after a week without any it picks
the next id at random, possibly below every id stored; an old maximum given as the offset
would then confirm, that is drop, the new updates unseen.

`prune` keeps the table small; it never deletes the highest id, which is the offset.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from briefing.store.db import Database, insert_for
from briefing.store.models import TelegramUpdateRow


def first_time(db: Database, update_id: int, worker: str, now: datetime) -> bool:
    """Record the update as taken in by `worker` at `now`; whether this call recorded it
    (False: some worker, maybe this one, took it in before)."""
    with db.session() as session:
        insert = insert_for(session)
        statement = insert(TelegramUpdateRow).values(
            update_id=update_id, worker=worker, received_at=now,
        ).on_conflict_do_nothing(index_elements=[TelegramUpdateRow.update_id]).returning(
            TelegramUpdateRow.update_id)
        return session.scalars(statement).first() is not None


def last_update_id(db: Database, since: datetime | None = None) -> int | None:
    """The highest update id taken in (at or after `since`, when given); None: none."""
    query = select(func.max(TelegramUpdateRow.update_id))
    if since is not None:
        query = query.where(TelegramUpdateRow.received_at >= since)
    with db.session() as session:
        found = session.scalar(query)
    return None if found is None else int(found)


def taken_by(db: Database, update_id: int) -> str | None:
    """The worker that took the update in (None: nobody did, or it was pruned)."""
    with db.session() as session:
        return session.scalar(select(TelegramUpdateRow.worker).where(
            TelegramUpdateRow.update_id == update_id))


def prune(db: Database, before: datetime) -> int:
    """Forget the updates taken in before `before`, except the highest id of all; returns
    how many rows went."""
    with db.session() as session:
        highest = select(func.max(TelegramUpdateRow.update_id)).scalar_subquery()
        result = session.execute(delete(TelegramUpdateRow).where(
            TelegramUpdateRow.received_at < before, TelegramUpdateRow.update_id < highest))
        return int(result.rowcount)  # type: ignore[attr-defined]

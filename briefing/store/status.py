"""Queries of the fleet at a glance (`briefing status`, the outbox gauges of `/metrics`):
the workers and what each holds, the feeds due and failing, the stories waiting for a
brief, the outbox, and the last errors. Counts are computed in the database; nothing
here loads a table's rows to count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from briefing.store.db import Database
from briefing.store.deliveries import SENDING
from briefing.store.models import (
    FAILED,
    PENDING,
    DeliveryRow,
    FeedRow,
    LeaseRow,
    StoryRow,
    SubscriberRow,
    WorkerRow,
)

# A worker not seen for this long is shown as gone: the fleet's lease (its heartbeat is
# every quarter of it), after which the worker's leases have expired and others take them.
ALIVE_WITHIN = timedelta(seconds=60)
# Workers seen within this window are listed, the gone ones too (a crash shows).
LISTED_WITHIN = timedelta(hours=24)
LAST_ERRORS = 5
# The kinds of work leased (`kind:key`); a lease of another kind is counted as "other".
KINDS = ("feed", "story", "delivery", "job", "llm", "telegram")


@dataclass(frozen=True)
class WorkerStatus:
    """One worker: who, since when, last seen, and its live leases by kind."""

    id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    alive: bool
    stopped: bool
    holds: dict[str, int]
    last_error: str | None


@dataclass(frozen=True)
class HolderStatus:
    """A holder of live leases with no worker record in the window (a one-off command such
    as `briefing ingest` claims its work without a heartbeat), and what it holds."""

    id: str
    holds: dict[str, int]


@dataclass(frozen=True)
class FeedsStatus:
    """Active feeds, those due for a poll now, and those whose last poll failed."""

    active: int
    due: int
    failing: int


@dataclass(frozen=True)
class OutboxDepth:
    """Rows waiting to be sent, and the age in seconds of the oldest that is due (0 when
    none is due)."""

    depth: int
    oldest_due_seconds: float


@dataclass(frozen=True)
class OutboxStatus:
    """The outbox: waiting, due now, the oldest due row's age, and rows given up."""

    depth: int
    due: int
    oldest_due_seconds: float
    failed: int


@dataclass(frozen=True)
class LastError:
    """A recent error: where (feed, delivery, worker), which one, when (for a delivery its
    next try, for a worker when last seen; a feed keeps no time of its error), and what."""

    where: str
    name: str
    at: datetime | None
    error: str


@dataclass(frozen=True)
class FleetStatus:
    """Everything `briefing status` shows, as of `at`."""

    at: datetime
    workers: tuple[WorkerStatus, ...]
    other_holders: tuple[HolderStatus, ...]
    feeds: FeedsStatus
    stories_pending: int
    outbox: OutboxStatus
    last_errors: tuple[LastError, ...]


def _worker_of(holder: str) -> str:
    """The worker behind a lease holder: the poller holds its lease as `poller@<worker>`."""
    return holder.partition("@")[2] if "@" in holder else holder


def _holds(session: Session, now: datetime) -> dict[str, dict[str, int]]:
    """Live leases counted by worker and kind, in the database (a pass over 10,000 feeds
    holds as many leases: they are not read one by one)."""
    kind = case(*((LeaseRow.name.like(f"{k}:%"), k) for k in KINDS), else_="other")
    holds: dict[str, dict[str, int]] = {}
    for holder, name, count in session.execute(
            select(LeaseRow.holder, kind, func.count()).where(LeaseRow.expires_at > now)
            .group_by(LeaseRow.holder, kind)):
        counts = holds.setdefault(_worker_of(holder), {})
        counts[name] = counts.get(name, 0) + int(count)
    return holds


def outbox_depth(db: Database, now: datetime) -> OutboxDepth:
    """The outbox gauges, asked at each scrape: counts on the index of due rows
    (`ix_deliveries_due`), never a read of the rows."""
    status = _outbox(db, now)
    return OutboxDepth(status.depth, status.oldest_due_seconds)


def _outbox(db: Database, now: datetime) -> OutboxStatus:
    due_now = or_(DeliveryRow.next_attempt_at.is_(None), DeliveryRow.next_attempt_at <= now)
    with db.session() as session:
        depth = session.scalar(select(func.count()).where(DeliveryRow.state == PENDING)) or 0
        due, oldest = session.execute(
            select(func.count(), func.min(func.coalesce(DeliveryRow.next_attempt_at,
                                                        DeliveryRow.created_at)))
            .where(DeliveryRow.state == PENDING, due_now)).one()
        failed = session.scalar(select(func.count()).where(DeliveryRow.state == FAILED)) or 0
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return OutboxStatus(int(depth), int(due or 0), age, int(failed))


def fleet_status(db: Database, now: datetime,
                 alive_within: timedelta = ALIVE_WITHIN) -> FleetStatus:
    """The fleet as of `now`: a worker is alive when seen within `alive_within` and not
    stopped."""
    with db.session() as session:
        holds = _holds(session, now)
        rows = session.scalars(select(WorkerRow).where(WorkerRow.seen_at >= now - LISTED_WITHIN)
                               .order_by(WorkerRow.started_at.desc())).all()
        workers = tuple(WorkerStatus(
            r.id, r.host, r.pid, r.started_at, r.seen_at,
            alive=r.stopped_at is None and now - r.seen_at <= alive_within,
            stopped=r.stopped_at is not None, holds=holds.get(r.id, {}),
            last_error=r.last_error) for r in rows)
        listed = {w.id for w in workers}
        others = tuple(HolderStatus(holder, counts) for holder, counts in sorted(holds.items())
                       if holder not in listed)
        active = FeedRow.active.is_(True)
        feeds = FeedsStatus(
            int(session.scalar(select(func.count()).where(active)) or 0),
            int(session.scalar(select(func.count()).where(
                active, or_(FeedRow.next_poll_at.is_(None), FeedRow.next_poll_at <= now)))
                or 0),
            int(session.scalar(select(func.count()).where(active, FeedRow.errors > 0)) or 0))
        pending = int(session.scalar(select(func.count()).where(
            StoryRow.summarised_version < StoryRow.version)) or 0)
        errors = [LastError("feed", url, None, str(error)) for url, error in session.execute(
            select(FeedRow.url, FeedRow.last_error)
            .where(active, FeedRow.errors > 0, FeedRow.last_error.is_not(None))
            .order_by(FeedRow.next_poll_at.desc()).limit(LAST_ERRORS))]
        errors += [LastError("delivery", f"{kind} to {chat}", at, str(error))
                   for kind, chat, at, error in session.execute(
                       select(DeliveryRow.kind, SubscriberRow.chat_id,
                              DeliveryRow.next_attempt_at, DeliveryRow.last_error)
                       .join(SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id)
                       # Waiting for a retry, or given up; SENDING marks a send under
                       # way, not an error.
                       .where(DeliveryRow.last_error.is_not(None),
                              DeliveryRow.last_error != SENDING,
                              DeliveryRow.state.in_((PENDING, FAILED)))
                       .order_by(DeliveryRow.id.desc()).limit(LAST_ERRORS))]
    errors += [LastError("worker", w.id, w.seen_at, w.last_error)
               for w in workers if w.last_error]
    return FleetStatus(now, workers, others, feeds, pending, _outbox(db, now), tuple(errors))

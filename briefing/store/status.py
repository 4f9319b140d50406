"""Queries of the fleet at a glance (`briefing status`, the outbox gauges of `/metrics`):
the workers and what each holds, the feeds due and failing, the stories waiting for a
brief, the outbox, and the last errors. Counts are computed in the database; nothing
here loads a table's rows to count them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from briefing.store.db import Database
from briefing.store.models import (
    FAILED,
    PENDING,
    SENT,
    DeliveryRow,
    FeedRow,
    LeaseRow,
    StoryRow,
    SubscriberRow,
    WorkerRow,
)

# A worker not seen for this long is shown as gone (its heartbeat is every 15 s).
ALIVE_WITHIN = timedelta(seconds=60)
# Workers seen within this window are listed, the gone ones too (a crash shows).
LISTED_WITHIN = timedelta(hours=24)
LAST_ERRORS = 5


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
    feeds: FeedsStatus
    stories_pending: int
    outbox: OutboxStatus
    last_errors: tuple[LastError, ...]


def _worker_of(holder: str) -> str:
    """The worker behind a lease holder: the poller holds its lease as `poller@<worker>`."""
    return holder.partition("@")[2] if "@" in holder else holder


def _kind_of(lease: str) -> str:
    return lease.partition(":")[0]


def outbox_depth(db: Database, now: datetime) -> OutboxDepth:
    """The outbox gauges, asked at each scrape: two aggregate queries."""
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


def fleet_status(db: Database, now: datetime) -> FleetStatus:
    """The fleet as of `now`."""
    with db.session() as session:
        holds: dict[str, Counter[str]] = {}
        for name, holder in session.execute(select(LeaseRow.name, LeaseRow.holder)
                                            .where(LeaseRow.expires_at > now)):
            holds.setdefault(_worker_of(holder), Counter())[_kind_of(name)] += 1
        rows = session.scalars(select(WorkerRow).where(WorkerRow.seen_at >= now - LISTED_WITHIN)
                               .order_by(WorkerRow.started_at.desc())).all()
        workers = tuple(WorkerStatus(
            r.id, r.host, r.pid, r.started_at, r.seen_at,
            alive=r.stopped_at is None and now - r.seen_at <= ALIVE_WITHIN,
            stopped=r.stopped_at is not None, holds=dict(holds.get(r.id, {})),
            last_error=r.last_error) for r in rows)
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
                       .where(DeliveryRow.last_error.is_not(None),
                              DeliveryRow.state != SENT)
                       .order_by(DeliveryRow.id.desc()).limit(LAST_ERRORS))]
    errors += [LastError("worker", w.id, w.seen_at, w.last_error)
               for w in workers if w.last_error]
    return FleetStatus(now, workers, feeds, pending, _outbox(db, now), tuple(errors))

"""`briefing run`: the scheduler that drives ingestion, summaries and deliveries.

Jobs (APScheduler, on the asyncio loop the Telegram bot shares):
- every `service.poll_minutes`: poll the folder and the due feeds, then
  summarise the pending stories (blocking work runs in threads);
- every minute: queue the digests that are due and send the outbox.
Nothing lives only in memory: every state is in the store, so a restart
resumes where the last run stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from briefing.clock import utcnow
from briefing.config import Settings
from briefing.service.digests import schedule_digests
from briefing.service.fleet import Fleet, Worker
from briefing.service.folder import REJECTED_STATE, FolderWatcher, IngestReport
from briefing.service.ingest import FEED, FeedReport, ingest_feeds
from briefing.service.live import schedule_live
from briefing.service.outbox import Channel, deliver_pending
from briefing.service.summaries import EngineFactory, summarise_pending
from briefing.store.db import Database
from briefing.store.leases import held_of_kind
from briefing.store.stories import any_unbriefed

log = logging.getLogger(__name__)
# Delivery rounds (one a `deliver_seconds`) digests wait at most for stories other workers
# are briefing.
QUEUE_PATIENCE = 10
Clock = Callable[[], datetime]
# Tells the administrators that a feed has started failing (the bot sends it).
Alert = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did: `briefing run` prints it as one line."""

    ingested: int = 0  # new articles, folder and feeds
    duplicates: int = 0  # articles already known
    briefed: tuple[int, ...] = ()  # stories given a new brief
    waiting: int = 0  # stories whose brief failed and waits for the next cycle
    delivered: int = 0  # digests sent since the previous cycle
    errors: tuple[str, ...] = ()  # one line each: a feed, a file or a story
    # Feeds that started failing in this cycle: (url, error).
    started_failing: tuple[tuple[str, str], ...] = ()


class Service:
    """The jobs of the service, over one store and one delivery channel."""

    def __init__(self, settings: Settings, db: Database, channel: Channel,
                 clock: Clock = utcnow, engine_factory: EngineFactory | None = None,
                 on_cycle: Callable[[CycleReport], None] | None = None,
                 alert: Alert | None = None, worker: Worker | None = None) -> None:
        self.settings, self.db, self.channel, self.clock = settings, db, channel, clock
        # This process among the workers sharing the store: its claims and heartbeat.
        self.fleet = Fleet(db, worker, clock)
        self.engine_factory = engine_factory
        self.on_cycle = on_cycle
        self.alert = alert
        # The rejected files are remembered in the data folder: a restart does not report
        # the same file again until it changes.
        self.folder = FolderWatcher(Path(settings.sources.folder),
                                    max_bytes=settings.fetch.max_bytes, clock=clock,
                                    state=Path(settings.store.data_dir) / REJECTED_STATE)
        # Digests sent since the last cycle report; only the event loop's thread touches it.
        self.delivered = 0
        self.waited = 0  # delivery rounds the queue has waited for other workers' briefs
        self.cycle_lock = asyncio.Lock()
        self.ready = asyncio.Event()  # set after the first cycle: digests wait for summaries

    def ingest(self) -> tuple[IngestReport, FeedReport]:
        """Pick up new articles from the folder and the feeds (blocking)."""
        # Workers of one machine share its folder (and its state file): one reads it at a time.
        here = f"folder:{self.fleet.worker.host}:{self.folder.folder.resolve()}"
        with self.fleet.alone(here) as mine:
            folder = self.folder.ingest(self.db) if mine else IngestReport()
        # The schedule: only the feeds that are due (backoff keeps failing ones waiting).
        feeds = ingest_feeds(self.db, self.clock(), self.settings, due_only=True,
                             fleet=self.fleet)
        log.info("ingest: %d from the folder, %d from %d feeds", folder.stored, feeds.stored,
                 feeds.polled)
        return folder, feeds

    async def cycle(self) -> CycleReport:
        """Ingest, then summarise what is pending; returns (and passes to `on_cycle`) what
        the cycle did."""
        async with self.cycle_lock:
            folder, feeds = await asyncio.to_thread(self.ingest)
            summaries = await asyncio.to_thread(
                summarise_pending, self.db, self.settings, self.engine_factory, self.clock,
                self.fleet)
            log.info("summarised %d stories, %d waiting", len(summaries.summarised),
                     len(summaries.failed))
        self.ready.set()
        errors = (*folder.rejected, *(f"{url}: {why}" for url, why in feeds.errors.items()),
                  *(f"story {i}: {why}" for i, why in summaries.failed.items()))
        report = CycleReport(folder.stored + feeds.stored, folder.duplicates + feeds.duplicates,
                             tuple(summaries.summarised), len(summaries.failed),
                             self.delivered, errors, tuple(feeds.started_failing.items()))
        self.delivered = 0
        if self.alert is not None:
            for url, error in report.started_failing:
                await self.alert(url, error)
        if self.on_cycle is not None:
            self.on_cycle(report)
        return report

    async def deliver(self) -> None:
        """Queue the digests, live posts and updates that are due, then send the outbox."""
        if not self.ready.is_set():
            return  # a digest composed before the first summaries would miss today's news
        now = self.clock()
        # Only what to send is queued; the channel renders each digest when it goes out.
        await asyncio.to_thread(self.queue, now)
        sent = await deliver_pending(self.db, self.channel, now, self.settings, self.fleet)
        self.delivered += sent.sent

    def queue(self, now: datetime) -> None:
        """Queue the due digests and live posts: one worker at a time does it (blocking).

        While feeds are being polled or new stories wait for their first brief, digests
        wait for those briefs: a worker's first cycle may have found every feed and story
        held by others, so its own summaries being done says nothing of the fleet's. Not
        for more than `QUEUE_PATIENCE` rounds: under a constant stream, or with the LLM
        down, some story is always waiting.
        """
        if self.waited < QUEUE_PATIENCE and self.briefs_under_way(now):
            self.waited += 1
            return
        self.waited = 0
        with self.fleet.alone("queue") as mine:
            if mine:
                schedule_digests(self.db, now, self.settings)
                schedule_live(self.db, now, self.settings)

    def briefs_under_way(self, now: datetime) -> bool:
        """Whether any worker is polling a feed, or a story waits for its first brief (one
        waiting for a re-brief is in the digest already, with its earlier brief)."""
        return bool(held_of_kind(self.db, FEED, now) or any_unbriefed(self.db))

    async def heartbeat(self) -> None:
        """Say this worker is alive and renew its claims."""
        await asyncio.to_thread(self.fleet.beat)

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Register the jobs; the first cycle starts at once."""
        minutes = self.settings.service.poll_minutes
        options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
        scheduler.add_job(self.cycle, "interval", minutes=minutes, id="cycle",
                          next_run_time=self.clock(), **options)
        scheduler.add_job(self.deliver, "interval", seconds=self.settings.service.deliver_seconds,
                          id="deliver",
                          next_run_time=self.clock(), **options)
        beat = self.fleet.worker.lease.total_seconds() / 4
        scheduler.add_job(self.heartbeat, "interval", seconds=beat, id="heartbeat",
                          **options)


async def run_service(service: Service, stop: asyncio.Event) -> None:
    """Run the scheduler until `stop` is set."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    # Registered, and the claims of a crashed run of this machine let go, before any work.
    await service.heartbeat()
    service.schedule(scheduler)
    scheduler.start()
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.to_thread(service.fleet.stop)

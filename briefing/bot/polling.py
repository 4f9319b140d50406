"""How Telegram's updates come in when several workers share one store: one poller at a
time, and every update handled once.

**Taking in.** `take_in`, a `TypeHandler(Update)` in group `GROUP` (before the gate, in
group -1), records each update's id in the store (`briefing.store.updates.first_time`)
before any handler sees it, and stops an update some worker already took in. That holds in
both modes: a poller that died after handling an update but before Telegram heard the next
offset, a webhook delivery Telegram retried, or the same update sent to two workers behind
a load balancer, are all handled once.

**One poller.** Two `getUpdates` waiting at once make Telegram answer 409, so only the
holder of the lease `POLLER_LEASE` polls (`Poller`). The lease is short (`Leadership.ttl`,
20 s) and renewed every `renew_every` (5 s) by the leader; a follower asks for it every
`retry_every` (3 s). A leader that dies is thus replaced within `ttl + retry_every` (23 s).
Its holder is `poller@<worker id>`, not the worker's id: `Fleet.beat` renews every lease
of the worker's id with the worker's 60 s ttl (which would stretch the takeover), and it
lets go of the leases of a holder `host:pid:…` whose pid is its own under another id
(which `<worker id>/poller` would be). A leader whose renewal fails, or does not answer
before its lease would end, stops polling at once (its long poll cancelled) and becomes a
follower; a clean stop lets go of the lease (`polling`).

**The offset is the store's.** The poller does not use PTB's `Updater.start_polling`:
that confirms updates to Telegram (its next `getUpdates` offset) as soon as they are in the
application's queue, so a worker killed with a queue of them would lose them all. Here each
`getUpdates` passes `offset` = the highest id taken in, plus one (`Intake.offset`), and the
poller asks again only once what it fetched has passed `take_in` (`Intake.drained`):
Telegram confirms only what the store has, and a new leader's first `getUpdates` confirms
what the old one took in. Between the old leader's end and the new one's first poll,
updates wait at Telegram. An update whose record failed (the store down) is stopped and
fetched again (the offset stays below it). What can still go missing is the update a
worker was handling when it died: recorded, so not handled again.

**Webhook.** With `telegram.webhook_url` every worker serves the webhook (PTB's server),
no lease; `take_in` makes a duplicate delivery harmless. There the store being down lets
the update through unrecorded (Telegram has had its 200: refusing it would lose it).

**SQLite.** One process: its claim is always granted, and it polls as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram import Update
from telegram.error import Conflict, TimedOut
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from briefing.bot.state import state_of
from briefing.clock import utcnow
from briefing.metrics import LEASE_TAKEOVERS
from briefing.service.fleet import Worker
from briefing.store.db import Database
from briefing.store.leases import claim, release
from briefing.store.updates import first_time, last_update_id, prune

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

INTAKE = "briefing.intake"  # the application's `Intake`, in `bot_data`
POLLER_LEASE = "telegram:poller"
GROUP = -100  # `take_in`'s handler group: before the gate (-1) and every other handler
# Telegram keeps an update 24 hours: an id older than that can come neither again nor as
# the offset (and after a week without updates Telegram numbers them anew, maybe lower).
RECENT = timedelta(hours=24)
KEEP = timedelta(days=3)  # ids taken in are kept this long (the highest always)
PRUNE_EVERY = 3600.0  # seconds between two prunings by one process
SETTLE = 60.0  # seconds the poller waits for what it fetched to be taken in
BACKOFF = (1.0, 30.0)  # seconds between two failed polls: first, at most


@dataclass(frozen=True)
class Leadership:
    """The poller lease's timings. A dead leader is replaced within `ttl + retry_every`."""

    ttl: timedelta = timedelta(seconds=20)
    renew_every: float = 5.0  # seconds between two renewals by the leader
    retry_every: float = 3.0  # seconds between two claims by a follower

    def __post_init__(self) -> None:
        if not 0 < self.renew_every < self.ttl.total_seconds():
            raise ValueError("the poller lease must be renewed more often than it lasts")

    @property
    def takeover_within(self) -> float:
        """Seconds after a leader's last renewal by which a follower polls, at most."""
        return self.ttl.total_seconds() + self.retry_every


def poller_holder(worker: Worker) -> str:
    """The holder name of `worker`'s poller lease."""
    return f"poller@{worker.id}"


class Intake:
    """This process's account of the updates between `getUpdates` and `take_in`: those
    fetched and not yet taken in (`in_flight`), and those whose record failed (`failed`,
    fetched again), for the poller's offset and its wait."""

    def __init__(self, worker: str) -> None:
        self.worker = worker  # who `first_time` says took an update in
        self.polled = False  # the updates come from our poller (else from a webhook)
        self.in_flight: set[int] = set()
        self.failed: set[int] = set()
        self.pruned_at: float | None = None  # time.monotonic() of the last pruning
        self._changed: asyncio.Event | None = None  # made where it is awaited (its loop)

    def offset(self, last: int | None) -> int | None:
        """The `getUpdates` offset: past the highest id taken in (`last`), but not past an
        update whose record failed; None (Telegram's own) when there is neither."""
        candidates = ([last + 1] if last is not None else []) + sorted(self.failed)[:1]
        return min(candidates) if candidates else None

    def fetched(self, updates: Sequence[Update]) -> list[Update]:
        """The updates of a poll not already on their way to `take_in`, now counted in."""
        fresh = [u for u in updates if u.update_id not in self.in_flight]
        self.in_flight.update(u.update_id for u in fresh)
        return fresh

    def settled(self, update_id: int, recorded: bool) -> None:
        """`take_in` is done with this update: recorded (or known already), or not."""
        self.in_flight.discard(update_id)
        if recorded:
            self.failed.discard(update_id)
        else:
            self.failed.add(update_id)
        if self._changed is not None:
            self._changed.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until every update fetched has been taken in; False after `timeout`
        seconds, the stragglers then forgotten (fetched again, and dropped by `take_in`
        if they were taken in meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.in_flight:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("%d updates not taken in after %.0f s: asking Telegram again",
                            len(self.in_flight), timeout)
                self.in_flight.clear()
                return False
            self._changed = asyncio.Event()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    def new_term(self) -> None:
        """A new term as poller: the store's offset holds; the failures of an earlier term
        were fetched by whoever polled meanwhile."""
        self.failed.clear()


def intake_of(application: Application) -> Intake:  # type: ignore[type-arg]
    """The application's intake (made by `install`)."""
    intake: Intake = application.bot_data[INTAKE]
    return intake


def install(application: Application, worker: Worker) -> Intake:  # type: ignore[type-arg]
    """Put `take_in` before every handler of `application`, recording as `worker`."""
    intake = Intake(worker.id)
    application.bot_data[INTAKE] = intake
    application.add_handler(TypeHandler(Update, take_in), group=GROUP)
    return intake


async def take_in(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record the update as taken in by this worker; stop it when some worker already did."""
    intake, state = intake_of(context.application), state_of(context)
    now = state.clock()
    try:
        new = await asyncio.to_thread(first_time, state.db, update.update_id, intake.worker,
                                      now)
    except Exception:  # the store is down (any driver's error): see the module's docstring
        intake.settled(update.update_id, recorded=False)
        if intake.polled:
            log.warning("could not record update %d: it will be fetched again",
                        update.update_id, exc_info=True)
            raise ApplicationHandlerStop from None
        log.warning("could not record update %d: handled unrecorded", update.update_id,
                    exc_info=True)
        return
    intake.settled(update.update_id, recorded=True)
    if not new:
        log.info("update %d was taken in already: dropped", update.update_id)
        raise ApplicationHandlerStop
    await _prune_now_and_then(intake, state.db, now)


async def _prune_now_and_then(intake: Intake, db: Database, now: datetime) -> None:
    if intake.pruned_at is not None and time.monotonic() - intake.pruned_at < PRUNE_EVERY:
        return
    intake.pruned_at = time.monotonic()
    try:
        gone = await asyncio.to_thread(prune, db, now - KEEP)
    except Exception:  # a pruning missed is tried again in an hour
        log.warning("could not prune the updates taken in", exc_info=True)
        return
    if gone:
        log.debug("forgot %d updates taken in before %s", gone, now - KEEP)


class Poller:
    """The long poll of one worker, while it holds the poller lease (`run`)."""

    def __init__(self, application: Application, db: Database,  # type: ignore[type-arg]
                 worker: Worker, *, leadership: Leadership | None = None,
                 poll_timeout: int = 10, poll_interval: float = 0.0,
                 allowed_updates: Sequence[str] | None = None, clock: Clock = utcnow) -> None:
        self.application, self.db, self.clock = application, db, clock
        self.holder = poller_holder(worker)
        self.leadership = leadership or Leadership()
        self.poll_timeout, self.poll_interval = poll_timeout, poll_interval
        self.allowed_updates = allowed_updates
        self.intake = intake_of(application)
        self.leading = False
        self.terms = 0  # how many times this worker became the poller
        self.valid_until = 0.0  # time.monotonic() when the lease held ends, at the latest

    async def run(self) -> None:
        """Poll while holding the lease, ask for it again while not; until cancelled."""
        while True:
            if await self._claim():
                await self._lead()
            await asyncio.sleep(self.leadership.retry_every)

    async def let_go(self) -> None:
        """Release the lease (a clean stop), so a follower takes over at its next ask."""
        try:
            await asyncio.to_thread(release, self.db, [POLLER_LEASE], self.holder)
        except Exception:  # it ends with its ttl anyway
            log.warning("could not release the poller lease", exc_info=True)

    async def _claim(self) -> bool:
        """Take or keep the lease; False when another worker holds it or the store fails."""
        asked = time.monotonic()  # the lease runs from before the ask, to be safe
        try:
            got = await asyncio.to_thread(claim, self.db, [POLLER_LEASE], self.holder,
                                          self.clock(), self.leadership.ttl)
        except Exception:
            log.warning("could not ask for the poller lease", exc_info=True)
            return False
        if got.taken_over:
            log.info("took over polling Telegram from a worker gone quiet")
            LEASE_TAKEOVERS.labels(kind="poller").inc()
        if got.names:
            self.valid_until = asked + self.leadership.ttl.total_seconds()
        return bool(got.names)

    async def _lead(self) -> None:
        """One term as poller: poll, renewing the lease, until a renewal fails."""
        self.leading, self.terms = True, self.terms + 1
        self.intake.new_term()
        log.info("this worker polls Telegram now (%s)", self.holder)
        poll = asyncio.create_task(self._poll(), name="telegram poll")
        try:
            while True:
                done, _ = await asyncio.wait({poll}, timeout=self.leadership.renew_every)
                if done:  # `_poll` only ends on a bug: let another worker try
                    log.error("polling stopped", exc_info=poll.exception())
                    await self.let_go()
                    return
                # A renewal not answered before the lease would end is a lease lost.
                left = self.valid_until - time.monotonic()
                try:
                    kept = left > 0 and await asyncio.wait_for(self._claim(), left)
                except TimeoutError:
                    kept = False
                if not kept:
                    log.warning("lost the poller lease: this worker stops polling")
                    return
        finally:
            self.leading = False
            poll.cancel()
            with suppress(asyncio.CancelledError):
                await poll

    async def _poll(self) -> None:
        """`getUpdates` from the store's offset, into the application's queue."""
        bot, webhook_gone = self.application.bot, False
        pause = BACKOFF[0]
        while True:
            try:
                if not webhook_gone:  # as PTB's polling does: no getUpdates while it is set
                    await bot.delete_webhook()
                    webhook_gone = True
                last = await asyncio.to_thread(last_update_id, self.db, self.clock() - RECENT)
                updates = await bot.get_updates(offset=self.intake.offset(last),
                                                timeout=self.poll_timeout,
                                                allowed_updates=self.allowed_updates)
            except TimedOut:  # a long poll that outlived its read timeout
                continue
            except Conflict:
                log.warning("Telegram says another getUpdates is waiting (409)")
                await asyncio.sleep(pause)
                pause = min(pause * 2, BACKOFF[1])
                continue
            except Exception:  # Telegram or the store unreachable, a bad answer
                log.warning("polling Telegram failed; trying again in %.0f s", pause,
                            exc_info=True)
                await asyncio.sleep(pause)
                pause = min(pause * 2, BACKOFF[1])
                continue
            pause = BACKOFF[0]
            await self._queue(self.intake.fetched(updates))
            if self.poll_interval:
                await asyncio.sleep(self.poll_interval)

    async def _queue(self, updates: Iterable[Update]) -> None:
        queued = False
        for update in updates:
            await self.application.update_queue.put(update)
            queued = True
        if queued:
            await self.intake.drained(SETTLE)


@asynccontextmanager
async def polling(application: Application, db: Database,  # type: ignore[type-arg]
                  worker: Worker, *, leadership: Leadership | None = None,
                  poll_timeout: int = 10, poll_interval: float = 0.0,
                  clock: Clock = utcnow) -> AsyncIterator[Poller]:
    """The worker's `Poller` running for the duration of the block (the application
    started); the lease let go after it."""
    poller = Poller(application, db, worker, leadership=leadership, poll_timeout=poll_timeout,
                    poll_interval=poll_interval, clock=clock)
    intake_of(application).polled = True
    task = asyncio.create_task(poller.run(), name="telegram poller")
    try:
        yield poller
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await poller.let_go()

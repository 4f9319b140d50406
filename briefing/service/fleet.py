"""Several `briefing run` processes on one store: who this worker is, and its claims.

Each process is a `Worker` with an id of its own (host, pid and a random part). Before it
polls a feed, briefs a story, sends an outbox row or runs a job that must run once (queue
the digests), it claims a lease on it in the store (`briefing.store.leases`); what another
live worker holds is left to it. The heartbeat (`Fleet.beat`) says the worker is alive and
renews its leases; a worker killed outright loses them after `Worker.lease` and another
takes its work over. A worker alone on its store claims the same way: it always gets what
it asks for, at the cost of a few small writes.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from briefing.clock import utcnow
from briefing.metrics import LEASE_TAKEOVERS
from briefing.store.db import Database
from briefing.store.leases import (
    claim,
    claim_one,
    holders,
    release,
    release_all,
    renew,
    worker_seen,
    worker_stopped,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# A worker's claims outlive it by this much at most; its heartbeat renews them every
# `LEASE / 4`, so a worker alive holds them as long as its work takes.
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Worker:
    """One `briefing run` process (or one command) as its claims name it."""

    id: str
    host: str
    pid: int
    lease: timedelta = LEASE


def new_worker(lease: timedelta = LEASE) -> Worker:
    """A worker with a fresh id: `host:pid:random` (the random part tells apart two
    processes that got the same pid on two machines with the same host name)."""
    host = socket.gethostname() or "localhost"
    pid = os.getpid()
    return Worker(f"{host}:{pid}:{secrets.token_hex(3)}", host, pid, lease)


@cache
def this_process() -> Worker:
    """The worker of this process, for the callers that are not given one."""
    return new_worker()


def lease_name(kind: str, key: object) -> str:
    """The lease of one piece of work: `feed:12`, `story:7`, `delivery:30`."""
    return f"{kind}:{key}"


def gone_from_this_host(holder: str, me: Worker) -> bool:
    """Whether the worker `holder` ran on this machine and is dead: its pid runs nothing,
    or it is ours under another id (an earlier run of this process: in a container, the
    service is pid 1 at every start)."""
    host, _, rest = holder.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != me.host or holder == me.id or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == me.pid:
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


class Fleet:
    """A worker's claims on shared work, and its heartbeat."""

    def __init__(self, db: Database, worker: Worker | None = None,
                 clock: Clock = utcnow) -> None:
        self.db, self.clock = db, clock
        self.worker = worker or this_process()

    def take(self, kind: str, ids: Sequence[int]) -> list[int]:
        """The ids among `ids` this worker now holds (in their order); the others are held
        by another live worker."""
        if not ids:
            return []
        names = {lease_name(kind, i): i for i in ids}
        got = claim(self.db, list(names), self.worker.id, self.clock(), self.worker.lease)
        if got.taken_over:
            log.info("took over %d %s leases of a worker gone quiet", got.taken_over, kind)
            LEASE_TAKEOVERS.labels(kind=kind).inc(got.taken_over)
        held = set(got.names)
        return [i for name, i in names.items() if name in held]

    def done(self, kind: str, ids: Sequence[int]) -> None:
        """Let go of these claims (the work is done, or left for another worker)."""
        release(self.db, [lease_name(kind, i) for i in ids], self.worker.id)

    @contextmanager
    def alone(self, job: str) -> Iterator[bool]:
        """Whether this worker runs `job` now (no other worker is running it); the lease is
        let go after the block."""
        name = lease_name("job", job)
        got = claim_one(self.db, name, self.worker.id, self.clock(), self.worker.lease)
        try:
            yield got
        finally:
            if got:
                release(self.db, [name], self.worker.id)

    def beat(self, error: str | None = None) -> int:
        """Say this worker is alive and renew its claims; returns how many it holds.

        The claims of a dead worker of this machine are let go at once, not when they
        expire: a service restarted after a crash takes its work back without waiting."""
        now = self.clock()
        worker_seen(self.db, self.worker.id, self.worker.host, self.worker.pid, now, error)
        for holder in holders(self.db):
            if gone_from_this_host(holder, self.worker):
                log.info("letting go of the claims of %s: that process is gone", holder)
                release_all(self.db, holder)
        return renew(self.db, self.worker.id, now, self.worker.lease)

    def stop(self) -> None:
        """A clean stop: every claim let go at once, so no work waits for a lease to end."""
        release_all(self.db, self.worker.id)
        worker_stopped(self.db, self.worker.id, self.clock())

"""Fan-out of one digest to 1,000 subscribers through the outbox, against the fake Bot API.

Target (from the issue): delivered messages per second >= 27 (90 % of Telegram's
30 messages/s), 429s served <= 1 % of sends, no lost and no duplicate delivery.

1. A fresh SQLite store (temporary directory, migrations applied) holds 3
   summarised stories (French briefs, 1 or 2 articles each) and N active
   subscribers (distinct chat ids, French, digest at 07:30 Europe/Paris).
   `schedule_digests(db, NOW, settings, channel.render_digest)` queues one
   pending outbox row per subscriber: a one-part Telegram HTML digest of about
   1,500 characters, as the service queues it.
2. `FakeTelegram()` (30 messages/s overall, 1/s per chat, 429 + retry_after over
   the limits) runs in a child process, as a remote server would (`--in-process`
   runs it in this process, as the tests do: its HTML parsing then competes with
   the sender for the GIL). A `telegram.Bot` at its base URL and a
   `TelegramChannel(bot, limiter)` carry the messages.
3. `deliver_pending(db, channel, now, settings)` is called until no row is
   pending (some variants below change the driver or the cadence). A row that
   failed (e.g. `RetryLater` after repeated 429s) gets a `next_attempt_at` in
   the future; the next pass (back to back) is then given `now` = the latest
   such time, and the retried rows are counted.

Measured per run: the span from the first to the last accepted `sendMessage`
(arrival times recorded by the fake), delivered messages / s = (delivered - 1) /
span, the end-to-end rate over the whole delivery loop, the digests'
`sendMessage` requests and the 429s served to them (HTTP statuses recorded by the
fake; `fake.too_many` also counts the side traffic's) as % of those requests,
lost subscribers (no message) and duplicates (more than one copy), each copy
checked against the queued text. A breakdown per message says where the time goes: waiting in the
`RateLimiter`, the HTTP round trip (`bot.send_message` through the fake), the
store (every `db.session()` block: the due query, loading the row, committing the
part), and the rest (the event loop, PTB object building).

Variants ("seq": the project's `deliver_pending` called back to back; "svc": on
the service's cadence; "one" and "conc": drivers that exist in this benchmark
only, built on the project's `due_deliveries` and `send_delivery`):

- `seq-30`: `TelegramChannel(bot)`, i.e. `RateLimiter()` at 30/s, and
  `deliver_pending` as the project has it: the configuration the issue judges.
  (Since commit 86a0b93 it sends `service.delivery_concurrency` rows at once and
  drains every due row; before, it sent at most 500 rows one at a time.)
- `seq-29`: the same with `RateLimiter(overall=29.0)`, a 1/s safety margin.
- `svc-30`: `deliver_pending` started every `service.deliver_seconds` (60 s), as
  `Service.schedule` runs it, instead of back to back; `now` follows the clock.
- `seq-30-side`, `seq-29-side`: as `seq-30` / `seq-29`, while the same bot sends
  1 other message/s (to other chats) straight through `bot.send_message`, as the
  bot's handlers send their replies, outside the channel's `RateLimiter`.
- `seq-ceiling`: no limit anywhere (`RateLimiter(overall=1e6)`,
  `FakeTelegram(global_rate=0)`): how fast `deliver_pending` itself can go.
- `seq-30-rtt50`: as `seq-30` with a 50 ms network round trip added to every
  Bot API call (`BenchRequest`, a PTB `HTTPXRequest` that sleeps 25 ms before
  and after each request; an assumed figure for api.telegram.org, where loopback
  to the fake costs nothing).
- `one-30-rtt50`, `one-ceiling` (and `one-30`, not run by default): the
  previous `deliver_pending` (one row at a time, at most 500 per call), for
  comparison.
- `conc-4-30`, `conc-4-30-rtt50` (not run by default): 4 rows in flight, at
  most 500 per call.

Timing wrappers (`TimedLimiter`, `TimedChannel`, `TimedDatabase`, and the bot's
`BenchRequest`) subclass the project's or PTB's classes and only add
`time.perf_counter` around the inherited calls. Each run also records this
process's CPU per message, the longest store block and Bot API request, and the
machine's load average: on a shared 2-core machine, other work shows up as
stalls (a long gap between two sends) that the figures must be read with.
`--profile` also runs one extra `seq-30` delivery under cProfile (untimed) and
prints the functions with the most own time.

Run: .venv/bin/python bench/fanout.py                     (3 runs x 9 variants x 1,000; ~15 min)
     .venv/bin/python bench/fanout.py --variants seq-30     (the issue's figure only; ~2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import multiprocessing
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from common import ROOT, median, percentile, print_table, write_results
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from briefing.bot.channel import RateLimiter, TelegramChannel
from briefing.config import Settings, load_settings
from briefing.service.digests import schedule_digests
from briefing.service.outbox import DeliveryReport, deliver_pending, due_deliveries, send_delivery
from briefing.store.db import Database, make_engine, upgrade
from briefing.store.models import (
    PENDING,
    SENT,
    ArticleRow,
    BriefRow,
    DeliveryRow,
    StoryRow,
    SubscriberRow,
)

sys.path.insert(0, str(ROOT))
from tests.fakes.telegram_server import FakeTelegram

TARGET_RATE = 27.0  # delivered messages / s (90 % of the limit)
TELEGRAM_LIMIT = 30.0
TARGET_429_PCT = 1.0
NOW = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 in Paris: the 07:30 digest is due
FIRST_CHAT = 500_000_001
SETTINGS = load_settings(env={})  # built-in defaults: no local briefing.toml, no environment
MAX_PASSES = 20

# --------------------------------------------------------------------------- the store

STORIES: tuple[dict[str, Any], ...] = (
    {
        "title": "Le Parlement adopte la réforme du logement social",
        "articles": (("Le Quotidien", "https://lequotidien.example/logement"),
                     ("La Gazette", "https://lagazette.example/2025/03/09/hlm")),
        "headline": "Le Parlement adopte la réforme du logement social",
        "points": (
            "30 % de logements sociaux exigés dans les communes de plus de 3 500 habitants "
            "d'ici 2030.",
            "Amendes doublées pour les maires récalcitrants & permis repris par les préfets.",
        ),
        "quote": "Plus aucune commune ne pourra s'exonérer",
    },
    {
        "title": "Grève dans les transports: le trafic très perturbé lundi",
        "articles": (("Le Courrier", "https://lecourrier.example/greve"),),
        "headline": "Grève : un train sur trois lundi en Île-de-France",
        "points": (
            "Les syndicats réclament 6 % de hausse <après> deux ans de gel des salaires.",
            "La direction propose 2,5 % et une prime de 400 euros.",
        ),
        "quote": "Sans geste fort, le mouvement sera reconduit mercredi",
    },
    {
        "title": "Climat: l'Europe relève son objectif pour 2040",
        "articles": (("L'Éclaireur", "https://leclaireur.example/climat-2040"),
                     ("Le Réveil", None)),
        "headline": "Climat : Bruxelles vise -90 % d'émissions en 2040",
        "points": (
            "Crédits carbone internationaux limités à 3 %.",
            "Plusieurs États demandent des flexibilités pour l'agriculture.",
        ),
        "quote": "Un objectif ambitieux mais atteignable",
    },
)


def build_store(path: Path, subscribers: int) -> TimedDatabase:
    """A fresh migrated store with the stories and `subscribers` French readers."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    db = TimedDatabase(engine)
    with db.session() as session:
        for number, spec in enumerate(STORIES, start=1):
            published = NOW - timedelta(hours=10 - number)
            story = StoryRow(title=spec["title"], language="fr", version=1, summarised_version=1,
                          first_published=published, last_published=published)
            session.add(story)
            session.flush()
            for index, (outlet, url) in enumerate(spec["articles"]):
                session.add(ArticleRow(
                    content_hash=f"{number:02d}{index:02d}".ljust(64, "0"), url=url,
                    title=spec["title"], outlet=outlet, published=published, language="fr",
                    text=f"{spec['quote']}. " * 3, state="summarised", story_id=story.id))
            quote = {"text": spec["quote"], "source": "S1"}
            session.add(BriefRow(story_id=story.id, language="fr", story_version=1,
                              headline=spec["headline"], points=list(spec["points"]),
                              quotes=[quote], engine="bench", model=None, usage={},
                              citations={}))
        session.execute(insert(SubscriberRow), [
            {"chat_id": str(FIRST_CHAT + i), "name": f"Lecteur {i}", "languages": "fr",
             "digest_time": "07:30", "timezone": "Europe/Paris", "feeds": [], "active": True}
            for i in range(subscribers)])
    db.reset_timer()
    return db


def queue_digests(db: Database, channel: TelegramChannel) -> dict[str, float]:
    """Queue the digests as the service does; returns counts and the part sizes."""
    queued = schedule_digests(db, NOW, SETTINGS, channel.render_digest)
    with db.session() as session:
        rows = session.scalars(select(DeliveryRow).where(DeliveryRow.state == PENDING)).all()
        parts = [len(part["text"]) for row in rows for part in row.payload]
        per_row = Counter(len(row.payload) for row in rows)
    if per_row != Counter({1: queued}):
        sys.exit(f"expected {queued} one-part digests, got parts per row {dict(per_row)}")
    return {"queued": queued, "chars_min": min(parts), "chars_max": max(parts)}


# --------------------------------------------------------------------------- timing wrappers


class TimedDatabase(Database):
    """The project's Database; adds the wall time spent inside `session()` blocks."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.seconds = 0.0
        self.blocks = 0
        self.longest = 0.0

    def reset_timer(self) -> None:
        """Forget the time counted so far."""
        self.seconds, self.blocks, self.longest = 0.0, 0, 0.0

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The inherited session (commit on exit), timed up to the end of the commit."""
        started = time.perf_counter()
        try:
            with super().session() as session:
                yield session
        finally:
            spent = time.perf_counter() - started
            self.seconds += spent
            self.blocks += 1
            self.longest = max(self.longest, spent)


class TimedLimiter(RateLimiter):
    """The project's RateLimiter; adds the time spent in `wait` (lock and sleep)."""

    def __init__(self, overall: float = 30.0, per_chat: float = 1.0) -> None:
        super().__init__(overall=overall, per_chat=per_chat)
        self.seconds = 0.0
        self.sleeps = 0

    async def wait(self, chat_id: str) -> None:
        """The inherited wait, timed."""
        started = time.perf_counter()
        await super().wait(chat_id)
        spent = time.perf_counter() - started
        self.seconds += spent
        self.sleeps += spent > 0.001


class TimedChannel(TelegramChannel):
    """The project's TelegramChannel; adds the time spent in `send` (limiter included)."""

    def __init__(self, bot: Bot, limiter: TimedLimiter) -> None:
        super().__init__(bot, limiter)
        self.timed_limiter = limiter
        self.seconds = 0.0
        self.calls = 0
        self.errors: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        """The inherited send, timed; the exceptions it raises are counted by type."""
        started = time.perf_counter()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super().send(chat_id, text, key=key)
        except Exception as exc:
            self.errors[type(exc).__name__] += 1
            raise
        finally:
            self.in_flight -= 1
            self.seconds += time.perf_counter() - started
            self.calls += 1


class BenchRequest(HTTPXRequest):
    """PTB's default HTTPXRequest, timed; with `rtt`, plus a network round trip (half
    before the request, half after)."""

    def __init__(self, rtt: float = 0.0) -> None:
        super().__init__()
        self.rtt = rtt
        self.longest = 0.0

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """The inherited request (`rtt / 2` later, answered `rtt / 2` later), timed."""
        started = time.perf_counter()
        if self.rtt:
            await asyncio.sleep(self.rtt / 2)
        answer = await super().do_request(*args, **kwargs)
        if self.rtt:
            await asyncio.sleep(self.rtt / 2)
        self.longest = max(self.longest, time.perf_counter() - started)
        return answer


# --------------------------------------------------------------------------- the fake Bot API


@dataclass(frozen=True)
class FakeRecord:
    """What the fake saw during one run."""

    too_many: int
    requests: list[tuple[str, int | None, float, Any]]  # method, status, arrival, chat_id
    sent: list[tuple[int, int, str]]  # chat id, message id, text as sent


def _snapshot(fake: FakeTelegram) -> FakeRecord:
    return FakeRecord(fake.too_many,
                      [(r.method, r.status, r.at, r.params.get("chat_id")) for r in fake.requests],
                      [(m["chat_id"], m["message_id"], m["text"]) for m in fake.sent])


class Fake(Protocol):
    """A FakeTelegram, wherever it runs."""

    def start(self, global_rate: float) -> tuple[str, str]:
        """A new FakeTelegram (fresh buckets and records); returns its token and base URL."""
        ...

    def snapshot(self) -> FakeRecord:
        """What the current fake saw."""
        ...

    def close(self) -> None:
        """Stop the current fake."""
        ...


class LocalFake:
    """FakeTelegram in this process (as in the tests)."""

    def __init__(self) -> None:
        self.fake: FakeTelegram | None = None

    def start(self, global_rate: float) -> tuple[str, str]:
        self.close()
        self.fake = FakeTelegram(global_rate=global_rate).start()
        return self.fake.token, self.fake.base_url

    def snapshot(self) -> FakeRecord:
        assert self.fake is not None
        return _snapshot(self.fake)

    def close(self) -> None:
        if self.fake is not None:
            self.fake.stop()
            self.fake = None


def _serve(conn: Connection) -> None:
    """Child process: run a FakeTelegram per `start` and answer commands until `stop`."""
    fake: FakeTelegram | None = None
    while (command := conn.recv()) != "stop":
        if isinstance(command, tuple) and command[0] == "start":
            if fake is not None:
                fake.stop()
            fake = FakeTelegram(global_rate=command[1]).start()
            conn.send((fake.token, fake.base_url))
        elif command == "snapshot" and fake is not None:
            conn.send(_snapshot(fake))
    if fake is not None:
        fake.stop()
    conn.send(None)


class ChildFake:
    """FakeTelegram in a child process, like the remote Bot API."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()

    def _ask(self, command: object) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def start(self, global_rate: float) -> tuple[str, str]:
        token, url = self._ask(("start", global_rate))
        return str(token), str(url)

    def snapshot(self) -> FakeRecord:
        record: FakeRecord = self._ask("snapshot")
        return record

    def close(self) -> None:
        self._ask("stop")
        self.process.join(timeout=10)


# --------------------------------------------------------------------------- variants


Driver = Callable[[Database, TelegramChannel, datetime, Settings], Awaitable[DeliveryReport]]


async def one_at_a_time(db: Database, channel: TelegramChannel, now: datetime,
                        settings: Settings) -> DeliveryReport:
    """Bench-only reference: `deliver_pending` as it was before commit 86a0b93, the due
    rows (at most 500) sent by `send_delivery` one after the other."""
    report = DeliveryReport()
    for delivery_id in due_deliveries(db, now):
        await send_delivery(db, channel, delivery_id, now, settings, report)
    return report


def concurrent_driver(width: int) -> Driver:
    """Bench-only: `send_delivery` for the due rows (at most 500) with up to `width` in flight."""

    async def deliver(db: Database, channel: TelegramChannel, now: datetime,
                      settings: Settings) -> DeliveryReport:
        report = DeliveryReport()
        slots = asyncio.Semaphore(width)

        async def one(delivery_id: int) -> None:
            async with slots:
                await send_delivery(db, channel, delivery_id, now, settings, report)

        await asyncio.gather(*(one(i) for i in due_deliveries(db, now)))
        return report

    return deliver


@dataclass(frozen=True)
class Variant:
    """A limiter rate, a delivery driver, a pass cadence and other traffic on the bot."""

    name: str
    overall: float
    driver: Driver
    label: str
    cadence: float | None = None  # seconds between pass starts (None: back to back)
    side_rate: float = 0.0  # other messages / s sent by the bot outside the limiter
    fake_rate: float = TELEGRAM_LIMIT  # the fake's global limit (0: none)
    rtt: float = 0.0  # seconds of network round trip added to every Bot API call


SIDE_RATE = 1.0
RTT = 0.05  # assumed round trip to api.telegram.org (loopback to the fake: well under 1 ms)
ROUND_TRIP = f"a {1000 * RTT:g} ms network round trip per Bot API call"
# "seq": the project's deliver_pending called in sequence (back to back) until nothing is
# pending; "svc": called on the service's cadence; "one"/"conc": bench-only drivers.
VARIANTS = {v.name: v for v in (
    Variant("seq-30", 30.0, deliver_pending,
            "TelegramChannel(bot) [RateLimiter() 30/s], the project's deliver_pending"),
    Variant("seq-29", 29.0, deliver_pending, "as seq-30 with RateLimiter(overall=29.0)"),
    Variant("svc-30", 30.0, deliver_pending,
            "as seq-30, deliver_pending started every service.deliver_seconds "
            f"({SETTINGS.service.deliver_seconds:g} s) as Service.schedule runs it",
            cadence=SETTINGS.service.deliver_seconds),
    Variant("seq-30-side", 30.0, deliver_pending,
            f"as seq-30, plus {SIDE_RATE:g} other message/s sent by the bot (replies) outside "
            "the limiter", side_rate=SIDE_RATE),
    Variant("seq-29-side", 29.0, deliver_pending,
            f"as seq-29, plus {SIDE_RATE:g} other message/s sent by the bot outside the limiter",
            side_rate=SIDE_RATE),
    Variant("seq-ceiling", 1e6, deliver_pending,
            "no limit anywhere (RateLimiter(overall=1e6), FakeTelegram(global_rate=0)): "
            "what deliver_pending itself can do", fake_rate=0.0),
    Variant("seq-30-rtt50", 30.0, deliver_pending, f"as seq-30, with {ROUND_TRIP}", rtt=RTT),
    Variant("one-30", 30.0, one_at_a_time,
            "RateLimiter() 30/s, bench-only driver: one row at a time, at most 500 per pass "
            "(deliver_pending before 86a0b93)"),
    Variant("one-30-rtt50", 30.0, one_at_a_time, f"as one-30, with {ROUND_TRIP}", rtt=RTT),
    Variant("one-ceiling", 1e6, one_at_a_time,
            "as one-30 with no limit anywhere: what one row at a time can do", fake_rate=0.0),
    Variant("conc-4-30", 30.0, concurrent_driver(4),
            "RateLimiter() 30/s, bench-only driver: send_delivery, 4 rows in flight"),
    Variant("conc-4-30-rtt50", 30.0, concurrent_driver(4), f"as conc-4-30, with {ROUND_TRIP}",
            rtt=RTT),
)}
DEFAULT_VARIANTS = ("seq-30", "seq-29", "svc-30", "seq-30-side", "seq-29-side", "seq-ceiling",
                    "seq-30-rtt50", "one-30-rtt50", "one-ceiling")
SIDE_CHAT = 900_000_001
SIDE_TEXT = "Réponse à votre question : voir le briefing de ce matin."


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    """The figures of one fan-out."""

    variant: str
    subscribers: int
    delivered: int = 0  # digest messages accepted by the fake
    span_s: float = 0.0
    rate: float = 0.0  # (delivered - 1) / span, from the fake's arrival times
    loop_s: float = 0.0  # the whole delivery loop, client clock
    rate_e2e: float = 0.0  # delivered / loop_s
    requests: int = 0  # sendMessage requests for the digests
    too_many: int = 0  # 429s served to those
    too_many_pct: float = 0.0
    lost: int = 0
    duplicates: int = 0
    wrong_text: int = 0
    passes: int = 0
    rows_per_pass: list[int] = field(default_factory=list)
    retried_rows: int = 0  # rows put back with a next_attempt_at (RetryLater and others)
    failed_rows: int = 0
    db_sent_rows: int = 0
    idle_s: float = 0.0  # waiting between passes (service cadence)
    side_requests: int = 0
    side_too_many: int = 0
    fake_too_many: int = 0  # every 429 the fake served (fake.too_many)
    channel_errors: dict[str, int] = field(default_factory=dict)
    gap_p50_ms: float = 0.0
    gap_p95_ms: float = 0.0
    gap_max_ms: float = 0.0
    per_message_ms: dict[str, float] = field(default_factory=dict)
    chars_min: float = 0.0
    chars_max: float = 0.0
    cpu_ms_per_msg: float = 0.0  # this process's CPU (the fake runs apart unless --in-process)
    longest_store_ms: float = 0.0  # the longest db.session() block
    longest_http_ms: float = 0.0  # the longest Bot API request (rtt included)
    load_1m: float = 0.0  # the machine's 1-minute load average at the end of the run
    most_in_flight: int = 0  # the most channel.send calls under way at once


async def deliver_all(db: Database, channel: TelegramChannel, variant: Variant,
                      run: Run) -> None:
    """Call the driver until no row is pending.

    Back to back, a later pass gets `now` past every backoff; with a cadence, passes
    start every `cadence` seconds (or when the previous one ends, if later) with
    `now` advancing with the wall clock, as the service's interval job does.
    """
    started = time.perf_counter()
    now = NOW
    for _ in range(MAX_PASSES):
        pass_start = time.perf_counter()
        if variant.cadence is not None:
            now = NOW + timedelta(seconds=pass_start - started)
        report = await variant.driver(db, channel, now, SETTINGS)
        run.passes += 1
        run.rows_per_pass.append(report.sent)
        run.retried_rows += report.retried
        run.failed_rows += report.failed
        with db.session() as session:
            pending = session.scalar(select(func.count()).select_from(DeliveryRow)
                                     .where(DeliveryRow.state == PENDING)) or 0
            latest = session.scalar(select(func.max(DeliveryRow.next_attempt_at))
                                    .where(DeliveryRow.state == PENDING))
        if not pending:
            return
        if variant.cadence is not None:
            idle = pass_start + variant.cadence - time.perf_counter()
            if idle > 0:
                run.idle_s += idle
                await asyncio.sleep(idle)
        elif latest is not None:
            now = max(now, latest)
    sys.exit(f"rows still pending after {MAX_PASSES} passes")


async def side_traffic(bot: Bot, rate: float, stop: asyncio.Event) -> None:
    """Messages to other chats at `rate`/s straight through the bot, as the bot's handlers
    send replies (not through the channel's RateLimiter); errors are left to the fake's count."""
    started = time.perf_counter()
    number = 0
    while not stop.is_set():
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass
        with suppress(TelegramError):
            await bot.send_message(SIDE_CHAT + number, SIDE_TEXT)
        number += 1


def check(run: Run, record: FakeRecord, db: Database, texts: dict[int, str]) -> None:
    """Throughput, 429s, lost, duplicates and content, from what the fake recorded."""
    sends = [(status, at, chat) for method, status, at, chat in record.requests
             if method == "sendMessage"]
    digest = [(status, at) for status, at, chat in sends if chat in texts]
    side = [status for status, _, chat in sends if chat not in texts]
    accepted = sorted(at for status, at in digest if status == 200)
    run.requests = len(digest)
    run.too_many = sum(status == 429 for status, _ in digest)
    run.too_many_pct = round(100 * run.too_many / max(1, run.requests), 2)
    run.side_requests = len(side)
    run.side_too_many = sum(status == 429 for status in side)
    run.fake_too_many = record.too_many
    run.delivered = sum(1 for chat, _, _ in record.sent if chat in texts)
    if len(accepted) > 1:
        run.span_s = round(accepted[-1] - accepted[0], 3)
        run.rate = round((len(accepted) - 1) / run.span_s, 2)
        gaps = [1000 * (b - a) for a, b in itertools.pairwise(accepted)]
        run.gap_p50_ms = round(percentile(gaps, 50), 1)
        run.gap_p95_ms = round(percentile(gaps, 95), 1)
        run.gap_max_ms = round(max(gaps), 1)
    run.rate_e2e = round(run.delivered / run.loop_s, 2) if run.loop_s else 0.0
    copies = Counter(chat for chat, _, _ in record.sent)
    run.lost = sum(1 for chat in texts if copies[chat] == 0)
    run.duplicates = sum(1 for chat in texts if copies[chat] > 1)
    run.wrong_text = sum(1 for chat, _, text in record.sent
                         if chat in texts and texts[chat] != text)
    with db.session() as session:
        run.db_sent_rows = session.scalar(select(func.count()).select_from(DeliveryRow)
                                          .where(DeliveryRow.state == SENT)) or 0


def expected_texts(db: Database) -> dict[int, str]:
    """The queued text per chat id."""
    with db.session() as session:
        rows = session.execute(select(SubscriberRow.chat_id, DeliveryRow.payload)
                               .join(DeliveryRow,
                                     DeliveryRow.subscriber_id == SubscriberRow.id)).all()
    return {int(chat): payload[0]["text"] for chat, payload in rows}


async def fan_out(variant: Variant, subscribers: int, fake: Fake,
                  profile: cProfile.Profile | None = None) -> Run:
    """One fan-out in a fresh store against a fresh fake."""
    run = Run(variant.name, subscribers)
    token, base_url = fake.start(variant.fake_rate)
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        db = build_store(Path(tmp) / "fanout.db", subscribers)
        try:
            request = BenchRequest(variant.rtt)
            async with Bot(token, base_url=base_url, request=request) as bot:
                limiter = TimedLimiter(overall=variant.overall)
                channel = TimedChannel(bot, limiter)
                sizes = queue_digests(db, channel)
                if sizes["queued"] != subscribers:
                    sys.exit(f"schedule_digests queued {sizes['queued']} of {subscribers} digests")
                run.chars_min, run.chars_max = sizes["chars_min"], sizes["chars_max"]
                texts = expected_texts(db)
                db.reset_timer()
                stop = asyncio.Event()
                side = (asyncio.create_task(side_traffic(bot, variant.side_rate, stop))
                        if variant.side_rate > 0 else None)
                if profile is not None:
                    profile.enable()
                started, cpu = time.perf_counter(), time.process_time()
                await deliver_all(db, channel, variant, run)
                run.loop_s = round(time.perf_counter() - started, 3)
                cpu = time.process_time() - cpu
                if profile is not None:
                    profile.disable()
                stop.set()
                if side is not None:
                    await side
            check(run, fake.snapshot(), db, texts)
            run.idle_s = round(run.idle_s, 3)
            run.cpu_ms_per_msg = round(1000 * cpu / max(1, run.delivered), 2)
            run.longest_store_ms = round(1000 * db.longest, 1)
            run.longest_http_ms = round(1000 * request.longest, 1)
            run.load_1m = round(os.getloadavg()[0], 2)
            run.channel_errors = dict(channel.errors)
            n = max(1, channel.calls)
            per = {"limiter wait": limiter.seconds / n,
                   "HTTP send": (channel.seconds - limiter.seconds) / n,
                   "store": db.seconds / n,
                   "rest": (run.loop_s - run.idle_s - channel.seconds - db.seconds) / n,
                   "idle": run.idle_s / n}
            run.most_in_flight = channel.most_in_flight
            if channel.most_in_flight > 1:  # overlapping sends: the parts exceed the wall
                del per["rest"]
            per["wall"] = run.loop_s / n
            run.per_message_ms = {k: round(1000 * v, 2) for k, v in per.items()}
        finally:
            db.close()
    return run


# --------------------------------------------------------------------------- report

COLUMNS = ("run", "deliv.", "span s", "msg/s", "e2e/s", "requests", "429s", "429 %", "lost",
           "dup.", "passes", "retried", "gap p50", "gap p95", "gap max")
MEDIAN_FIELDS = ("delivered", "span_s", "rate", "rate_e2e", "requests", "too_many",
                 "too_many_pct", "lost", "duplicates", "passes", "retried_rows", "gap_p50_ms",
                 "gap_p95_ms", "gap_max_ms")


def row_of(label: str, run: Run) -> list[Any]:
    """A table row."""
    return [label, run.delivered, run.span_s, run.rate, run.rate_e2e, run.requests,
            run.too_many, run.too_many_pct, run.lost, run.duplicates, run.passes,
            run.retried_rows, run.gap_p50_ms, run.gap_p95_ms, run.gap_max_ms]


def median_run(runs: Sequence[Run]) -> dict[str, Any]:
    """The median of every numeric figure over the runs; totals and worst cases too."""
    numeric = [k for k, v in asdict(runs[0]).items() if isinstance(v, int | float)]
    out: dict[str, Any] = {k: median([getattr(r, k) for r in runs]) for k in numeric}
    out["per_message_ms"] = {k: round(median([r.per_message_ms[k] for r in runs]), 2)
                             for k in runs[0].per_message_ms}
    out["lost_total"] = sum(r.lost for r in runs)
    out["duplicates_total"] = sum(r.duplicates for r in runs)
    out["wrong_text_total"] = sum(r.wrong_text for r in runs)
    out["max_too_many_pct"] = max(r.too_many_pct for r in runs)
    out["min_rate"] = min(r.rate for r in runs)
    return out


def verdict_of(summary: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets: rate and 429s on the medians, loss and duplicates on every run."""
    return {"rate": summary["rate"] >= TARGET_RATE,
            "429s": summary["too_many_pct"] <= TARGET_429_PCT,
            "no loss": summary["lost_total"] == 0,
            "no duplicate": summary["duplicates_total"] == 0 and summary["wrong_text_total"] == 0}


def report(results: dict[str, list[Run]], args: argparse.Namespace) -> dict[str, Any]:
    """Print the tables and the summary; return the JSON document."""
    summaries: dict[str, dict[str, Any]] = {}
    for name, runs in results.items():
        print(f"\n{name}: {VARIANTS[name].label}; {runs[0].subscribers} subscribers")
        rows = [row_of(f"{name} #{i}", r) for i, r in enumerate(runs, start=1)]
        summary = median_run(runs)
        summaries[name] = summary
        rows.append(row_of("median", Run(name, runs[0].subscribers,
                                         **{k: summary[k] for k in MEDIAN_FIELDS})))
        print_table(COLUMNS, rows)
        errors = Counter[str]()
        for r in runs:
            errors.update(r.channel_errors)
        print(f"  digest part {runs[0].chars_min:.0f}-{runs[0].chars_max:.0f} chars; rows sent "
              f"per pass {[r.rows_per_pass for r in runs]}; rows SENT in the store "
              f"{[r.db_sent_rows for r in runs]}; exceptions out of channel.send "
              f"{dict(errors) or 'none'}; copies with a wrong text {summary['wrong_text_total']}")
        print(f"  sends in flight at most {[r.most_in_flight for r in runs]}; "
              f"CPU of this process per message, ms {[r.cpu_ms_per_msg for r in runs]}; "
              f"longest store block, ms {[r.longest_store_ms for r in runs]}; longest Bot API "
              f"request, ms {[r.longest_http_ms for r in runs]}; load average (1 min) at the "
              f"end {[r.load_1m for r in runs]}")
        if VARIANTS[name].side_rate:
            print(f"  other messages (outside the limiter): requests "
                  f"{[r.side_requests for r in runs]}, 429s {[r.side_too_many for r in runs]}")
        if VARIANTS[name].cadence:
            print(f"  idle between passes, s: {[r.idle_s for r in runs]}")
    print("\nPer digest message (median over runs, ms): where the delivery loop spends its time")
    keys = ("limiter wait", "HTTP send", "store", "rest", "idle", "wall")
    print_table(["variant", *keys],
                [[n, *(s["per_message_ms"].get(k, "-") for k in keys)]
                 for n, s in summaries.items()])
    print("(limiter wait: RateLimiter.wait, lock + sleep; HTTP send: the rest of "
          "TelegramChannel.send, i.e.\n bot.send_message through the fake, and RetryAfter "
          "sleeps; store: every db.session() block;\n rest: loop, asyncio and PTB overhead; idle: "
          "between passes; a variant with several\n sends in flight overlaps them, so its parts "
          "add up to more than its wall and no rest is shown)")
    print("\nSummary (targets: >= 27 msg/s, 429s <= 1 % of sends, 0 lost, 0 duplicates):")
    verdicts: dict[str, dict[str, bool]] = {}
    for name, s in summaries.items():
        verdict = verdict_of(s)
        verdicts[name] = verdict
        failing = [k for k, v in verdict.items() if not v]
        print(f"  {name:15} median {s['rate']:5.2f} msg/s ({100 * s['rate'] / TELEGRAM_LIMIT:5.1f}"
              f" % of 30/s; worst run {s['min_rate']:5.2f}), 429s {s['too_many_pct']:.2f} % "
              f"(worst {s['max_too_many_pct']:.2f} %), lost {s['lost_total']}, duplicates "
              f"{s['duplicates_total']}: {'PASS' if not failing else 'FAIL ' + ', '.join(failing)}")
    where = "in this process" if args.in_process else "in a child process"
    print(f"  FakeTelegram (30/s overall, 1/s per chat) ran {where}; {args.runs} run(s) per "
          f"variant, {args.subscribers} subscribers.")
    return {
        "target": {"rate": TARGET_RATE, "too_many_pct": TARGET_429_PCT, "lost": 0,
                   "duplicates": 0, "telegram_limit": TELEGRAM_LIMIT},
        "subscribers": args.subscribers, "runs_per_variant": args.runs,
        "fake_in_process": args.in_process, "side_rate": SIDE_RATE,
        "variants": {n: {"label": VARIANTS[n].label, "median": summaries[n],
                         "passes": verdicts[n], "all_pass": all(verdicts[n].values()),
                         "runs": [asdict(r) for r in runs]}
                     for n, runs in results.items()},
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the project's code differs from it."""
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=False, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "briefing", "tests/fakes")
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "uncommitted_changes": sorted(line[3:] for line in changed.splitlines())}


def print_profile(profile: cProfile.Profile, top: int = 18) -> None:
    """The functions with the most own time during the profiled delivery."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("\ncProfile of one more seq-30 delivery (not in the figures), top functions by own "
          "time:")
    print("\n".join(lines[start - 2:start + top + 1]))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Every run of every variant, then the report."""
    version = code_version()
    print(f"code: commit {version['commit']}, uncommitted changes in briefing/ and tests/fakes/: "
          f"{', '.join(version['uncommitted_changes']) or 'none'}", flush=True)
    fake: Fake = LocalFake() if args.in_process else ChildFake()
    results: dict[str, list[Run]] = {name: [] for name in args.variants}
    try:
        for number in range(1, args.runs + 1):
            for name in args.variants:  # interleaved, so drift hits every variant alike
                run = await fan_out(VARIANTS[name], args.subscribers, fake)
                results[name].append(run)
                print(f"run {number}/{args.runs} {name:15}: {run.delivered} delivered in "
                      f"{run.span_s:.2f} s = {run.rate:.2f} msg/s, 429s {run.too_many}, "
                      f"lost {run.lost}, duplicates {run.duplicates}", flush=True)
        document = {"code": version, **report(results, args)}
        if args.profile:
            profile = cProfile.Profile()
            await fan_out(VARIANTS["seq-30"], args.subscribers, fake, profile)
            print_profile(profile)
    finally:
        fake.close()
    return document


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, write bench/results/<name>.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=list(DEFAULT_VARIANTS))
    parser.add_argument("--in-process", action="store_true",
                        help="run FakeTelegram in this process (as the tests do)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one extra seq-30 delivery with cProfile")
    parser.add_argument("--name", default="fanout", help="results file name (no .json)")
    args = parser.parse_args(argv)
    if args.subscribers < 2 or args.runs < 1:
        parser.error("--subscribers >= 2 and --runs >= 1")
    document = asyncio.run(main_async(args))
    path = write_results(args.name, document)
    print(f"\nwritten: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fan-out by several workers on one PostgreSQL: three worker processes against one, each
booking its sends in the store's shared pace, through the fake Bot API at its real limits.

Target (issue 13): with three workers, 10,000 chats get their digest at >= 27 messages a
second overall, with 0 429s beyond the first second, 0 lost and 0 duplicates.

1. The store: a fresh database per run on a throwaway PostgreSQL cluster (`tests/pg.py`:
   initdb, fsync off; --server-url for a running server), migrated, with `bench.fanout`'s
   summarised stories (`add_story`, `FEEDS`) and N readers (--chats, 10,000; --quick 300;
   distinct chat ids, French, digest at 07:30 Europe/Paris) who follow the first feed.
   `schedule_digests` at 08:00 Paris queues one digest each (`bench.fanout.queue_digests`),
   before the workers start.
2. The Bot API: `bench.fanout.TelegramHost`, a fresh `FakeTelegram` per run (30 messages a
   second in all, 1 a second per chat, 429 + retry_after over them), in a spawned child
   process (the harness's `Served`; --in-process: in this process).
3. A worker is a spawned process, as `briefing run` builds its sender: it opens the store,
   makes a `Fleet(db, new_worker())`, an `ExtBot` whose every send goes through
   `BotRateLimiter(RateLimiter.from_settings(telegram, db))` (on PostgreSQL: the shared
   pace, `briefing.bot.channel.SharedPace`, its bookings on connections of their own so
   that their time is counted apart) and `DeepLinkChannel(bot, limiter, bot_paced=True)`
   on top (`channel_for`). Once every worker is ready (bot initialised), a start signal;
   each then calls `deliver_pending(db, channel, now, settings, fleet)` until no row is
   pending (a pass with nothing of its own waits 0.2 s; rows put back by a failure are
   tried at their `next_attempt_at`).
4. Measured from the fake's records (`bench.fanout.check`): delivered messages a second
   from the first accepted digest to the last (arrival times), lost readers, duplicates,
   429s, and the 429s more than a second after the first send; the most sends the fake
   saw in any one-second window (sliding, from each send on; and in any calendar second);
   per worker: rows sent, the pace's booking transactions per message and their time, and
   the slots it woke up to too late and booked again (`SharedPace.rebooked`).

Variants, run one after the other in each repeat (fresh store, fresh fake):
`1-worker` (the baseline: the same code, one process), `3-workers`, and, on demand,
`3-local`: three workers each with the in-process limiter of a lone bot
(`RateLimiter.from_settings(telegram)`, no store): what the shared pace is for.

Run: .venv/bin/python -m bench.fanout_workers                  (10,000 chats: ~6 min a run, ~12 min)
     .venv/bin/python -m bench.fanout_workers --chats 1500     (~2 min)
     .venv/bin/python -m bench.fanout_workers --quick          (300 chats; ~1 min)
     .venv/bin/python -m bench.fanout_workers --variants 3-workers 3-local --chats 600
"""

from __future__ import annotations

import asyncio
import itertools
import math
import multiprocessing
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from telegram.ext import ExtBot

from bench.fanout import (
    FIRST_CHAT,
    NOW,
    SETTINGS,
    STORIES,
    TARGET_RATE,
    TELEGRAM_LIMIT,
    FakeRecord,
    Run,
    TelegramHost,
    TimedDatabase,
    add_feeds,
    check,
    pending_rows,
    queue_digests,
)
from bench.harness import (
    Served,
    context,
    finish,
    median,
    parser,
    pick,
    print_context,
    print_table,
    ratio,
    result_name,
    times,
)
from bench.summarise_workers import collect, postgres
from briefing.bot.channel import BotRateLimiter, RateLimiter
from briefing.bot.channels import DeepLinkChannel
from briefing.config import StoreSettings
from briefing.service.fleet import Fleet, new_worker
from briefing.service.outbox import deliver_pending
from briefing.store.db import Database, make_engine, open_database
from briefing.store.models import SubscriberRow
from tests.pg import fresh_database

CHATS, QUICK_CHATS = 10_000, 300
REPEAT, QUICK_REPEAT = 1, 1
IDLE_SECONDS = 0.2  # a worker whose pass found nothing of its own waits this much
READY_TIMEOUT = 120.0  # seconds for a worker to start and initialise its bot
FIRST_SECOND = 1.0  # 429s in the fan-out's first second are allowed (the words)
BASELINE = "1-worker"


@dataclass(frozen=True)
class Variant:
    """How many workers, and whether they share the pace through the store."""

    name: str
    workers: int
    shared: bool
    label: str


VARIANTS = {v.name: v for v in (
    Variant("1-worker", 1, True, "one worker, the shared pace (PostgreSQL), as briefing run"),
    Variant("3-workers", 3, True, "three worker processes, the shared pace in the store"),
    Variant("3-local", 3, False, "three workers, each with a lone bot's in-process limiter"),
)}
DEFAULT_VARIANTS = ("1-worker", "3-workers")


# --------------------------------------------------------------------------- the store


def fill_store(db: Database, chats: int) -> None:
    """`bench.fanout`'s stories, and `chats` French readers of the first feed."""
    with db.session() as session:
        feed_ids = add_feeds(session)
        session.execute(insert(SubscriberRow), [
            {"chat_id": str(FIRST_CHAT + i), "name": f"Lecteur {i}", "languages": "fr",
             "digest_time": "07:30", "timezone": "Europe/Paris", "feeds": [feed_ids[0]],
             "active": True, "kind": "private"} for i in range(chats)])


# --------------------------------------------------------------------------- one worker


async def deliver_until_done(db_url: str, token: str, base_url: str, shared: bool,
                             ready: Any, go: Any) -> dict[str, Any]:
    """One worker's fan-out: its bot, its fleet, `deliver_pending` until nothing is left."""
    db = Database(make_engine(db_url))
    pace_db = TimedDatabase(make_engine(db_url))  # the shared pace's bookings, timed apart
    fleet = Fleet(db, new_worker())
    limiter = RateLimiter.from_settings(SETTINGS.telegram, pace_db if shared else None)
    sent = retried = failed = passes = 0
    try:
        async with ExtBot(token, base_url=base_url,
                          rate_limiter=BotRateLimiter(limiter)) as bot:
            channel = DeepLinkChannel(bot, limiter, bot_paced=True)
            ready.put(fleet.worker.id)
            await asyncio.to_thread(go.wait)
            cpu = time.process_time()
            now: datetime = NOW
            while True:
                report = await deliver_pending(db, channel, now, SETTINGS, fleet)
                passes += 1
                sent, retried, failed = (sent + report.sent, retried + report.retried,
                                         failed + report.failed)
                pending, latest = await asyncio.to_thread(pending_rows, db)
                if not pending:
                    break
                if latest is not None:
                    now = max(now, latest)  # a row put back is due at its next attempt
                if not report.sent and not report.retried and not report.failed:
                    await asyncio.sleep(IDLE_SECONDS)  # the rest is held by other workers
            end = time.time()
            cpu = time.process_time() - cpu
    finally:
        fleet.stop()
        db.close()
        pace_db.close()
    return {"worker": fleet.worker.id, "sent": sent, "retried": retried, "failed": failed,
            "passes": passes, "end": end, "cpu_s": cpu, "pace_transactions": pace_db.blocks,
            "rebooked": limiter.shared.rebooked if limiter.shared is not None else 0,
            "pace_s": pace_db.seconds, "pace_longest_s": pace_db.longest}


def worker_main(db_url: str, token: str, base_url: str, shared: bool, ready: Any, go: Any,
                results: Any) -> None:
    """Child process: one worker, its figures put on `results` (or its traceback)."""
    try:
        results.put(asyncio.run(deliver_until_done(db_url, token, base_url, shared, ready,
                                                   go)))
    except BaseException:
        results.put({"error": traceback.format_exc()})


# --------------------------------------------------------------------------- one run


@dataclass
class WorkersRun:
    """One fan-out by `workers` processes: `bench.fanout`'s figures and the fleet's."""

    variant: str
    workers: int
    chats: int
    fanout: Run
    wall_s: float = 0.0  # from the start signal to the last worker's end
    late_429s: int = 0  # 429s more than FIRST_SECOND after the first accepted send
    max_in_1s: int = 0  # the most accepted sends in any window [t, t + 1 s), t a send
    windows_over: int = 0  # sends that start a window of more than 30
    max_in_second: int = 0  # the most accepted sends in one calendar second
    per_worker: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pace_ms(self) -> float:
        """Mean time of one booking transaction, ms (0 without the shared pace)."""
        count = sum(int(w["pace_transactions"]) for w in self.per_worker)
        spent = sum(float(w["pace_s"]) for w in self.per_worker)
        return 1000 * spent / count if count else 0.0

    @property
    def transactions_per_message(self) -> float:
        """The pace's booking transactions per message sent (batches: below 1)."""
        sent = sum(int(w["sent"]) for w in self.per_worker) * max(1, self.fanout.parts)
        return sum(int(w["pace_transactions"]) for w in self.per_worker) / max(1, sent)


def windows(accepted: Sequence[float], limit: float) -> tuple[int, int, int]:
    """(most sends in any [t, t + 1 s) from a send on, sends starting a window over
    `limit`, most sends in one calendar second) of sorted arrival times."""
    most = over = 0
    end = 0
    for start, at in enumerate(accepted):
        while end < len(accepted) and accepted[end] < at + 1.0:
            end += 1
        most = max(most, end - start)
        over += end - start > limit
    seconds = [len(list(group)) for _, group in itertools.groupby(accepted, key=math.floor)]
    return most, over, max(seconds, default=0)


def fan_out(variant: Variant, chats: int, server_url: str, fake: Served) -> WorkersRun:
    """One fan-out on a fresh database and a fresh fake."""
    token, base_url, _ = fake.call("start", TELEGRAM_LIMIT)
    run = WorkersRun(variant.name, variant.workers, chats, Run(variant.name, chats))
    with fresh_database(server_url) as db_url:
        db = open_database(StoreSettings(url=db_url))
        try:
            fill_store(db, chats)
            run.fanout.queued = queue_digests(db)
            if run.fanout.queued != chats:
                raise SystemExit(f"schedule_digests queued {run.fanout.queued} of {chats}")
            spawn = multiprocessing.get_context("spawn")
            ready, results, go = spawn.Queue(), spawn.Queue(), spawn.Event()
            processes = [spawn.Process(target=worker_main, daemon=True, args=(
                db_url, token, base_url, variant.shared, ready, go, results))
                for _ in range(variant.workers)]
            for process in processes:
                process.start()
            try:
                collect(ready, variant.workers, processes, READY_TIMEOUT, "starting")
                started = time.time()
                go.set()
                run.per_worker = collect(results, variant.workers, processes,
                                         READY_TIMEOUT + chats / 10, "delivering")
            finally:
                for process in processes:
                    process.join(timeout=30)
                    if process.is_alive():
                        process.kill()
            run.wall_s = round(max(w["end"] for w in run.per_worker) - started, 2)
            run.fanout.loop_s = run.wall_s
            record: FakeRecord = fake.call("snapshot")
            check(run.fanout, record, db, [s["headline"] for s in STORIES])
        finally:
            db.close()
    run.fanout.passes = sum(w["passes"] for w in run.per_worker)
    run.fanout.retried_rows = sum(w["retried"] for w in run.per_worker)
    run.fanout.failed_rows = sum(w["failed"] for w in run.per_worker)
    sends = [(status, at) for method, status, at, _ in record.requests
             if method == "sendMessage"]
    accepted = sorted(at for status, at in sends if status == 200)
    first = accepted[0] if accepted else 0.0
    run.late_429s = sum(1 for status, at in sends if status == 429 and at > first + FIRST_SECOND)
    run.max_in_1s, run.windows_over, run.max_in_second = windows(accepted, TELEGRAM_LIMIT)
    return run


# --------------------------------------------------------------------------- report


def verdict(run: WorkersRun) -> dict[str, bool]:
    """The issue's targets for one run."""
    return {"rate": run.fanout.rate >= TARGET_RATE, "no late 429": run.late_429s == 0,
            "no loss": run.fanout.lost == 0,
            "no duplicate": run.fanout.duplicates == 0 and run.fanout.wrong_text == 0}


def report(results: dict[str, list[WorkersRun]]) -> dict[str, Any]:
    """Print every run and the medians against the baseline; the JSON document."""
    rows = []
    for name, runs in results.items():
        for number, r in enumerate(runs, start=1):
            f = r.fanout
            rows.append([f"{name} #{number}", r.workers, f.delivered, f.parts, f.span_s, f.rate,
                         f.rate_e2e, f.requests, f.too_many, r.late_429s, f.lost,
                         f.duplicates, r.max_in_1s, r.windows_over, r.max_in_second,
                         f.retried_rows, f"{r.transactions_per_message:.2f}",
                         f"{r.pace_ms:.2f}", sum(int(w["rebooked"]) for w in r.per_worker),
                         "/".join(str(w["sent"]) for w in r.per_worker)])
    print_table(["run", "workers", "deliv.", "parts", "span s", "msg/s", "e2e/s", "requests",
                 "429s", "late 429s", "lost", "dup.", "max/1s", "win>30", "max/sec",
                 "retried", "tx/msg", "ms/tx", "rebooked", "rows per worker"], rows)
    print("(msg/s: (accepted - 1) / span of the fake's arrival times; late 429s: after the "
          "first second; max/1s: most sends the fake\n accepted in any window [t, t + 1 s) "
          "from a send on; win>30: sends starting a window of more than 30; max/sec: in one\n"
          " calendar second; tx/msg: the shared pace's booking transactions per message; "
          "ms/tx: their mean time;\n rebooked: slots a worker woke up to too late and "
          "booked again)")
    medians = {name: median([r.fanout.rate for r in runs]) for name, runs in results.items()}
    base = medians.get(BASELINE)
    print(f"\nSummary (targets: >= {TARGET_RATE:g} msg/s, 0 429s beyond the first second, "
          f"0 lost, 0 duplicates; baseline {BASELINE if base else 'not run'}):")
    document: dict[str, Any] = {"baseline": BASELINE if base else None, "variants": {}}
    for name, runs in results.items():
        verdicts = [verdict(r) for r in runs]
        failing = sorted({k for v in verdicts for k, ok in v.items() if not ok})
        vs = ratio(medians[name], base) if base else math.nan
        print(f"  {name:10} median {medians[name]:6.2f} msg/s "
              f"({100 * medians[name] / TELEGRAM_LIMIT:5.1f} % of 30/s"
              f"{', ' + times(vs) + ' ' + BASELINE if base else ''}), late 429s "
              f"{sum(r.late_429s for r in runs)}, lost {sum(r.fanout.lost for r in runs)}, "
              f"duplicates {sum(r.fanout.duplicates for r in runs)}, most in a second "
              f"{max(r.max_in_1s for r in runs)}: "
              f"{'PASS' if not failing else 'FAIL ' + ', '.join(failing)}")
        document["variants"][name] = {
            "label": VARIANTS[name].label, "median_rate": medians[name],
            "vs_baseline": None if math.isnan(vs) else round(vs, 3),
            "pass": not failing, "failing": failing,
            "runs": [{**{k: v for k, v in asdict(r).items() if k != "fanout"},
                      "fanout": asdict(r.fanout), "pace_ms": r.pace_ms,
                      "transactions_per_message": r.transactions_per_message}
                     for r in runs]}
    return document


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run each variant per repeat, write bench/results/<name>.json."""
    options = parser(__doc__, servers=True)
    options.add_argument("--chats", type=int,
                         help=f"readers, one digest each (default {CHATS}, --quick "
                              f"{QUICK_CHATS})")
    options.add_argument("--repeat", type=int,
                         help=f"runs of each variant (default {REPEAT}, --quick "
                              f"{QUICK_REPEAT})")
    options.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                         default=list(DEFAULT_VARIANTS))
    options.add_argument("--server-url",
                         help="a PostgreSQL server (SQLAlchemy URL) to make the databases on, "
                              "instead of a throwaway cluster")
    options.add_argument("--name", default="fanout_workers", help="results file name")
    args = options.parse_args(argv)
    chats = pick(args.chats, CHATS, QUICK_CHATS, args.quick)
    repeat = pick(args.repeat, REPEAT, QUICK_REPEAT, args.quick)
    if chats < 2 or repeat < 1:
        options.error("--chats >= 2 and --repeat >= 1")
    info = context("fanout_workers", args.quick)
    print_context(info)
    results: dict[str, list[WorkersRun]] = {name: [] for name in args.variants}
    with postgres(args.server_url) as server_url, \
            Served(TelegramHost, in_process=args.in_process) as fake:
        for number in range(1, repeat + 1):
            for name in args.variants:
                run = fan_out(VARIANTS[name], chats, server_url, fake)
                results[name].append(run)
                print(f"repeat {number}/{repeat} {name:10}: {run.fanout.delivered} delivered, "
                      f"{run.fanout.rate:.2f} msg/s, 429s {run.fanout.too_many} (late "
                      f"{run.late_429s}), lost {run.fanout.lost}, duplicates "
                      f"{run.fanout.duplicates}, most in a second {run.max_in_1s}",
                      flush=True)
        print(f"\nFakeTelegram (30/s overall, 1/s per chat) ran {fake.where}; {chats} chats, "
              f"{repeat} repeat(s)\n")
        document = report(results)
    document.update(chats=chats, repeat=repeat, fake=fake.where,
                    target={"rate": TARGET_RATE, "late_429s": 0, "lost": 0, "duplicates": 0})
    headline = {name: {"rate": v["median_rate"], "vs_baseline": v["vs_baseline"],
                       "pass": v["pass"]} for name, v in document["variants"].items()}
    finish(info, result_name(args.name, args.quick), document,
           {"chats": chats, "repeat": repeat, "variants": headline})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

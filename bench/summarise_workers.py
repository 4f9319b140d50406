"""Summarising with several workers on one PostgreSQL: three worker processes against one.

Target (issue 13): with a fake LLM answering after 1 s, three workers summarise at >= 2.7x
the throughput of one, at the same per-worker concurrency (`summarise_concurrency` = 4);
and no paid LLM call is made twice for the same request.

1. Stories: N (--stories, 96; --quick 24) distinct French articles from
   `bench.ingest.make_articles` (each with a lead, a title, names and numbers of its own,
   about 300 words) are stored through the service's `store_article` (signature,
   clustering) into a fresh PostgreSQL database, one per measured run; the bench checks that
   each is a story of its own, pending. The database is on a throwaway cluster
   (`tests/pg.py`: initdb, fsync off) or on the server of --server-url.
   96 is a multiple of workers x chunk (3 x 2C = 24): `summarise_pending` claims stories a
   chunk of 2C at a time (`Fleet.take`) and briefs a chunk in C threads, so with 96 stories
   the ideal is 24 LLM rounds for one worker and 8 for three (ratio 3.0); 90 stories would
   give 23 and 8 (2.875), whatever the code does.
2. The LLM: the project's FakeOpenAI in a spawned child process (the harness's `Served`),
   answering every chat request with `tests/fakes/briefs.good_answer` (a valid brief,
   verbatim quotes, grounded points) after exactly 1.0 s. It keeps every chat request's
   key (SHA-256 of its JSON, keys sorted): calls, distinct requests, and duplicates =
   calls beyond one per distinct request (0 expected). These stories fit the engine's token
   budget, so a story's brief is one call (no notes-then-brief): calls per story is 1.00
   when nothing is repeated, and both counts are printed.
3. A worker is a spawned process: it opens the store, makes a `Fleet(db, new_worker())`
   and pays its once-per-process costs (imports, tiktoken, prompts, the HTTP client) with
   one untimed brief of a story of its own, in memory, through the fake. Then it waits for
   the start signal, runs `summarise_pending(db, settings, fleet=fleet)` in a loop until no
   story is pending (a pass that found nothing of its own to brief sleeps 0.05 s before
   the next), and stops its fleet. The store's call log (`CallLog`, holder = the worker)
   is the engine's cache, as in `briefing run`.
4. Measured, per repeat: one worker, then three at once, each on a fresh database. Wall
   time from the start signal (every worker ready) to the last worker's end; throughput =
   N / wall; ratio = three workers' throughput / one worker's, in the same repeat. Also:
   stories briefed per worker, stories briefed more than once (the workers' reports summed,
   minus N), the most calls open at once at the fake, the calls' latency as the client
   logged it (`llm_calls.duration_ms`), the time a round costs beyond the fake's 1 s
   ((wall - ideal) / the ideal's rounds), and each worker's CPU (`process_time`).
   --repeat (3) repeats; the medians are printed, the ratio's median too.

Run: .venv/bin/python -m bench.summarise_workers             (96 stories, 3 repeats; ~3 min)
     .venv/bin/python -m bench.summarise_workers --stories 90
     .venv/bin/python -m bench.summarise_workers --quick     (24 stories, 1 repeat; ~40 s)
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import queue
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from typing import Any

from sqlalchemy import func, select

from bench.common import MODEL
from bench.harness import (
    Served,
    context,
    finish,
    median,
    parser,
    percentile,
    pick,
    print_context,
    print_table,
    ratio,
    result_name,
    times,
    yes_no,
)
from bench.ingest import FeedArticle, make_articles, peak_overlap
from briefing.briefs.engines.select import select_engine
from briefing.briefs.pipeline import summarise
from briefing.config import Settings, StoreSettings
from briefing.service.articles import store_article
from briefing.service.fleet import Fleet, new_worker
from briefing.service.summaries import summarise_pending
from briefing.sources.extract import Extracted
from briefing.sources.models import Document, Story
from briefing.store.db import Database, open_database
from briefing.store.models import BriefHistoryRow, LLMCallRow, StoryRow
from briefing.store.stories import pending_story_ids
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.pg import PostgresUnavailable, fresh_database, running_cluster

STORIES, QUICK_STORIES = 96, 24
WORKERS = 3
CONCURRENCY = 4  # summarise_concurrency of every worker
LATENCY = 1.0  # seconds the fake LLM waits before every answer
TARGET = 2.7  # three workers' throughput / one worker's
REPEAT, QUICK_REPEAT = 3, 1
IDLE_SECONDS = 0.05  # a worker with nothing of its own to brief waits this much
READY_TIMEOUT = 120.0  # seconds for a worker to start, open the store and warm up
RUN_TIMEOUT = 600.0  # seconds for a run to end


# ---------------------------------------------------------------- the fake LLM


def request_key(request: dict[str, Any]) -> str:
    """One chat request's identity: the same JSON is the same paid call."""
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class WorkersLLM:
    """The fake OpenAI-compatible server answering `good_answer` after `latency` s, with the
    key and start of every chat request since the last reset; built by `Served`."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.keys: list[str] = []
        self.starts: list[float] = []
        self.llm = FakeOpenAI(default=self.answer)
        self.llm.start()

    def answer(self, request: dict[str, Any]) -> Reply:
        """A valid brief, after the latency; the request is counted."""
        with self.lock:
            self.keys.append(request_key(request))
            self.starts.append(time.monotonic())
        return Reply.content(good_answer(request), delay=self.latency)

    def url(self) -> str:
        """Its base URL on 127.0.0.1."""
        return self.llm.base_url

    def reset(self) -> None:
        """Count afresh."""
        with self.lock:
            self.keys.clear()
            self.starts.clear()

    def stats(self) -> dict[str, int]:
        """Chat calls, distinct requests and the most calls open at once, since the reset."""
        with self.lock:
            keys, starts = list(self.keys), sorted(self.starts)
        return {"calls": len(keys), "distinct": len(set(keys)),
                "peak_in_flight": peak_overlap(starts, self.latency) if starts else 0}

    def close(self) -> None:
        """Stop it."""
        self.llm.stop()


# ---------------------------------------------------------------- settings and stories


def settings_for(llm_url: str, db_url: str) -> Settings:
    """Built-in defaults; the LLM at the fake, the store at `db_url`, concurrency C."""
    return Settings.model_validate({
        "llm": {"engine": "llm", "base_url": llm_url, "api_key": "dummy", "model": MODEL,
                "timeout": 30.0, "max_retries": 0},
        "store": {"url": db_url},
        "service": {"summarise_concurrency": CONCURRENCY},
    })


def extracted(article: FeedArticle) -> Extracted:
    """The article as extraction gives it to the service."""
    return Extracted(text="\n\n".join(article.paragraphs), language="fr", title=article.title,
                     published=article.published.isoformat(timespec="seconds"),
                     outlet=f"news{article.number % 10}.example", url=article.url)


def fill(db: Database, articles: Sequence[FeedArticle], now: datetime) -> list[int]:
    """Store the articles through the service; each must be a pending story of its own."""
    for article in articles:
        stored = store_article(db, extracted(article), now, url=article.url)
        if stored.duplicate or stored.story_id is None:
            sys.exit(f"article {article.number} was not stored: {stored}")
    pending = pending_story_ids(db, limit=len(articles) + 1)
    if len(pending) != len(articles):
        sys.exit(f"{len(articles)} articles made {len(pending)} pending stories, not one each")
    return pending


def warm_up_story(article: FeedArticle) -> Story:
    """A worker's own warm-up story, never stored."""
    doc = Document("S1", "\n\n".join(article.paragraphs), "fr", title=article.title,
                   outlet="warmup.example", published=article.published.isoformat())
    return Story((doc,))


# ---------------------------------------------------------------- one worker process


def worker_main(db_url: str, llm_url: str, warm: FeedArticle, ready: Any, go: Event,
                results: Any) -> None:
    """Child process: store, fleet, warm-up; then summarise until no story is pending."""
    try:
        settings = settings_for(llm_url, db_url)
        db = open_database(StoreSettings(url=db_url), migrate=False)
        fleet = Fleet(db, new_worker())
        summarise(warm_up_story(warm), settings, select_engine(settings), fallback=False)
        ready.put(fleet.worker.id)
        go.wait()
        cpu = time.process_time()
        briefed = failed = passes = 0
        while True:
            report = summarise_pending(db, settings, fleet=fleet)
            passes += 1
            briefed += len(report.summarised)
            failed += len(report.failed)
            if not pending_story_ids(db, limit=1):
                break
            if not report.summarised and not report.failed:
                time.sleep(IDLE_SECONDS)  # the rest is held by other workers
        end = time.monotonic()
        fleet.stop()
        db.close()
        results.put({"worker": fleet.worker.id, "briefed": briefed, "failed": failed,
                     "passes": passes, "cpu_seconds": time.process_time() - cpu, "end": end})
    except BaseException:
        results.put({"error": traceback.format_exc()})


def collect(channel: Any, count: int, processes: Sequence[Any], timeout: float,
            what: str) -> list[Any]:
    """`count` messages from the workers, or exit when one fails or dies."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        try:
            message = channel.get(timeout=0.5)
        except queue.Empty:
            if time.monotonic() > deadline:
                sys.exit(f"timed out waiting for the workers ({what})")
            if any(p.exitcode not in (None, 0) for p in processes):
                sys.exit(f"a worker died ({what}): exit codes {[p.exitcode for p in processes]}")
            continue
        if isinstance(message, dict) and "error" in message:
            sys.exit(f"a worker failed ({what}):\n{message['error']}")
        got.append(message)
    return got


# ---------------------------------------------------------------- one run


def ideal_rounds(stories: int, workers: int) -> int:
    """LLM rounds the run needs at best: `summarise_pending` claims chunks of 2C stories in
    order, a worker takes the next chunk when it is free and briefs a chunk C at a time."""
    chunk = 2 * CONCURRENCY
    free = [0] * workers  # the round at which each worker is free
    for start in range(0, stories, chunk):
        size = min(chunk, stories - start)
        first = free.index(min(free))
        free[first] += math.ceil(size / CONCURRENCY)
    return max(free)


def store_counts(db: Database) -> dict[str, Any]:
    """What the store holds after a run: stories still pending, briefed, history rows, the
    call log's rows and its distinct requests, and the calls' latency as the client saw it."""
    with db.session() as session:
        briefed = session.scalar(select(func.count()).select_from(StoryRow).where(
            StoryRow.briefed_at.is_not(None))) or 0
        history = session.scalar(select(func.count()).select_from(BriefHistoryRow)) or 0
        logged = session.scalar(select(func.count()).select_from(LLMCallRow)) or 0
        distinct = session.scalar(select(func.count(func.distinct(LLMCallRow.request_hash))))
        latencies = [ms / 1000 for ms in session.scalars(select(LLMCallRow.duration_ms))]
    return {"pending": len(pending_story_ids(db)), "briefed": int(briefed),
            "history_rows": int(history), "logged_calls": int(logged),
            "logged_distinct": int(distinct or 0),
            "call_median_s": median(latencies) if latencies else math.nan,
            "call_p95_s": percentile(latencies, 95) if latencies else math.nan}


def run(workers: int, server_url: str, llm: Served, articles: Sequence[FeedArticle],
        warm: Sequence[FeedArticle], now: datetime) -> dict[str, Any]:
    """`workers` processes on a fresh database of the articles, timed from the start signal
    to the last one's end."""
    with fresh_database(server_url) as db_url:
        db = open_database(StoreSettings(url=db_url))
        try:
            stories = fill(db, articles, now)
            context_ = multiprocessing.get_context("spawn")
            ready, results, go = context_.Queue(), context_.Queue(), context_.Event()
            processes = [context_.Process(target=worker_main, daemon=True, args=(
                db_url, llm.call("url"), warm[i], ready, go, results)) for i in range(workers)]
            for process in processes:
                process.start()
            try:
                collect(ready, workers, processes, READY_TIMEOUT, "starting")
                llm.call("reset")  # the warm-up calls are not the run's
                start = time.monotonic()
                go.set()
                done = collect(results, workers, processes, RUN_TIMEOUT, "summarising")
            finally:
                for process in processes:
                    process.join(timeout=30)
                    if process.is_alive():
                        process.kill()
            wall = max(d["end"] for d in done) - start
            fake = llm.call("stats")
            stored = store_counts(db)
        finally:
            db.close()
    n = len(stories)
    briefed = sum(d["briefed"] for d in done)
    return {
        "workers": workers, "stories": n, "seconds": wall, "throughput": n / wall,
        "ideal_seconds": ideal_rounds(n, workers) * LATENCY,
        "overhead_per_round_s": (wall - ideal_rounds(n, workers) * LATENCY)
        / ideal_rounds(n, workers), "calls": fake["calls"],
        "distinct_requests": fake["distinct"], "duplicates": fake["calls"] - fake["distinct"],
        "calls_per_story": fake["calls"] / n, "peak_in_flight": fake["peak_in_flight"],
        "briefed_by_workers": briefed, "briefed_twice": briefed - n,
        "failed": sum(d["failed"] for d in done), "per_worker": sorted(
            (d["briefed"] for d in done), reverse=True),
        "passes": [d["passes"] for d in done],
        "cpu_seconds": [round(d["cpu_seconds"], 2) for d in done], **stored,
    }


# ---------------------------------------------------------------- report


@contextmanager
def postgres(server_url: str | None) -> Iterator[str]:
    """The server URL to make the runs' databases on: --server-url, else a throwaway
    cluster started for this run."""
    if server_url:
        yield server_url
        return
    try:
        with running_cluster() as cluster:
            yield cluster.url()
    except PostgresUnavailable as exc:
        sys.exit(f"PostgreSQL unavailable: {exc} (give --server-url to use a running server)")


def print_runs(runs: Sequence[dict[str, Any]]) -> None:
    """One row per run."""
    print_table(
        ["repeat", "workers", "stories", "s", "ideal s", "stories/s", "vs 1 worker", "calls",
         "distinct", "dup calls", "calls/story", "in flight", "call med s", "call p95 s",
         "over s/round", "briefed twice", "per worker", "pending", "CPU s"],
        [[r["repeat"], r["workers"], r["stories"], f"{r['seconds']:.2f}",
          f"{r['ideal_seconds']:.0f}", f"{r['throughput']:.2f}", times(r["vs_one"]),
          r["calls"], r["distinct_requests"], r["duplicates"], f"{r['calls_per_story']:.2f}",
          r["peak_in_flight"], f"{r['call_median_s']:.3f}", f"{r['call_p95_s']:.3f}",
          f"{r['overhead_per_round_s']:.3f}", r["briefed_twice"],
          "/".join(map(str, r["per_worker"])),
          r["pending"], "/".join(f"{c:.1f}" for c in r["cpu_seconds"])] for r in runs])


def main(argv: Sequence[str] | None = None) -> None:
    """Build the stories, run one worker then three per repeat, and report the medians."""
    options = parser(__doc__, servers=True)
    options.add_argument("--stories", type=int,
                         help=f"pending stories per run (default {STORIES}, --quick "
                              f"{QUICK_STORIES})")
    options.add_argument("--repeat", type=int,
                         help=f"runs of each (default {REPEAT}, --quick {QUICK_REPEAT})")
    options.add_argument("--server-url",
                         help="a PostgreSQL server (SQLAlchemy URL) to make the databases on, "
                              "instead of a throwaway cluster")
    args = options.parse_args(argv)
    count = pick(args.stories, STORIES, QUICK_STORIES, args.quick)
    repeats = pick(args.repeat, REPEAT, QUICK_REPEAT, args.quick)
    info = context("summarise_workers", args.quick)
    print_context(info)
    now = datetime.now(UTC).replace(microsecond=0)
    made = make_articles(count + WORKERS, now)
    articles, warm = made[:count], made[count:]
    runs: list[dict[str, Any]] = []
    with postgres(args.server_url) as server_url, \
            Served(WorkersLLM, LATENCY, in_process=args.in_process) as llm:
        for number in range(1, repeats + 1):
            one = run(1, server_url, llm, articles, warm, now)
            three = run(WORKERS, server_url, llm, articles, warm, now)
            for row in (one, three):
                row["repeat"] = number
                row["vs_one"] = ratio(row["throughput"], one["throughput"])
                runs.append(row)
            print(f"  repeat {number}: 1 worker {one['seconds']:.1f} s, {WORKERS} workers "
                  f"{three['seconds']:.1f} s: {times(three['vs_one'])}", flush=True)
        where = llm.where
    print(f"\n{count} stories (one article each), fake LLM {LATENCY:.1f} s per call ({where}), "
          f"summarise_concurrency {CONCURRENCY} per worker, a fresh PostgreSQL database per "
          f"run\n")
    print("in flight = most calls open at once at the fake; call = an LLM call's latency as the "
          "client logged it; over s/round = (wall - ideal) / the ideal's LLM rounds: what a "
          "round costs beyond the fake's 1 s")
    print_runs(runs)
    ones = [r for r in runs if r["workers"] == 1]
    threes = [r for r in runs if r["workers"] == WORKERS]
    ratios = [r["vs_one"] for r in threes]
    summary = {
        "one_worker_seconds": median([r["seconds"] for r in ones]),
        "one_worker_throughput": median([r["throughput"] for r in ones]),
        "three_workers_seconds": median([r["seconds"] for r in threes]),
        "three_workers_throughput": median([r["throughput"] for r in threes]),
        "ratio": median(ratios), "ratio_min": min(ratios),
        "ideal_ratio": ratio(ones[0]["ideal_seconds"], threes[0]["ideal_seconds"]),
        "duplicates": sum(r["duplicates"] for r in runs),
        "briefed_twice": sum(r["briefed_twice"] for r in runs),
        "left_pending": sum(r["pending"] for r in runs),
        "calls": sum(r["calls"] for r in runs), "stories": sum(r["stories"] for r in runs),
    }
    passes = (summary["ratio"] >= TARGET and summary["duplicates"] == 0
              and summary["briefed_twice"] == 0 and summary["left_pending"] == 0)
    print("\nSUMMARY")
    print(f"1 worker: {count} stories in {summary['one_worker_seconds']:.2f} s = "
          f"{summary['one_worker_throughput']:.2f} stories/s (median of {repeats}; ideal "
          f"{ones[0]['ideal_seconds']:.0f} s)")
    print(f"{WORKERS} workers: {summary['three_workers_seconds']:.2f} s = "
          f"{summary['three_workers_throughput']:.2f} stories/s (ideal "
          f"{threes[0]['ideal_seconds']:.0f} s)")
    print(f"Ratio {WORKERS} workers / 1: {summary['ratio']:.3f}x median (lowest "
          f"{summary['ratio_min']:.3f}x; ideal {summary['ideal_ratio']:.3f}x); target >= "
          f"{TARGET}x: {'pass' if summary['ratio'] >= TARGET else 'FAIL'}")
    print(f"LLM calls: {summary['calls']} for {summary['stories']} stories over every run, "
          f"{summary['duplicates']} beyond one per distinct request; "
          f"{summary['briefed_twice']} stories briefed twice, {summary['left_pending']} left "
          f"pending: {yes_no(passes)} (all targets met)")
    data = {"latency_s": LATENCY, "concurrency": CONCURRENCY, "workers": WORKERS,
            "stories": count, "repeats": repeats, "runs": runs, "summary": summary}
    finish(info, result_name("summarise_workers", args.quick), data, {
        "stories": count, "ratio": round(summary["ratio"], 3),
        "one_worker_stories_per_second": round(summary["one_worker_throughput"], 2),
        "three_workers_stories_per_second": round(summary["three_workers_throughput"], 2),
        "duplicates": summary["duplicates"], "briefed_twice": summary["briefed_twice"],
        "target": TARGET, "pass": passes, "servers": where})


if __name__ == "__main__":
    main()

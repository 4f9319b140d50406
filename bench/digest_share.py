"""Shared digest composition: 100,000 subscribers over 10,000 stories in 200 distinct settings.

Target (issue 13): queueing every due digest with one composition per setting is >= 10x
faster than composing each reader's digest on its own, measured in the same run.

The store (a fresh, migrated SQLite file in a temp dir) holds what `bench.digest` builds
(`bench.digest.fill`: 20 feeds, 10,000 stories over 7 days, 1-4 articles each, a French and
an English brief with points and quotes for 98% of them) and no readers of its own; then
100,000 subscribers, each with one of 200 distinct settings: languages (fr, en, both),
every feed (60%) or 1-5 feeds (stored in a shuffled order, a feed sometimes twice: the same
setting spelled differently), last digest 24 h (80%), 30 h or 12 h ago, and for 10 of the
settings a keyword filter (one included word, or one excluded). The first 200 readers take
the settings in turn (each is used), the others one at random. Every digest is due at
`now` (time zones of `bench.digest.ZONES`, digest times 0-120 min before `now`).

Two ways to queue every due digest, each run in a fresh child process (spawned) on a fresh
copy of the store (SQLite backup API, made outside the timed part):

- shared (the service now, `schedule_digests`' three steps timed one by one):
  `due_targets`, `shared_digests` (one `compose_setting` per setting), then
  `queue_digest_rows` (one INSERT and one UPDATE per 1,000 rows);
- per reader (the service before): `due_targets`, then `digest_for` for each due target
  (its own `compose_digest`, as `schedule_digests` called it), then
  `briefing.store.deliveries.queue_digests` (an ORM row and a subscriber read per digest).

Per reader takes ~7 ms per unfiltered reader and ~0.25 s per filtered one on this store:
for 100,000 readers, over half an hour. So by default it composes and queues for a sample
of `--baseline-subscribers` due targets (every k-th, so the settings come in the same
mix), and its compose and queue times are EXTRAPOLATED linearly to every due target (the
output says so on every such line); `due_targets` is measured over every target.
`--baseline-subscribers` equal to `--subscribers` measures it whole (nothing
extrapolated). The bench checks that the sampled targets' rows are the same both ways.

Time: wall clock (`perf_counter`) of each step; the median over `--runs` shared runs,
`--baseline-runs` per-reader ones. Memory, per variant and run: the child's resident set
before the pass (`VmRSS`: interpreter, imports, the store opened) and its peak during the
pass (`VmHWM` after `/proc/self/clear_refs` restarted it just before; Linux), the growth
being their difference; and in one more untimed child run each, the Python heap's peak
during the pass (`tracemalloc`: Python objects only, not SQLite's page cache). The
per-reader memory figures are its sample's: memory is not extrapolated.

Run: .venv/bin/python -m bench.digest_share                       (~11 min)
     .venv/bin/python -m bench.digest_share --subscribers 10000 --baseline-subscribers 10000
     .venv/bin/python -m bench.digest_share --quick               (1,000 stories, 2,000 readers)
"""

from __future__ import annotations

import random
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.digest import DAYS, FEEDS, ZONES, Scale, copy_store, due_time, fill
from bench.harness import (
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
from briefing.config import Settings, StoreSettings
from briefing.service.digests import digest_for, due_targets, shared_digests
from briefing.store.db import open_database
from briefing.store.deliveries import queue_digests
from briefing.store.digests import queue_digest_rows
from briefing.store.models import DeliveryRow, SubscriberRow

TARGET_RATIO = 10.0
ALL_FEEDS_SHARE = 0.60
LANGUAGES = ("fr", "en", "both")
# Hours since the last digest, with their weights: most readers got theirs a day ago.
PERIODS = ((24, 0.8), (30, 0.1), (12, 0.1))
# Words of the OrangeSum sentences the briefs are made of ("france": ~7% of sentences).
INCLUDED = ("france", "paris", "president", "macron", "epidemie")
EXCLUDED = ("morts", "lundi", "janvier")


@dataclass(frozen=True)
class Size:
    """How big a run is."""

    stories: int
    subscribers: int
    settings: int
    filtered: int  # settings with a keyword filter
    baseline_subscribers: int  # due targets the per-reader pass composes for
    runs: int
    baseline_runs: int


FULL = Size(stories=10_000, subscribers=100_000, settings=200, filtered=10,
            baseline_subscribers=5_000, runs=5, baseline_runs=1)
QUICK = Size(stories=1_000, subscribers=2_000, settings=40, filtered=2,
             baseline_subscribers=2_000, runs=1, baseline_runs=1)

# ---------------------------------------------------------------- the readers


@dataclass(frozen=True)
class Profile:
    """One of the distinct settings readers have."""

    languages: str
    feeds: tuple[int, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    hours: int  # since the last digest


def profiles(rng: random.Random, count: int, filtered: int) -> list[Profile]:
    """`count` distinct settings, the first `filtered` of them with a keyword filter."""
    out: list[Profile] = []
    while len(out) < count:
        feeds = (() if rng.random() < ALL_FEEDS_SHARE
                 else tuple(sorted(rng.sample(range(1, FEEDS + 1), rng.randint(1, 5)))))
        include: tuple[str, ...] = ()
        exclude: tuple[str, ...] = ()
        if len(out) < filtered:
            if rng.random() < 0.5:
                include = (rng.choice(INCLUDED),)
            else:
                exclude = (rng.choice(EXCLUDED),)
        hours = rng.choices([h for h, _ in PERIODS], [w for _, w in PERIODS])[0]
        profile = Profile(rng.choice(LANGUAGES), feeds, include, exclude, hours)
        if profile not in out:
            out.append(profile)
    return out


def spelled(rng: random.Random, feeds: tuple[int, ...]) -> list[int]:
    """The feeds as a reader's row may hold them: shuffled, sometimes one twice."""
    out = list(feeds)
    if out and rng.random() < 0.3:
        out.append(rng.choice(out))
    rng.shuffle(out)
    return out


def subscriber_rows(rng: random.Random, now: datetime, count: int,
                    pool: Sequence[Profile]) -> list[dict[str, Any]]:
    """`count` readers, every one due at `now`, each with one setting of `pool`."""
    rows = []
    for i in range(1, count + 1):
        profile = pool[i - 1] if i <= len(pool) else rng.choice(pool)
        zone = rng.choice(ZONES)
        rows.append({"id": i, "chat_id": f"chat-{i}", "name": f"Reader {i}",
                     "languages": profile.languages, "digest_time": due_time(zone, now, rng),
                     "timezone": zone, "feeds": spelled(rng, profile.feeds), "active": True,
                     "filters_include": list(profile.include),
                     "filters_exclude": list(profile.exclude),
                     "last_digest_at": now - timedelta(hours=profile.hours)})
    return rows


def build(path: Path, now: datetime, size: Size, seed: int = 13) -> dict[str, Any]:
    """The store of `bench.digest` with no readers, then this bench's readers."""
    db = open_database(StoreSettings(url=f"sqlite:///{path}"))
    store = fill(db, now, DAYS, Scale(stories_per_week=size.stories, subscribers=0, rounds=1))
    rng = random.Random(seed)
    pool = profiles(rng, size.settings, size.filtered)
    rows = subscriber_rows(rng, now, size.subscribers, pool)
    with db.session() as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(SubscriberRow), rows[start:start + 2000])
    db.close()
    store["counts"]["subscribers"] = len(rows)
    return store

# ---------------------------------------------------------------- one pass, in a child


STATUS = Path("/proc/self/status")


def rss_now_mb() -> float:
    """This process's resident set now, MB (`VmRSS`)."""
    return rss_field("VmRSS")


def rss_field(name: str) -> float:
    """A memory figure of /proc/self/status, MB (Linux reports KB)."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {name} in {STATUS}")


def reset_peak() -> None:
    """Start the peak resident set (`VmHWM`) again from the resident set now (Linux >= 4.0).
    Not `ru_maxrss`: a spawned child starts with its parent's peak, so the bench's
    store-building would hide the pass's."""
    Path("/proc/self/clear_refs").write_text("5")


def one_pass(path: str, variant: str, now: datetime, every: int, trace: bool) -> dict[str, Any]:
    """Queue every due digest on the store at `path`, the `variant` way ("shared" or
    "per reader", which composes for every `every`-th due target only); the seconds of
    each step, memory, and the sampled targets' rows."""
    db = open_database(StoreSettings(url=f"sqlite:///{path}"), migrate=False)
    settings = Settings.model_validate({})
    reset_peak()
    rss_before = rss_now_mb()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    due = due_targets(db, now, settings)
    listed = time.perf_counter()
    sample = due[::every]
    compositions = None
    if variant == "shared":
        shared = shared_digests(db, due, now, settings)
        digests, compositions = list(shared.digests), shared.compositions
        composed = time.perf_counter()
        queued = queue_digest_rows(db, digests, now)
    else:
        digests = [digest_for(db, target, day, now, settings) for target, day in sample]
        composed = time.perf_counter()
        queued = queue_digests(db, digests, now)
    done = time.perf_counter()
    heap = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    rss_peak = rss_field("VmHWM")
    with db.session() as session:
        rows = int(session.scalar(select(func.count(DeliveryRow.id))) or 0)
    db.close()
    sampled = {target.id for target, _ in sample}
    return {"variant": variant, "due": len(due), "digests": len(digests), "queued": queued,
            "rows_written": rows, "compositions": compositions,
            "seconds": {"due_targets": listed - started, "compose": composed - listed,
                        "queue": done - composed, "total": done - started},
            "rss_before_mb": rss_before, "rss_peak_mb": rss_peak,
            "rss_growth_mb": rss_peak - rss_before,
            "heap_peak_mb": heap,
            "sample": {d.key: list(d.story_ids) for d in digests if d.subscriber_id in sampled}}


def in_child(source: Path, number: int, variant: str, now: datetime, every: int,
             trace: bool) -> dict[str, Any]:
    """`one_pass` in a fresh spawned process, on a fresh copy of the store."""
    copy = source.with_name(f"run-{number}.db")
    copy_store(source, copy).close()
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            return pool.submit(one_pass, str(copy), variant, now, every, trace).result()
    finally:
        for leftover in copy.parent.glob(f"{copy.name}*"):
            leftover.unlink()

# ---------------------------------------------------------------- figures


def summarise(runs: Sequence[dict[str, Any]], scale: float) -> dict[str, Any]:
    """Median seconds of each step over `runs`; compose and queue times `scale`d (the
    per-reader extrapolation; 1 for a pass over every target)."""
    steps = {step: median([r["seconds"][step] for r in runs])
             for step in ("due_targets", "compose", "queue")}
    steps["compose"] *= scale
    steps["queue"] *= scale
    steps["total"] = sum(steps.values())
    return {"seconds": steps, "runs": len(runs),
            "rss_growth_mb": median([r["rss_growth_mb"] for r in runs]),
            "rss_before_mb": median([r["rss_before_mb"] for r in runs]),
            "rss_peak_mb": median([r["rss_peak_mb"] for r in runs])}


def main(argv: Sequence[str] | None = None) -> None:
    """Build the store, time both ways of queueing every digest, print and save."""
    options = parser(__doc__)
    options.add_argument("--subscribers", type=int, help="readers (default 100,000)")
    options.add_argument("--baseline-subscribers", type=int,
                         help="due targets the per-reader pass composes for, its times then "
                              "extrapolated to all (default 5,000; = --subscribers: none)")
    options.add_argument("--runs", type=int, help="shared passes (default 5)")
    options.add_argument("--baseline-runs", type=int, help="per-reader passes (default 1)")
    options.add_argument("--no-tracemalloc", action="store_true",
                         help="skip the untimed runs that measure the Python heap's peak")
    args = options.parse_args(argv)
    base = QUICK if args.quick else FULL
    subscribers = pick(args.subscribers, FULL.subscribers, QUICK.subscribers, args.quick)
    size = Size(base.stories, subscribers, base.settings, base.filtered,
                min(subscribers, pick(args.baseline_subscribers, FULL.baseline_subscribers,
                                      QUICK.baseline_subscribers, args.quick)),
                pick(args.runs, FULL.runs, QUICK.runs, args.quick),
                pick(args.baseline_runs, FULL.baseline_runs, QUICK.baseline_runs, args.quick))
    info = context("digest_share", args.quick)
    print_context(info)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    every = max(1, size.subscribers // size.baseline_subscribers)
    with tempfile.TemporaryDirectory(prefix="bench-digest-share-") as tmp:
        source = Path(tmp) / "store.db"
        started = time.perf_counter()
        store = build(source, now, size)
        built = time.perf_counter() - started
        print(f"Store: {store['counts']['stories']} stories, {store['counts']['articles']} "
              f"articles, {store['counts']['briefs']} briefs, {size.subscribers} subscribers "
              f"in {size.settings} settings ({size.filtered} filtered), built in {built:.0f} s")
        numbers = iter(range(1_000))
        shared = [in_child(source, next(numbers), "shared", now, every, False)
                  for _ in range(size.runs)]
        baseline = [in_child(source, next(numbers), "per reader", now, every, False)
                    for _ in range(size.baseline_runs)]
        heaps = {} if args.no_tracemalloc else {
            variant: in_child(source, next(numbers), variant, now, every, True)["heap_peak_mb"]
            for variant in ("shared", "per reader")}
    due = shared[0]["due"]
    sampled = baseline[0]["digests"]
    scale = due / sampled
    extrapolated = sampled < due
    new, old = summarise(shared, 1.0), summarise(baseline, scale)
    same = all(b["sample"] == s["sample"] for b in baseline for s in shared)
    speedup = ratio(old["seconds"]["total"], new["seconds"]["total"])
    label = f" (EXTRAPOLATED from {sampled} due targets, x{scale:.1f})" if extrapolated else ""
    print(f"\nQueueing every due digest ({due} due, {shared[0]['queued']} with stories; "
          f"shared: median of {new['runs']} runs; per reader: median of {old['runs']}"
          f"{label}):\n")

    def row(name: str, figures: dict[str, Any], note: str) -> list[str]:
        s = figures["seconds"]
        return [name, f"{s['due_targets']:.2f}", f"{s['compose']:.2f}{note}",
                f"{s['queue']:.2f}{note}", f"{s['total']:.2f}{note}",
                f"{figures['rss_before_mb']:.0f}", f"{figures['rss_peak_mb']:.0f}",
                f"{figures['rss_growth_mb']:.0f}"]

    mark = " *" if extrapolated else ""
    print_table(["way", "due_targets s", "compose s", "queue s", "total s", "RSS before MB",
                  "RSS peak MB", "growth MB"],
                [row("shared", new, ""), row("per reader", old, mark)])
    if extrapolated:
        print(f"* EXTRAPOLATED: measured over {sampled} of the {due} due targets, times "
              f"{scale:.1f}; its memory is the sample's, not extrapolated")
    if heaps:
        print(f"Python heap peak (tracemalloc, one untimed run each): shared "
              f"{heaps['shared']:.0f} MB over {due} targets, per reader "
              f"{heaps['per reader']:.0f} MB over {sampled} targets (not extrapolated)")
    print(f"Compositions in a shared pass: {shared[0]['compositions']} "
          f"(distinct settings: {size.settings})")
    print(f"Sampled targets' rows the same both ways: {'yes' if same else 'NO'}")
    print(f"\nSUMMARY\nshared {new['seconds']['total']:.2f} s vs per reader "
          f"{old['seconds']['total']:.2f} s{label}: {times(speedup)} faster (target >= "
          f"{TARGET_RATIO:.0f}x): {'pass' if speedup >= TARGET_RATIO and same else 'FAIL'}")
    data = {"now": now.isoformat(), "size": size.__dict__, "store": store,
            "shared": new, "per_reader": old, "extrapolated": extrapolated,
            "per_reader_scale": scale, "heap_peak_mb": heaps, "same_rows": same,
            "runs": {"shared": [{k: v for k, v in r.items() if k != "sample"} for r in shared],
                     "per_reader": [{k: v for k, v in r.items() if k != "sample"}
                                    for r in baseline]}}
    finish(info, result_name("digest_share", args.quick), data, {
        "subscribers": size.subscribers, "settings": size.settings, "due": due,
        "shared_s": round(new["seconds"]["total"], 3),
        "per_reader_s": round(old["seconds"]["total"], 3),
        "per_reader_extrapolated_from": sampled if extrapolated else None,
        "speedup": round(speedup, 2), "compositions": shared[0]["compositions"],
        "same_rows": same, "pass": speedup >= TARGET_RATIO and same})


if __name__ == "__main__":
    main()

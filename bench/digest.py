"""Digest composition: a SQLite store with 10,000 stories, 1,000 subscribers.

Target (from the issue): median <= 5 ms per subscriber to compose a digest on SQLite.

The store (a fresh, migrated SQLite file in a temp dir) is filled directly
through the ORM, in bulk: 20 feeds; 10,000 stories whose last article was
published over the last 7 days (ids in time order, as ingest creates them),
1-4 articles each, the articles spread over the feeds (OrangeSum texts and a
signature of realistic size, so rows have their real weight); a French and an
English brief with points and quotes for every summarised story (2% are still
pending); each point stored as `save_result` stores it, its text with the sentence it
rests on (source, sentence number, offsets in the OrangeSum text, the sentence).
1,000 subscribers: languages fr, en or both; 60% follow every feed, 40% follow 1-5
feeds; their last digest 24 h ago; time zone and digest time chosen so that every
digest is due at `now`.

1. `compose(...)` per subscriber, as `schedule_digests` calls it (since =
   last_digest_at, the reader's languages and feeds, limit
   service.digest_max_stories = 8; compose opens its own session); one untimed
   call first. Median, p95 and max ms, overall and per kind of reader.
2. One full `schedule_digests` pass over the 1,000 due subscribers (compose for
   each, the outbox rows in one transaction; the channel renders at delivery,
   so no rendering here); its time / 1,000.

For one reader of each kind, compose's three statements are run raw (no ORM)
with SQLite's query plan. When the median misses the target (or with
`--profile`), the compose calls are profiled (cProfile). `--what-if` times
compose again on copies of the temp store changed by each candidate in
`WHAT_IF` (ANALYZE; VACUUM; points as plain strings, the store as it was before
points carried their support, then VACUUM): a what-if only, the project's schema is
not changed.

The baseline of every what-if is compose on the unchanged store, in the same
run (ratio of the medians).

`--days N` keeps N days of history at the same density (10,000 stories per 7
days), to see how compose scales with the store's age.

Run: .venv/bin/python -m bench.digest              (under a minute)
     .venv/bin/python -m bench.digest --what-if    (plus compose after each WHAT_IF)
     .venv/bin/python -m bench.digest --days 42    (six weeks of history, ~2 min)
     .venv/bin/python -m bench.digest --quick      (1,000 stories, 100 subscribers, 1 round)
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import pstats
import random
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text

from bench.common import load_orangesum
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
    spread,
    timed,
    times,
    yes_no,
)
from briefing.config import Settings, StoreSettings
from briefing.service.digests import compose, languages_of, local_zone, schedule_digests
from briefing.store.db import Database, open_database
from briefing.store.models import (
    SUMMARISED,
    ArticleRow,
    BriefRow,
    DeliveryRow,
    FeedRow,
    StoryRow,
    SubscriberRow,
)
from briefing.text.sentences import sentence_number

FEEDS = 20
DAYS = 7
PENDING_SHARE = 0.02
ALL_FEEDS_SHARE = 0.60
TARGET_MEDIAN_MS = 5.0
ZONES = ("Europe/Paris", "UTC", "Europe/London", "America/Montreal", "Africa/Dakar",
         "Asia/Tokyo", "Pacific/Noumea", "America/Sao_Paulo")
# Candidates for --what-if, each on its own copy of the store: (name, SQL statements).
WHAT_IF: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ANALYZE", ("ANALYZE",)),
    # The store as it was before points carried their support (#11): each point its text,
    # the file rewritten after the update; VACUUM alone is its control.
    ("VACUUM", ("VACUUM",)),
    ("points as plain strings, then VACUUM", (
        "UPDATE briefs SET points = (SELECT json_group_array(json_extract(p.value, '$.text')) "
        "FROM json_each(briefs.points) AS p)", "VACUUM")),
)



@dataclass(frozen=True)
class Scale:
    """How big the store is and how often compose is timed."""

    stories_per_week: int  # stories whose last article falls in 7 days of history
    subscribers: int
    rounds: int  # compose passes over every subscriber


FULL = Scale(stories_per_week=10_000, subscribers=1_000, rounds=3)
QUICK = Scale(stories_per_week=1_000, subscribers=100, rounds=1)

# ---------------------------------------------------------------- filling the store


@dataclass(frozen=True)
class Corpus:
    """Texts to give the rows their real weight."""

    texts: list[str]
    sentences: list[str]
    # Each sentence where its text has it, as a stored point's support shows it: source id,
    # sentence number (as prompts number them), start and end offsets, the sentence.
    support: dict[str, dict[str, Any]]


def _support(text: str, piece: str) -> dict[str, Any]:
    start = text.find(piece)
    end = start + len(piece) + (text[start + len(piece):start + len(piece) + 1] == ".")
    return {"source": "S1", "sentence": sentence_number(text, start), "start": start,
            "end": end, "text": text[start:end]}


def load_corpus() -> Corpus:
    """OrangeSum texts and their sentences of 8-40 words (for briefs and quotes)."""
    texts = [a.text for a in load_orangesum()]
    pieces = [(t, s.strip()) for t in texts for s in t.split(". ") if 8 <= len(s.split()) <= 40]
    sentences = [piece + "." for _, piece in pieces]
    support = {piece + ".": _support(t, piece) for t, piece in pieces}
    return Corpus(texts, sentences, support)


def signature_json(rng: random.Random) -> dict[str, Any]:
    """A clustering signature of realistic size (64 MinHash values, names, numbers, terms)."""
    return {"minhash": [rng.getrandbits(32) for _ in range(64)],
            "names": [f"name{rng.randrange(5000)}" for _ in range(rng.randint(3, 12))],
            "numbers": [str(rng.randrange(10, 100_000)) for _ in range(rng.randint(0, 6))],
            "title_terms": [f"term{rng.randrange(3000)}" for _ in range(rng.randint(15, 30))],
            "language": "fr", "published": None}


def story_count(days: int, scale: Scale) -> int:
    """`stories_per_week` per 7 days: a longer history keeps the same density."""
    return round(scale.stories_per_week * days / DAYS)


def story_times(rng: random.Random, now: datetime, days: int,
                scale: Scale) -> list[tuple[datetime, datetime]]:
    """(first, last published) per story over the last `days` days, oldest first."""
    span = days * 86_400
    lasts = sorted(now - timedelta(seconds=rng.uniform(0, span))
                   for _ in range(story_count(days, scale)))
    return [(last - timedelta(seconds=rng.uniform(0, 12 * 3600)), last) for last in lasts]


def story_rows(times: Sequence[tuple[datetime, datetime]], sizes: Sequence[int],
               pending: set[int]) -> list[dict[str, Any]]:
    """One row per story; the pending ones not summarised (nor briefed) yet."""
    return [{"id": i, "title": f"Story {i}", "language": "fr", "version": sizes[i - 1],
             "summarised_version": 0 if i in pending else sizes[i - 1],
             "first_published": first, "last_published": last, "created_at": first,
             "updated_at": last, "briefed_at": None if i in pending else last}
            for i, (first, last) in enumerate(times, start=1)]


def article_rows(rng: random.Random, corpus: Corpus, times: Sequence[tuple[datetime, datetime]],
                 sizes: Sequence[int]) -> list[dict[str, Any]]:
    """1-4 articles per story, published between its first and last date, any feed."""
    rows: list[dict[str, Any]] = []
    for story_id, ((first, last), size) in enumerate(zip(times, sizes, strict=True), start=1):
        for k in range(size):
            when = first if k == 0 else last if k == size - 1 else first + (last - first) / 2
            n = len(rows) + 1
            feed = rng.randrange(1, FEEDS + 1)
            rows.append({
                "id": n, "content_hash": hashlib.sha256(str(n).encode()).hexdigest(),
                "url": f"https://outlet{feed}.example/{story_id}/{n}.html",
                "title": f"Article {n} of story {story_id}", "outlet": f"Outlet {feed}",
                "published": when, "published_text": when.isoformat(), "language": "fr",
                "text": corpus.texts[n % len(corpus.texts)], "state": SUMMARISED,
                "signature": signature_json(rng), "feed_id": feed, "story_id": story_id,
                "created_at": when,
            })
    return rows


def point(corpus: Corpus, sentence: str) -> dict[str, Any]:
    """A stored point restating `sentence` (its first 20 words), with the sentence as its
    support, as `save_result` stores it."""
    return {"text": " ".join(sentence.split()[:20]), "support": [corpus.support[sentence]]}


def brief_rows(rng: random.Random, corpus: Corpus, sizes: Sequence[int],
               pending: set[int]) -> list[dict[str, Any]]:
    """A fr and an en brief per summarised story: headline, 3 points (each with the sentence
    it rests on), 2 quotes."""
    rows = []
    for story_id, size in enumerate(sizes, start=1):
        if story_id in pending:
            continue
        for lang in ("fr", "en"):
            picked = rng.sample(corpus.sentences, 5)
            quotes = [{"text": q, "source": "S1", "translation": None if lang == "fr" else q,
                       "start": 0, "end": len(q)} for q in picked[3:]]
            rows.append({
                "story_id": story_id, "language": lang, "story_version": size,
                "headline": " ".join(picked[0].split()[:12]),
                "points": [point(corpus, p) for p in picked[:3]],
                "quotes": quotes,
                "engine": "llm", "model": "gpt-4o-mini",
                "usage": {"calls": 1, "prompt_tokens": 1400, "completion_tokens": 420},
                "citations": {"checked": 2, "verified": 2, "rejected": 0},
            })
    return rows


def due_time(zone: str, now: datetime, rng: random.Random) -> str:
    """A local HH:MM 0-120 minutes before `now` in `zone`: the digest is due at `now`."""
    local = now.astimezone(local_zone(zone)) - timedelta(minutes=rng.randint(0, 120))
    return local.strftime("%H:%M")


def subscriber_rows(rng: random.Random, now: datetime, count: int) -> list[dict[str, Any]]:
    """`count` readers, every one due at `now`, last digest 24 h ago."""
    rows = []
    for i in range(1, count + 1):
        zone = rng.choice(ZONES)
        feeds = ([] if rng.random() < ALL_FEEDS_SHARE
                 else sorted(rng.sample(range(1, FEEDS + 1), rng.randint(1, 5))))
        rows.append({"id": i, "chat_id": f"chat-{i}", "name": f"Reader {i}",
                     "languages": rng.choice(("fr", "en", "both")),
                     "digest_time": due_time(zone, now, rng), "timezone": zone, "feeds": feeds,
                     "active": True, "last_digest_at": now - timedelta(hours=24)})
    return rows


def fill(db: Database, now: datetime, days: int, scale: Scale,
         seed: int = 7) -> dict[str, Any]:
    """Bulk-insert the whole store; returns what was inserted and how long it took."""
    rng = random.Random(seed)
    corpus = load_corpus()
    started = time.perf_counter()
    times = story_times(rng, now, days, scale)
    sizes = [rng.randint(1, 4) for _ in times]
    pending = set(rng.sample(range(1, len(times) + 1), int(PENDING_SHARE * len(times))))
    tables: list[tuple[Any, list[dict[str, Any]]]] = [
        (FeedRow, [{"id": k, "url": f"https://outlet{k}.example/feed.xml", "title": f"Outlet {k}"}
                for k in range(1, FEEDS + 1)]),
        (StoryRow, story_rows(times, sizes, pending)),
        (ArticleRow, article_rows(rng, corpus, times, sizes)),
        (BriefRow, brief_rows(rng, corpus, sizes, pending)),
        # the same mix of readers for any --days
        (SubscriberRow, subscriber_rows(random.Random(seed + 1), now, scale.subscribers)),
    ]
    with db.session() as session:
        for model, rows in tables:
            for start in range(0, len(rows), 2000):
                session.execute(insert(model), rows[start:start + 2000])
    counts = {model.__tablename__: len(rows) for model, rows in tables}
    return {"counts": counts, "seconds": time.perf_counter() - started,
            "pending_stories": len(pending)}


# ---------------------------------------------------------------- timing compose


@dataclass(frozen=True)
class Reader:
    """What compose needs of a subscriber."""

    id: int
    since: datetime
    languages: tuple[str, ...]
    feeds: list[int]
    setting: str

    @property
    def kind(self) -> str:
        """'all feeds' or '1-5 feeds'."""
        return "all feeds" if not self.feeds else "1-5 feeds"


def readers(db: Database, now: datetime) -> list[Reader]:
    """Every subscriber, as compose sees them."""
    with db.session() as session:
        subs = session.scalars(select(SubscriberRow).order_by(SubscriberRow.id)).all()
        return [Reader(s.id, s.last_digest_at or now - timedelta(days=1),
                       languages_of(s.languages), list(s.feeds or []), s.languages)
                for s in subs]


@dataclass(frozen=True)
class Timing:
    """One compose call (it opens and closes its own session): ms, stories returned."""

    reader: Reader
    compose_ms: float
    items: int


def run_compose(db: Database, reader: Reader, limit: int) -> int:
    """compose for one reader, as `schedule_digests` calls it; the number of stories."""
    return len(compose(db, reader.since, reader.languages, reader.feeds, limit))


def time_compose(db: Database, reader: Reader, limit: int) -> Timing:
    """One compose call, timed (wall clock)."""
    items, _, wall = timed(lambda: run_compose(db, reader, limit))
    return Timing(reader, 1000 * wall, items)


def compose_all(db: Database, people: Sequence[Reader], limit: int,
                rounds: int) -> dict[str, Any]:
    """Time compose for every reader, `rounds` times after one untimed call.

    A reader's figure is the median of their rounds, which keeps out most of the noise
    from other processes on the machine; the first round's own median is kept too.
    """
    first = time_compose(db, people[0], limit)
    passes = [[time_compose(db, r, limit) for r in people] for _ in range(rounds)]
    timings = [Timing(reader, median([p[i].compose_ms for p in passes]), passes[0][i].items)
               for i, reader in enumerate(people)]
    groups: dict[str, list[Timing]] = {"all readers": timings}
    for t in timings:
        groups.setdefault(t.reader.kind, []).append(t)
        groups.setdefault(f"languages {t.reader.setting}", []).append(t)
    rows: dict[str, dict[str, Any]] = {
        name: {"readers": len(ts), "compose_ms": spread([t.compose_ms for t in ts]),
               "median_items": median([t.items for t in ts]),
               "empty": sum(t.items == 0 for t in ts)}
        for name, ts in groups.items()}
    return {"first_call_ms": first.compose_ms, "rounds": rounds, "groups": rows,
            "first_round_median_ms": median([t.compose_ms for t in passes[0]]),
            "passes": rows["all readers"]["compose_ms"]["median"] <= TARGET_MEDIAN_MS}


def print_compose(result: dict[str, Any], title: str) -> None:
    """The compose table: one row per group of readers."""
    print_table(
        [title, "readers", "median ms", "p95 ms", "max ms", "mean ms",
         "items", "empty"],
        [[name, g["readers"], f"{g['compose_ms']['median']:.2f}", f"{g['compose_ms']['p95']:.2f}",
          f"{g['compose_ms']['max']:.2f}", f"{g['compose_ms']['mean']:.2f}",
          f"{g['median_items']:.0f}", g["empty"]]
         for name, g in result["groups"].items()])


# ---------------------------------------------------------------- schedule_digests


def schedule_pass(db: Database, now: datetime, settings: Settings) -> dict[str, Any]:
    """One schedule_digests pass; every subscriber is due."""
    queued, _, seconds = timed(lambda: schedule_digests(db, now, settings))
    with db.session() as session:
        rows = session.execute(select(DeliveryRow.state, func.count()).group_by(DeliveryRow.state))
        states = {state: n for state, n in rows}
    handled = sum(states.values())
    return {"seconds": seconds, "queued": queued, "deliveries": states, "subscribers": handled,
            "ms_per_subscriber": 1000 * seconds / max(handled, 1)}


# ---------------------------------------------------------------- profile and what-if


def profile_compose(db: Database, people: Sequence[Reader], limit: int) -> str:
    """cProfile over compose for every reader: the top functions by cumulative time."""
    profile = cProfile.Profile()
    profile.enable()
    for reader in people:
        run_compose(db, reader, limit)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(18)
    return out.getvalue()


@dataclass(frozen=True)
class Statement:
    """One SQL statement as SQLAlchemy sent it to SQLite."""

    sql: str
    parameters: Any


def compose_statements(db: Database, reader: Reader, limit: int) -> list[Statement]:
    """The statements one compose call runs, captured at the cursor."""
    captured: list[Statement] = []

    def record(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        captured.append(Statement(sql, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        run_compose(db, reader, limit)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return captured


def explain(db: Database, statement: Statement, runs: int = 20) -> dict[str, Any]:
    """SQLite's plan for a statement and the median ms to run it raw (no ORM)."""
    with db.engine.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement.sql}", statement.parameters)]
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            connection.exec_driver_sql(statement.sql, statement.parameters).all()
            times.append(1000 * (time.perf_counter() - started))
    return {"sql": " ".join(statement.sql.split()), "plan": plan, "raw_ms": median(times)}


def diagnose(db: Database, people: Sequence[Reader], limit: int) -> dict[str, Any]:
    """For one reader of each kind: every compose statement, its plan and raw time."""
    out = {}
    for kind in ("all feeds", "1-5 feeds"):
        reader = next(r for r in people if r.kind == kind)
        names = ("stories", "briefs", "articles")
        out[kind] = {"reader": reader.id, "feeds": reader.feeds, "statements": {
            name: explain(db, st)
            for name, st in zip(names, compose_statements(db, reader, limit), strict=False)}}
    return out


def points_size(db: Database) -> dict[str, Any]:
    """Stored points: how many, and the bytes of the briefs' `points` JSON per point."""
    with db.engine.connect() as connection:
        points, size = connection.execute(text(
            "SELECT sum(json_array_length(points)), sum(length(CAST(points AS BLOB))) "
            "FROM briefs")).one()
    return {"points": int(points or 0), "bytes": int(size or 0),
            "bytes_per_point": ratio(float(size or 0), float(points or 0))}


def copy_store(source: Path, target: Path) -> Database:
    """A copy of the SQLite store (backup API, so the WAL's content comes along)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return open_database(StoreSettings(url=f"sqlite:///{target}"), migrate=False)


def what_if(path: Path, people: Sequence[Reader], limit: int,
            rounds: int) -> list[dict[str, Any]]:
    """Compose again on a copy of the store changed by each candidate, one at a time."""
    rows = []
    for number, (name, statements) in enumerate(WHAT_IF, start=1):
        target = path.with_name(f"what-if-{number}.db")
        db = copy_store(path, target)
        # Each statement on its own (VACUUM cannot run in a transaction).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for sql in statements:
                connection.execute(text(sql))
        result = compose_all(db, people, limit, rounds)
        rows.append({"change": name, "compose": result, "points": points_size(db),
                     "diagnosis": diagnose(db, people, limit)})
        db.close()
        target.unlink()
    return rows


# ---------------------------------------------------------------- main


def print_diagnosis(diagnosis: dict[str, Any]) -> None:
    """Each statement's raw time and plan, per kind of reader."""
    for kind, d in diagnosis.items():
        feeds = f", feeds {d['feeds']}" if d["feeds"] else ""
        print(f"- reader {d['reader']} ({kind}{feeds}), compose's statements run raw:")
        for name, st in d["statements"].items():
            print(f"    {name}: {st['raw_ms']:.2f} ms; plan: {' | '.join(st['plan'])}")


def summary(store: dict[str, Any], composed: dict[str, Any], scheduled: dict[str, Any]) -> None:
    """The figures to quote."""
    overall = composed["groups"]["all readers"]["compose_ms"]
    counts = store["counts"]
    print("\nSUMMARY")
    print(f"Store: {counts['stories']} stories ({store['pending_stories']} pending), "
          f"{counts['articles']} articles, {counts['briefs']} briefs, {counts['feeds']} feeds, "
          f"{counts['subscribers']} subscribers (SQLite)")
    size = store["points"]
    print(f"Stored points: {size['points']}, {size['bytes_per_point']:.0f} bytes each (the "
          f"briefs' points JSON as stored, {size['bytes'] / 1e6:.1f} MB)")
    print(f"compose per subscriber: median {overall['median']:.2f} ms, p95 {overall['p95']:.2f} "
          f"ms, max {overall['max']:.2f} ms (target median <= {TARGET_MEDIAN_MS:.0f} ms): "
          f"{'pass' if composed['passes'] else 'FAIL'}")
    kinds = composed["groups"]
    print(f"  by reader: all feeds median {kinds['all feeds']['compose_ms']['median']:.2f} ms "
          f"({kinds['all feeds']['readers']}), 1-5 feeds median "
          f"{kinds['1-5 feeds']['compose_ms']['median']:.2f} ms ({kinds['1-5 feeds']['readers']})")
    print(f"schedule_digests, one pass over {scheduled['subscribers']} due subscribers: "
          f"{scheduled['seconds']:.2f} s = {scheduled['ms_per_subscriber']:.2f} ms per subscriber "
          f"({scheduled['queued']} digests queued, {scheduled['deliveries']})")


def print_what_if(rows: Sequence[dict[str, Any]], composed: dict[str, Any]) -> None:
    """Each candidate's medians, and its ratio to compose on the unchanged store."""
    base = composed["groups"]["all readers"]["compose_ms"]["median"]
    for row in rows:
        groups = row["compose"]["groups"]
        g = groups["all readers"]["compose_ms"]
        print(f"What-if, {row['change']}: median {g['median']:.2f} ms "
              f"({times(row['vs_baseline'])} the unchanged store's {base:.2f} ms), "
              f"p95 {g['p95']:.2f} ms, pass: {yes_no(row['compose']['passes'])}; all feeds "
              f"median {groups['all feeds']['compose_ms']['median']:.2f} ms, 1-5 feeds median "
              f"{groups['1-5 feeds']['compose_ms']['median']:.2f} ms; stored points "
              f"{row['points']['bytes_per_point']:.0f} bytes each")


def main(argv: Sequence[str] | None = None) -> None:
    """Fill the store, time compose and schedule_digests, print and save the figures."""
    options = parser(__doc__)
    options.add_argument("--what-if", action="store_true",
                         help="time compose again on copies of the store changed by each "
                              "WHAT_IF candidate (ANALYZE, VACUUM, points as plain strings)")
    options.add_argument("--profile", action="store_true", help="profile even when it passes")
    options.add_argument("--rounds", type=int,
                         help="compose passes over every subscriber (default 3, quick 1)")
    options.add_argument("--days", type=int, default=DAYS,
                         help="history in the store, at the same density (default 7)")
    args = options.parse_args(argv)
    base = QUICK if args.quick else FULL
    scale = Scale(base.stories_per_week, base.subscribers,
                  pick(args.rounds, FULL.rounds, QUICK.rounds, args.quick))
    info = context("digest", args.quick)
    print_context(info)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    settings = Settings.model_validate({})
    limit = settings.service.digest_max_stories
    with tempfile.TemporaryDirectory(prefix="bench-digest-") as tmp:
        path = Path(tmp) / "digest.db"
        db = open_database(StoreSettings(url=f"sqlite:///{path}"))
        store = fill(db, now, args.days, scale)
        store["points"] = points_size(db)
        people = readers(db, now)
        composed = compose_all(db, people, limit, scale.rounds)
        diagnosis = diagnose(db, people, limit)
        profile = (profile_compose(db, people, limit)
                   if args.profile or not composed["passes"] else None)
        whatif = what_if(path, people, limit, scale.rounds) if args.what_if else []
        scheduled = schedule_pass(db, now, settings)
        db.close()
    base_ms = composed["groups"]["all readers"]["compose_ms"]["median"]
    for row in whatif:
        row["vs_baseline"] = ratio(row["compose"]["groups"]["all readers"]["compose_ms"]["median"],
                                   base_ms)
    print(f"Digest composition: {store['counts']['stories']} stories over {args.days} days, "
          f"{scale.subscribers} subscribers, limit {limit}; store filled in "
          f"{store['seconds']:.1f} s\n")
    print_compose(composed, "compose")
    print(f"ms = per subscriber, the median of {composed['rounds']} rounds; first round alone: "
          f"median {composed['first_round_median_ms']:.2f} ms; first (untimed) call: "
          f"{composed['first_call_ms']:.1f} ms")
    print_diagnosis(diagnosis)
    if profile:
        print("\ncProfile of compose over every subscriber (top, by cumulative time):")
        print("\n".join(profile.splitlines()[:40]))
    for row in whatif:
        print(f"\nWHAT-IF (a copy of this temp store), {row['change']}:")
        print_compose(row["compose"], "compose")
        print_diagnosis(row["diagnosis"])
    summary(store, composed, scheduled)
    print_what_if(whatif, composed)
    data = {"now": now.isoformat(), "days": args.days, "scale": scale.__dict__,
            "store": store, "compose": composed, "diagnosis": diagnosis,
            "schedule_digests": scheduled, "what_if": whatif, "profile": profile}
    name = "digest" if args.days == DAYS else f"digest-{args.days}d"
    finish(info, result_name(name, args.quick), data, {
        "stories": store["counts"]["stories"], "subscribers": scale.subscribers,
        "compose_median_ms": round(base_ms, 3),
        "compose_p95_ms": round(composed["groups"]["all readers"]["compose_ms"]["p95"], 3),
        "pass": composed["passes"],
        "schedule_ms_per_subscriber": round(scheduled["ms_per_subscriber"], 3),
        "what_if_vs_baseline": {r["change"]: round(r["vs_baseline"], 3) for r in whatif}})


if __name__ == "__main__":
    main()

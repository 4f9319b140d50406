"""Ingest and summarise throughput: 1,000 feed articles, a fake LLM that answers after 1 s.

Target (from the issue): summarising throughput >= 90% of the configured
concurrency / LLM latency; peak memory <= 300 MB.

1. 1,000 distinct French articles are built from the 20 OrangeSum articles: each
   one gets a lead paragraph and a title of its own, then sentences drawn at random
   from the whole corpus, every capitalised word (names) replaced by an invented
   name and every number by one no other article uses. So each article is a story
   of its own: no names or numbers shared, shingles mostly distinct.
2. They are served as 10 RSS feeds of 100 entries, full text in content:encoded
   (no page fetch), by the project's fake web server; `ingest_feeds` polls them
   into a fresh SQLite store (phase a: feeds -> articles and stories).
3. The fake OpenAI-compatible server answers every call after exactly 1.0 s with
   `tests/fakes/briefs.good_answer` (a valid brief, verbatim quotes, so no retry).
   For each concurrency C, a block of N pending stories (N = --stories, the other
   stories parked as summarised) goes through `summarise_pending` with
   `summarise_concurrency = C` and the store's LLM call log (phase b); the call
   log is emptied before each run so no answer comes from the cache.
   Throughput = stories / s against the ideal C / 1 s.

   Before the timed runs, one untimed warm-up run (max C stories, not reused)
   pays the once-per-process costs (tiktoken encoding, prompt templates), as a
   long-running service has.

The fakes run in a child process by default, as a remote server would be, so the
peak RSS (`ru_maxrss`) is the service's own; `--in-process` runs them in this
process, as the tests do. `--tracemalloc` adds a last, untimed pass that repeats
ingest + one summarise run (fresh store) under `tracemalloc`: the peak of what
the work itself allocates, everything loaded once per process (modules, the
language model, the tiktoken encoding) being loaded already.

Run: .venv/bin/python bench/ingest.py                       (N = 240, C = 4 8 16; ~2 min)
     .venv/bin/python bench/ingest.py --stories 1000 --concurrency 8   (the full 1,000)
"""

from __future__ import annotations

import argparse
import hashlib
import html
import math
import multiprocessing
import os
import random
import re
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from common import (
    MODEL,
    ROOT,
    Article,
    load_orangesum,
    median,
    percentile,
    print_table,
    write_results,
    yes_no,
)
from sqlalchemy import delete, func, select, update

from briefing.config import Settings
from briefing.service.ingest import ingest_feeds
from briefing.service.summaries import summarise_pending
from briefing.store.db import Database, open_database
from briefing.store.models import ArticleRow, BriefRow, FeedRow, LLMCallRow, StoryRow
from briefing.text.sentences import split_sentences
from briefing.text.words import STOPWORDS, WORD, fold

sys.path.insert(0, str(ROOT))
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.web_server import FakeWebServer

ARTICLES, FEEDS = 1000, 10
LATENCY = 1.0  # seconds the fake LLM waits before every answer
TARGET_THROUGHPUT = 0.90  # share of concurrency / latency
TARGET_RSS_MB = 300.0
MIN_BODY_WORDS = 280  # well above the feed teaser limit (150 words): no page fetch

# ---------------------------------------------------------------- distinct articles

_ELISION = re.compile(r"^(?:[dlnsjcmt]|qu|jusqu|lorsqu|puisqu)['’]", re.I)
_DIGITS = re.compile(r"\d+")
_SYLLABLES = ("ka", "lo", "mi", "ra", "ve", "dun", "bel", "tor", "sa", "ni", "qua", "zen", "fo",
              "ri", "gal", "mar", "te", "vi", "nor", "pel", "bru", "cas", "do", "len", "mo", "pi",
              "sol", "tan", "u", "xe")
_ROLES = ("porte-parole", "directrice", "adjoint au maire", "avocate", "secrétaire générale",
          "responsable syndical", "chercheuse", "entraîneur")
_LEADS = (
    "{p}, {role} de {o}, a confirmé que {n} personnes étaient concernées.",
    "Selon {p}, {role} chez {o}, le dossier porte sur {n} euros au total.",
    "{p} ({o}) a annoncé un bilan de {n} cas, un chiffre jamais atteint jusqu'ici.",
    "À {o}, {p}, {role}, évoque {n} signalements reçus en quelques semaines.",
    "{p}, {role} auprès de {o}, affirme que {n} dossiers restent en suspens.",
)


@dataclass(frozen=True)
class FeedArticle:
    """One feed entry: a unique story."""

    number: int
    title: str
    paragraphs: tuple[str, ...]
    published: datetime

    @property
    def url(self) -> str:
        return f"https://news{self.number % FEEDS}.example/articles/{self.number}.html"

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


class Inventor:
    """Invented names and numbers, never handed out twice."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used: set[str] = set()

    def name(self) -> str:
        while True:
            count = self.rng.choice((2, 3, 3, 4))
            word = "".join(self.rng.choice(_SYLLABLES) for _ in range(count)).capitalize()
            if word not in self.used and fold(word) not in STOPWORDS:
                self.used.add(word)
                return word

    def acronym(self) -> str:
        while True:
            word = "".join(self.rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(4))
            if word not in self.used:
                self.used.add(word)
                return word


class Rewriter:
    """Rewrites one article's text: its own names (consistently) and its own numbers."""

    def __init__(self, number: int, inventor: Inventor) -> None:
        self.inventor = inventor
        self.names: dict[str, str] = {}
        self.next_number = 10_000 + number * 100  # 100 numbers per article, none shared

    def number(self) -> str:
        value = self.next_number
        self.next_number += 1 if value % 100 < 99 else -99
        return str(value)

    def _name(self, word: str) -> str:
        if word not in self.names:
            letters = [c for c in word if c.isalpha()]
            acronym = len(letters) >= 2 and all(c.isupper() for c in letters)
            self.names[word] = self.inventor.acronym() if acronym else self.inventor.name()
        return self.names[word]

    def _word(self, match: re.Match[str]) -> str:
        word = match.group()
        elided = _ELISION.match(word)
        head, rest = (word[: elided.end()], word[elided.end():]) if elided else ("", word)
        if len(rest) > 1 and rest[0].isupper() and fold(rest) not in STOPWORDS:
            return head + self._name(rest)
        return word

    def rewrite(self, text: str) -> str:
        text = _DIGITS.sub(lambda _: self.number(), text)
        return WORD.sub(self._word, text)


def sentence_pool(articles: Sequence[Article]) -> list[str]:
    """Every sentence of the corpus of 5 to 60 words."""
    pool = []
    for article in articles:
        for span in split_sentences(article.text):
            sentence = " ".join(article.text[span.start:span.end].split())
            if 5 <= len(sentence.split()) <= 60:
                pool.append(sentence)
    return pool


def make_article(number: int, pool: Sequence[str], inventor: Inventor,
                 now: datetime) -> FeedArticle:
    """Article `number`: its own lead and title, then random corpus sentences, rewritten."""
    rng = random.Random(number)
    rewriter = Rewriter(number, inventor)
    person = f"{inventor.name()} {inventor.name()}"
    lead = rng.choice(_LEADS).format(p=person, role=rng.choice(_ROLES), o=inventor.name(),
                                     n=rewriter.number())
    body: list[str] = []
    for sentence in rng.sample(pool, len(pool)):
        body.append(rewriter.rewrite(sentence))
        if sum(len(s.split()) for s in body) >= MIN_BODY_WORDS:
            break
    paragraphs = (lead, *(" ".join(body[i:i + 3]) for i in range(0, len(body), 3)))
    title = f"{person} : {' '.join(body[0].split()[:9]).rstrip(',;:')}"
    published = now - timedelta(minutes=2.5 * number)  # spread over the last ~42 hours
    return FeedArticle(number, title, paragraphs, published)


def make_articles(count: int, now: datetime) -> list[FeedArticle]:
    """`count` distinct articles, newest first."""
    pool = sentence_pool(load_orangesum())
    inventor = Inventor(seed=2024)
    return [make_article(i, pool, inventor, now) for i in range(count)]


def rss(number: int, items: Sequence[FeedArticle]) -> bytes:
    """An RSS 2.0 feed with the full text of each item in content:encoded."""
    entries = []
    for item in items:
        markup = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in item.paragraphs)
        entries.append(
            f"<item><title>{html.escape(item.title)}</title><link>{item.url}</link>"
            f"<guid isPermaLink=\"true\">{item.url}</guid>"
            f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>"
            f"<description>{html.escape(item.paragraphs[0])}</description>"
            f"<content:encoded><![CDATA[{markup}]]></content:encoded></item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Bench feed {number}</title><link>https://news{number}.example/</link>"
        f"<description>bench</description>{''.join(entries)}</channel></rss>"
    ).encode()


def make_feeds(articles: Sequence[FeedArticle]) -> dict[str, bytes]:
    """Path -> RSS bytes: FEEDS feeds, articles dealt round-robin."""
    return {f"/feeds/{k}.xml": rss(k, [a for a in articles if a.number % FEEDS == k])
            for k in range(FEEDS)}


# ---------------------------------------------------------------- the fake servers


@dataclass(frozen=True)
class FakeStats:
    """What the fake LLM saw since its last reset."""

    calls: int
    peak_in_flight: int


class Servers:
    """The fake web server (feeds) and the fake LLM (1 s per answer), in this process."""

    def __init__(self, feeds: dict[str, bytes], latency: float) -> None:
        self.latency = latency
        self.web = FakeWebServer()
        for path, body in feeds.items():
            self.web.route(path, body, content_type="application/rss+xml; charset=utf-8")
        self.llm = FakeOpenAI(default=self._answer)
        self._lock = threading.Lock()
        self._starts: list[float] = []
        self._calls_before = 0

    def _answer(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self._starts.append(time.monotonic())
        return Reply.content(good_answer(request)).with_delay(self.latency)

    def start(self) -> tuple[str, str]:
        self.web.start()
        self.llm.start()
        return self.web.base_url, self.llm.base_url

    def stats(self) -> FakeStats:
        with self._lock:
            starts = sorted(self._starts)
        return FakeStats(self.llm.calls - self._calls_before, peak_overlap(starts, self.latency))

    def reset(self) -> None:
        with self._lock:
            self._starts.clear()
        self._calls_before = self.llm.calls

    def stop(self) -> None:
        self.llm.stop()
        self.web.stop()


def peak_overlap(starts: Sequence[float], length: float) -> int:
    """Most intervals [start, start + length) open at once (starts sorted)."""
    peak, first = 0, 0
    for i, start in enumerate(starts):
        while starts[first] + length <= start:
            first += 1
        peak = max(peak, i - first + 1)
    return peak


class Fakes(Protocol):
    """The fake servers, wherever they run."""

    web_url: str
    llm_url: str

    def stats(self) -> FakeStats: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class LocalFakes:
    """The fakes in this process (as in the tests): their memory counts in our RSS."""

    def __init__(self, feeds: dict[str, bytes], latency: float) -> None:
        self.servers = Servers(feeds, latency)
        self.web_url, self.llm_url = self.servers.start()

    def stats(self) -> FakeStats:
        return self.servers.stats()

    def reset(self) -> None:
        self.servers.reset()

    def close(self) -> None:
        self.servers.stop()


def _serve(conn: Connection, feeds: dict[str, bytes], latency: float) -> None:
    """Child process: run the fakes and answer commands until told to stop."""
    servers = Servers(feeds, latency)
    conn.send(servers.start())
    actions: dict[str, Callable[[], object]] = {"stats": servers.stats, "reset": servers.reset}
    while (command := conn.recv()) != "stop":
        conn.send(actions[command]())
    servers.stop()
    conn.send(None)


class ChildFakes:
    """The fakes in a child process, like a remote server: our RSS is the service's own."""

    def __init__(self, feeds: dict[str, bytes], latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, feeds, latency), daemon=True)
        self.process.start()
        self.web_url, self.llm_url = self._receive()

    def _receive(self) -> Any:
        while not self.conn.poll(0.5):
            if not self.process.is_alive():
                sys.exit(f"the fake servers' process died (exit code {self.process.exitcode})")
        return self.conn.recv()

    def _ask(self, command: str) -> Any:
        self.conn.send(command)
        return self._receive()

    def stats(self) -> FakeStats:
        stats: FakeStats = self._ask("stats")
        return stats

    def reset(self) -> None:
        self._ask("reset")

    def close(self) -> None:
        self._ask("stop")
        self.process.join(timeout=10)


# ---------------------------------------------------------------- the store and settings


def settings_for(fakes: Fakes, db_url: str, concurrency: int) -> Settings:
    """Built-in defaults, with the LLM and the feeds at the fakes."""
    llm = {"engine": "llm", "base_url": fakes.llm_url, "api_key": "dummy", "model": MODEL,
           "timeout": 30.0, "max_retries": 0}
    return Settings.model_validate({
        "llm": llm, "fetch": {"allow_private": True}, "store": {"url": db_url},
        "service": {"summarise_concurrency": concurrency, "max_entries_per_poll": 200},
    })


def open_store(db_url: str, fakes: Fakes) -> Database:
    """A fresh migrated SQLite store with the feeds registered."""
    db = open_database(settings_for(fakes, db_url, 1).store)
    with db.session() as session:
        session.add_all(FeedRow(url=f"{fakes.web_url}/feeds/{k}.xml") for k in range(FEEDS))
    return db


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    current = peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    return current, peak


# ---------------------------------------------------------------- phase a: ingest


def ingest(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    """Poll every feed into the store; time it and count what was stored."""
    wall, cpu = time.perf_counter(), time.process_time()
    report = ingest_feeds(db, now, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if report.errors:
        sys.exit(f"feed errors: {report.errors}")
    with db.session() as session:
        articles = session.scalar(select(func.count(ArticleRow.id))) or 0
        sizes = session.execute(select(func.count(ArticleRow.id)).group_by(ArticleRow.story_id))
        per_story = [n for (n,) in sizes]
    current, peak = rss_mb()
    return {"feeds": report.polled, "stored": report.stored, "duplicates": report.duplicates,
            "articles": articles, "stories": len(per_story),
            "stories_with_several": sum(n > 1 for n in per_story),
            "largest_story": max(per_story, default=0), "seconds": wall, "cpu_seconds": cpu,
            "articles_per_second": articles / wall, "cpu_ms_per_article": 1000 * cpu / articles,
            "rss_mb": current, "peak_rss_mb": peak}


# ---------------------------------------------------------------- phase b: summarise


def story_ids(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(StoryRow.id).order_by(StoryRow.id)))


def make_pending(db: Database, block: Sequence[int]) -> None:
    """Only `block` pending: the others parked as summarised; the LLM call log emptied."""
    with db.session() as session:
        session.execute(update(StoryRow).values(summarised_version=StoryRow.version))
        session.execute(update(StoryRow).where(StoryRow.id.in_(block)).values(summarised_version=0))
        session.execute(delete(BriefRow).where(BriefRow.story_id.in_(block)))
        session.execute(delete(LLMCallRow))


def call_latencies(db: Database) -> list[float]:
    """Seconds per LLM call as the engine logged them (client side)."""
    with db.session() as session:
        return [ms / 1000 for ms in session.scalars(select(LLMCallRow.duration_ms))]


def summarise_run(db: Database, fakes: Fakes, settings: Settings,
                  block: Sequence[int]) -> dict[str, Any]:
    """Summarise `block` with the settings' concurrency; throughput against the ideal."""
    concurrency = settings.service.summarise_concurrency
    make_pending(db, block)
    fakes.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    report = summarise_pending(db, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = fakes.stats()
    if report.failed or sorted(report.summarised) != sorted(block):
        sys.exit(f"C={concurrency}: {len(report.summarised)} summarised of {len(block)}, "
                 f"failed: {list(report.failed.items())[:3]}")
    latencies = call_latencies(db)
    done = len(block)
    throughput = done / wall
    ideal = concurrency / LATENCY
    ideal_makespan = math.ceil(done / concurrency) * LATENCY
    current, peak = rss_mb()
    return {
        "concurrency": concurrency, "stories": done, "seconds": wall, "cpu_seconds": cpu,
        "throughput": throughput, "ideal": ideal, "share_of_ideal": throughput / ideal,
        "ideal_seconds": ideal_makespan, "passes": throughput / ideal >= TARGET_THROUGHPUT,
        "calls": stats.calls, "calls_per_story": stats.calls / done,
        "peak_in_flight": stats.peak_in_flight,
        "call_latency_median": median(latencies), "call_latency_p95": percentile(latencies, 95),
        "slot_seconds_per_story": wall * concurrency / done,
        "cpu_ms_per_story": 1000 * cpu / done, "rss_mb": current, "peak_rss_mb": peak,
    }


def blocks(ids: Sequence[int], size: int, count: int) -> list[list[int]]:
    """`count` blocks of `size` story ids, disjoint while there are enough stories."""
    if size > len(ids):
        sys.exit(f"--stories {size}: only {len(ids)} stories in the store")
    return [[ids[(i * size + j) % len(ids)] for j in range(size)] for i in range(count)]


def summarise_all(db: Database, fakes: Fakes, db_url: str, stories: int,
                  concurrency: Sequence[int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An untimed warm-up run on the last stories, then one timed run per concurrency."""
    ids = story_ids(db)
    warm = summarise_run(db, fakes, settings_for(fakes, db_url, max(concurrency)),
                         ids[-max(concurrency):])
    runs = [summarise_run(db, fakes, settings_for(fakes, db_url, c), block)
            for c, block in zip(concurrency, blocks(ids, stories, len(concurrency)),
                                strict=True)]
    return warm, runs


# ---------------------------------------------------------------- tracemalloc (untimed)


def heap_peak(directory: Path, fakes: Fakes, now: datetime, stories: int,
              concurrency: int) -> dict[str, Any]:
    """Python heap peak over ingest + one summarise run, in a fresh store, under tracemalloc."""
    db_url = f"sqlite:///{directory / 'traced.db'}"
    settings = settings_for(fakes, db_url, concurrency)
    tracemalloc.start()
    db = open_store(db_url, fakes)
    ingest(db, settings, now)
    ingest_peak = tracemalloc.get_traced_memory()[1]
    summarise_run(db, fakes, settings, story_ids(db)[:stories])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    db.close()
    return {"stories": stories, "concurrency": concurrency,
            "ingest_peak_mb": ingest_peak / 2**20, "peak_mb": peak / 2**20}


# ---------------------------------------------------------------- report


@dataclass
class Outcome:
    """Everything measured."""

    corpus: dict[str, Any]
    ingest: dict[str, Any]
    runs: list[dict[str, Any]]
    memory: dict[str, Any]
    warm_up: dict[str, Any]
    heap: dict[str, Any] | None = None
    together: list[dict[str, Any]] = field(default_factory=list)


def print_ingest(row: dict[str, Any]) -> None:
    print_table(
        ["phase a: ingest", "feeds", "stored", "dup", "stories", "multi", "s", "art/s",
         "cpu ms/art", "RSS MB"],
        [["feeds -> store", row["feeds"], row["stored"], row["duplicates"], row["stories"],
          row["stories_with_several"], f"{row['seconds']:.1f}",
          f"{row['articles_per_second']:.1f}", f"{row['cpu_ms_per_article']:.1f}",
          f"{row['rss_mb']:.0f}"]])


def print_runs(runs: Sequence[dict[str, Any]]) -> None:
    print_table(
        ["phase b: summarise", "stories", "s", "ideal s", "stories/s", "ideal/s", "% ideal",
         "pass", "calls/story", "in flight", "call med s", "call p95 s", "slot s/story",
         "cpu ms/story", "RSS MB"],
        [[f"C = {r['concurrency']}", r["stories"], f"{r['seconds']:.1f}",
          f"{r['ideal_seconds']:.0f}", f"{r['throughput']:.2f}", f"{r['ideal']:.0f}",
          f"{100 * r['share_of_ideal']:.1f}", yes_no(r["passes"]), f"{r['calls_per_story']:.2f}",
          r["peak_in_flight"], f"{r['call_latency_median']:.3f}",
          f"{r['call_latency_p95']:.3f}", f"{r['slot_seconds_per_story']:.3f}",
          f"{r['cpu_ms_per_story']:.1f}", f"{r['rss_mb']:.0f}"] for r in runs])


def together(ingest_row: dict[str, Any], runs: Sequence[dict[str, Any]],
             articles: int) -> list[dict[str, Any]]:
    """One service cycle, ingest then summarise every story, per concurrency."""
    rows = []
    for run in runs:
        measured = run["stories"] == ingest_row["stories"]
        summarise_s = run["seconds"] if measured else ingest_row["stories"] / run["throughput"]
        total = ingest_row["seconds"] + summarise_s
        rows.append({"concurrency": run["concurrency"], "ingest_seconds": ingest_row["seconds"],
                     "summarise_seconds": summarise_s, "summarise_measured": measured,
                     "seconds": total, "articles_per_second": articles / total})
    return rows


def print_summary(out: Outcome, in_process: bool) -> None:
    ing, mem, warm = out.ingest, out.memory, out.warm_up
    print("\nSUMMARY")
    print(f"Corpus: {out.corpus['articles']} articles ({out.corpus['median_words']:.0f} words "
          f"median) in {FEEDS} feeds -> {ing['stories']} stories "
          f"({ing['stories_with_several']} with more than one article)")
    print(f"Ingest (feeds -> articles + stories): {ing['seconds']:.1f} s, "
          f"{ing['articles_per_second']:.1f} articles/s, {ing['cpu_ms_per_article']:.1f} ms CPU "
          f"per article")
    for run in out.runs:
        print(f"Summarise C={run['concurrency']}: {run['stories']} stories in "
              f"{run['seconds']:.1f} s = {run['throughput']:.2f} stories/s, "
              f"{100 * run['share_of_ideal']:.1f}% of {run['ideal']:.0f}/s (target >= "
              f"{100 * TARGET_THROUGHPUT:.0f}%): {'pass' if run['passes'] else 'FAIL'}; "
              f"{run['calls_per_story']:.2f} calls/story, {run['peak_in_flight']} calls in flight")
    print(f"(untimed warm-up before them: {warm['stories']} stories at C={warm['concurrency']} "
          f"in {warm['seconds']:.1f} s, {warm['cpu_ms_per_story']:.0f} ms CPU per story)")
    for row in out.together:
        kind = "measured" if row["summarise_measured"] else "summarise extrapolated"
        print(f"Together C={row['concurrency']} (ingest + summarise {ing['stories']} stories, "
              f"{kind}): {row['seconds']:.1f} s = {row['articles_per_second']:.2f} articles/s")
    where = "in this process" if in_process else "in a child process, not counted"
    print(f"Peak RSS: {mem['peak_rss_mb']:.0f} MB (target <= {TARGET_RSS_MB:.0f}): "
          f"{'pass' if mem['passes'] else 'FAIL'}; {mem['baseline_rss_mb']:.0f} MB after imports, "
          f"peak {ing['peak_rss_mb']:.0f} MB by the end of ingest; fake servers {where}")
    if out.heap:
        print(f"tracemalloc peak of what a second, untimed pass allocates (ingest + "
              f"C={out.heap['concurrency']} on {out.heap['stories']} stories; modules, models "
              f"and encodings already loaded): {out.heap['peak_mb']:.1f} MB "
              f"(ingest alone {out.heap['ingest_peak_mb']:.1f} MB)")


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=240,
                        help="stories per summarise run (default 240, a multiple of 4, 8, 16)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 16],
                        help="summarise_concurrency values to run (default 4 8 16)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the fake servers in this process (their memory counts)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="add an untimed pass under tracemalloc (about 1 min)")
    return parser.parse_args()


def result_name(args: argparse.Namespace, full: bool) -> str:
    """bench/results/ingest.json, or ingest-full / ingest-in-process(-full) for the variants."""
    return "-".join(["ingest", *(["in-process"] if args.in_process else []),
                     *(["full"] if full else [])])


def code_fingerprint() -> str:
    """A short hash of the package's sources: which code the figures are for."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "briefing").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def main() -> None:
    """Build the feeds, ingest them, summarise at each concurrency, and report."""
    args = parse_args()
    load_before = os.getloadavg()[0]
    baseline_rss = rss_mb()[0]
    now = datetime.now(UTC).replace(microsecond=0)
    articles = make_articles(ARTICLES, now)
    corpus = {"articles": len(articles), "feeds": FEEDS,
              "median_words": median([a.words for a in articles]),
              "distinct_titles": len({a.title for a in articles})}
    fakes: Fakes = (LocalFakes if args.in_process else ChildFakes)(make_feeds(articles), LATENCY)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            directory = Path(tmp)
            db_url = f"sqlite:///{directory / 'bench.db'}"
            db = open_store(db_url, fakes)
            ingest_row = ingest(db, settings_for(fakes, db_url, 1), now)
            warm, runs = summarise_all(db, fakes, db_url, args.stories, args.concurrency)
            db.close()
            peak = rss_mb()[1]
            memory = {"peak_rss_mb": peak, "baseline_rss_mb": baseline_rss,
                      "passes": peak <= TARGET_RSS_MB, "fakes_in_process": args.in_process}
            heap = heap_peak(directory, fakes, now, min(args.stories, 200),
                             max(args.concurrency)) if args.tracemalloc else None
    finally:
        fakes.close()
    out = Outcome(corpus, ingest_row, runs, memory, warm, heap,
                  together(ingest_row, runs, len(articles)))
    load = os.getloadavg()
    print(f"{len(articles)} articles, {FEEDS} RSS feeds (full text), fake LLM {LATENCY:.1f} s "
          f"per call, SQLite store, {len(runs)} summarise runs of {args.stories} stories; "
          f"code {code_fingerprint()}, load average {load_before:.2f} before, {load[0]:.2f} after "
          f"({os.cpu_count()} CPUs)\n")
    print_ingest(ingest_row)
    print()
    print("in flight = most calls open at once at the fake; slot = seconds a worker spends per "
          "story (ideal 1.0)")
    print_runs(runs)
    print_summary(out, args.in_process)
    data = {"latency_s": LATENCY, "code": code_fingerprint(),
            "load_average": {"before": load_before, "after": load[0]},
            "corpus": corpus, "ingest": ingest_row, "warm_up": warm, "summarise": runs,
            "together": out.together, "memory": memory, "tracemalloc": heap,
            "stories_per_run": args.stories}
    path = write_results(result_name(args, args.stories == ingest_row["stories"]), data)
    print(f"\nwritten: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

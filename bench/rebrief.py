"""Debounced re-briefing: LLM calls per story and the delay readers see, on a replayed stream.

Target (issue #12): LLM calls per story <= 1.3 on a stream where stories gain sources
over hours.

1. The stream (seeded, the same for every run): S stories (300; --quick 40), the
   first source of each at a uniform time in the first 6 hours. A story has n
   sources, P(n) proportional to 1/n for n = 1..15 (a third of stories have one
   source, a few have many; mean about 4.5). After the first, each source belongs
   to the burst with probability 0.75, gaps drawn from an exponential of mean 2 min
   (the issue's "10 outlets over 20 minutes"), or to the trickle that follows, gaps
   of mean 45 min: a story's late sources come over hours. Each later source brings
   news with probability --news (0.3; 1: every source does): the rest retell it.
2. Articles: each source is a short text of its own (a lead naming its outlet, then
   the first sentences of one of the 20 OrangeSum articles, the story's); a source
   that brings news adds the next two sentences of that article no earlier source
   of the story had (new facts), while a retelling has only the lead and the shared
   sentences (outlets picking up one wire copy). They are stored
   through the store's own `add_article` into the story the stream says. Clustering
   is bypassed: one of its mistakes would split or merge stories and blur the count
   of calls per story (its quality is `bench.clustering`'s).
3. Simulated time advances in fixed cycles of --poll minutes (2: a newsroom that
   polls often; 15: the default `service.poll_minutes`). Each cycle stores the
   sources that arrived since the previous one, with the cycle's time as their
   ingestion time (as `Service.cycle` does), then runs `summarise_pending` with the
   cycle's time as its clock; the replay ends when every story has a brief of all
   its sources.
4. Policies, each on a fresh SQLite store, in the same run: today's behaviour
   (quiet 0, max delay 0, no novelty check: every story with a new source at the
   next pass), the debounce alone (10/30, novelty 0), and the built-in defaults
   (10/30 and `rebrief_novelty` 0.25: a re-brief calls the LLM only when the joined
   sources bring news); --sweep adds other debounce settings.
5. The LLM is the fake OpenAI-compatible server (`tests/fakes/openai_server`)
   answering every call at once with `tests/fakes/briefs.good_answer`, in a child
   process (the harness's `Served`; `--in-process`: in this one). Calls are its
   request count per run, divided by the stories. Delay: for each source, from its
   arrival to the cycle whose brief first includes it (poll wait included, as a
   reader sees it), median / p95 / max, also apart for first sources (a story's
   first brief) and later ones (updates).

Nothing here is timed: the figures are counts and simulated minutes, the same on
any machine (wall seconds per run are given only to size the run).

Run: .venv/bin/python -m bench.rebrief                (300 stories, polls 2 and 15; ~8 min)
     .venv/bin/python -m bench.rebrief --news 1       (every later source brings news)
     .venv/bin/python -m bench.rebrief --sweep        (adds 4 settings per poll; ~15 min)
     .venv/bin/python -m bench.rebrief --quick        (40 stories; ~1 min)
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import MODEL, load_orangesum
from bench.harness import (
    Served,
    context,
    finish,
    parser,
    pick,
    print_context,
    print_table,
    ratio,
    result_name,
    spread,
    times,
    yes_no,
)
from briefing.config import ServiceSettings, Settings, StoreSettings
from briefing.service.summaries import summarise_pending
from briefing.store.articles import Members, NewArticle, add_article
from briefing.store.db import open_database
from briefing.store.stories import pending_story_ids
from briefing.stories.signature import signature
from briefing.text.sentences import split_sentences
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply

STORIES, QUICK_STORIES = 300, 40
SEED = 12
START = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
OPENING_HOURS = 6.0  # stories start over these hours
MAX_SOURCES = 15
BURST_SHARE = 0.75  # a later source is in the burst with this probability
BURST_GAP, TRICKLE_GAP = 2.0, 45.0  # minutes, means of exponential gaps
SENTENCES = 4  # of the OrangeSum article in each source: a brief fits one call
NEWS = 0.3  # the share of later sources that bring news (default of --news)
NEW_SENTENCES = 2  # that a source bringing news adds
POLLS = (2.0, 15.0)
TARGET = 1.3  # LLM calls per story
DEFAULTS = ServiceSettings()
SWEEP = ((5.0, 30.0), (10.0, 60.0), (30.0, 120.0), (60.0, 240.0))


# ---------------------------------------------------------------- the stream


@dataclass(frozen=True)
class Source:
    """One source of the stream."""

    story: int  # the story's index in the stream
    number: int  # its rank in the story, from 0
    arrival: float  # minutes after START
    news: bool = False  # it tells facts no earlier source of its story had


def make_stream(stories: int, news: float = NEWS, seed: int = SEED) -> list[Source]:
    """Every source of `stories` stories, in arrival order; a later source brings news
    with probability `news` (drawn from its own generator: the times do not change)."""
    rng, told = random.Random(seed), random.Random(seed + 1)
    counts = range(1, MAX_SOURCES + 1)
    weights = [1 / n for n in counts]
    sources = []
    for story in range(stories):
        n = rng.choices(counts, weights)[0]
        late = sum(rng.random() >= BURST_SHARE for _ in range(n - 1))
        at = rng.uniform(0, OPENING_HOURS * 60)
        sources.append(Source(story, 0, at))
        for number in range(1, n):
            at += rng.expovariate(1 / (BURST_GAP if number < n - late else TRICKLE_GAP))
            sources.append(Source(story, number, at, told.random() < news))
    return sorted(sources, key=lambda s: (s.arrival, s.story, s.number))


def stream_stats(sources: Sequence[Source]) -> dict[str, Any]:
    """What the stream is: stories, sources per story, how long stories keep growing."""
    by_story: dict[int, list[float]] = defaultdict(list)
    for source in sources:
        by_story[source.story].append(source.arrival)
    sizes = [len(a) for a in by_story.values()]
    spans = [max(a) - min(a) for a in by_story.values() if len(a) > 1]
    return {"stories": len(by_story), "sources": len(sources),
            "sources_per_story": sum(sizes) / len(sizes),
            "one_source_share": sum(n == 1 for n in sizes) / len(sizes),
            "largest": max(sizes), "span_minutes": spread(spans) if spans else None,
            "last_arrival_minutes": max(s.arrival for s in sources)}


def make_articles(sources: Sequence[Source]) -> dict[Source, NewArticle]:
    """Each source's article: its own lead, then its story's OrangeSum sentences."""
    corpus = load_orangesum()
    articles = {}
    told: dict[int, int] = defaultdict(lambda: SENTENCES)  # story -> sentences told so far
    for source in sorted(sources, key=lambda s: (s.story, s.number)):
        text = corpus[source.story % len(corpus)].text
        spans = split_sentences(text)
        chosen = spans[:SENTENCES]
        if source.news:  # the next sentences of the article: facts no earlier source had
            chosen += spans[told[source.story]:told[source.story] + NEW_SENTENCES]
            told[source.story] += NEW_SENTENCES
        body = " ".join(" ".join(text[s.start:s.end].split()) for s in chosen)
        outlet = f"media{source.number}-{source.story}.example"
        # No rank in the lead: "source numéro 3" after "numéro 2" would read as a changed
        # figure (`stories.novelty`), which a real retelling does not have.
        lead = f"Le site {outlet} reprend à son tour ce récit de l'affaire {source.story}."
        title = f"Affaire {source.story} : {' '.join(body.split()[:8])}"
        published = START + timedelta(minutes=source.arrival)
        full = f"{lead} {body}"
        articles[source] = NewArticle(
            content_hash=f"rebrief-{source.story}-{source.number}", text=full, language="fr",
            title=title, outlet=outlet, published=published,
            published_text=published.isoformat(timespec="seconds"),
            signature=signature(full, title, "fr", published),
            url=f"https://{outlet}/{source.story}/{source.number}")
    return articles


# ---------------------------------------------------------------- the fake LLM


class RebriefLLM:
    """The fake OpenAI-compatible server, answering `good_answer` at once; built by `Served`."""

    def __init__(self) -> None:
        self.llm = FakeOpenAI(default=lambda request: Reply.content(good_answer(request)))
        self.llm.start()

    def url(self) -> str:
        """Its base URL on 127.0.0.1."""
        return self.llm.base_url

    def calls(self) -> int:
        """Calls answered since it started."""
        return self.llm.calls

    def close(self) -> None:
        """Stop it."""
        self.llm.stop()


# ---------------------------------------------------------------- one replay


@dataclass(frozen=True)
class Policy:
    """The debounce and novelty settings of one run."""

    quiet: float
    max_delay: float
    novelty: float = 0.0

    @property
    def name(self) -> str:
        """As the tables show it."""
        if (self.quiet, self.max_delay, self.novelty) == (0, 0, 0):
            return "today (0/0)"
        default = (self.quiet, self.max_delay, self.novelty) == (
            DEFAULTS.rebrief_quiet_minutes, DEFAULTS.rebrief_max_delay_minutes,
            DEFAULTS.rebrief_novelty)
        return (f"{self.quiet:g}/{self.max_delay:g} n{self.novelty:g}"
                + (" default" if default else ""))


def settings_for(llm_url: str, db_url: str, policy: Policy, poll: float) -> Settings:
    """Built-in defaults, the LLM at the fake, the store at `db_url`, the run's policy."""
    return Settings.model_validate({
        "llm": {"engine": "llm", "base_url": llm_url, "api_key": "dummy", "model": MODEL,
                "timeout": 30.0, "max_retries": 0},
        "store": {"url": db_url},
        "service": {"poll_minutes": poll, "rebrief_quiet_minutes": policy.quiet,
                    "rebrief_max_delay_minutes": policy.max_delay,
                    "rebrief_novelty": policy.novelty},
    })


def into(story_id: int | None) -> Callable[[Members], int | None]:
    """The story the stream says, whatever the candidates (None: a story of its own)."""
    return lambda _candidates: story_id


def clock_at(now: datetime) -> Callable[[], datetime]:
    """A clock stopped at `now`: the simulated time of one cycle."""
    return lambda: now


def replay(sources: Sequence[Source], articles: dict[Source, NewArticle], policy: Policy,
           poll: float, llm: Served, directory: Path) -> dict[str, Any]:
    """The stream through the store and `summarise_pending`, one cycle every `poll` min."""
    name = f"{poll:g}-{policy.quiet:g}-{policy.max_delay:g}-{policy.novelty:g}.db"
    db_url = f"sqlite:///{directory / name}"
    settings = settings_for(llm.call("url"), db_url, policy, poll)
    db = open_database(StoreSettings(url=db_url))
    stories: dict[int, int] = {}  # stream index -> store id
    waiting: dict[int, list[Source]] = defaultdict(list)  # store id -> sources not briefed
    briefs: Counter[int] = Counter()
    first_delays: list[float] = []
    update_delays: list[float] = []
    calls_before: int = llm.call("calls")
    kept = 0  # re-briefs that brought no news: the brief stood, no call
    wall = time.perf_counter()
    cycle, next_source = 0, 0
    while True:
        minute = cycle * poll
        now = START + timedelta(minutes=minute)
        while next_source < len(sources) and sources[next_source].arrival <= minute:
            source = sources[next_source]
            stored = add_article(db, articles[source], into(stories.get(source.story)), now)
            if stored.story_id is None or stored.duplicate:
                sys.exit(f"source {source} was not stored: {stored}")
            stories[source.story] = stored.story_id
            waiting[stored.story_id].append(source)
            next_source += 1
        report = summarise_pending(db, settings, clock=clock_at(now))
        if report.failed:
            sys.exit(f"{policy.name}: briefs failed: {list(report.failed.items())[:3]}")
        kept += len(report.kept)
        briefs.update(report.summarised)
        for story_id in [*report.summarised, *report.kept]:  # both include the sources
            for source in waiting.pop(story_id, []):
                (update_delays if source.number else first_delays).append(minute - source.arrival)
        if next_source == len(sources) and not waiting:
            break
        cycle += 1
    left = pending_story_ids(db)
    db.close()
    if left:
        sys.exit(f"{policy.name}: {len(left)} stories still pending at the end")
    calls = llm.call("calls") - calls_before
    per_story = list(briefs.values())
    return {"policy": policy.name, "quiet_minutes": policy.quiet,
            "max_delay_minutes": policy.max_delay, "poll_minutes": poll,
            "stories": len(stories), "cycles": cycle + 1, "briefs": sum(per_story),
            "kept": kept,
            "calls": calls, "calls_per_story": calls / len(stories),
            "briefs_per_story": spread(per_story),
            "one_brief_share": sum(n == 1 for n in per_story) / len(per_story),
            "delay": spread(first_delays + update_delays), "first_delay": spread(first_delays),
            "update_delay": spread(update_delays) if update_delays else None,
            "passes": calls / len(stories) <= TARGET, "wall_seconds": time.perf_counter() - wall}


# ---------------------------------------------------------------- report


def minutes_cell(figures: dict[str, float] | None, key: str) -> str:
    """A delay in minutes, one decimal."""
    return "-" if figures is None else f"{figures[key]:.1f}"


def print_runs(runs: Sequence[dict[str, Any]]) -> None:
    """Calls per story, then the delays, one row per run."""
    print_table(
        ["poll min", "quiet/max novelty", "stories", "briefs", "kept", "LLM calls",
         "calls/story", "vs today", "one brief", "max briefs", f"<= {TARGET}", "wall s"],
        [[f"{r['poll_minutes']:g}", r["policy"], r["stories"], r["briefs"], r["kept"],
          r["calls"],
          f"{r['calls_per_story']:.2f}", times(r["vs_today"]),
          f"{100 * r['one_brief_share']:.0f} %", f"{r['briefs_per_story']['max']:.0f}",
          yes_no(r["passes"]), f"{r['wall_seconds']:.0f}"] for r in runs])
    print("\ndelay from a source's arrival to the brief that includes it, minutes")
    print_table(
        ["poll min", "quiet/max novelty", "all med", "p95", "max", "first med", "p95", "max",
         "update med", "p95", "max"],
        [[f"{r['poll_minutes']:g}", r["policy"],
          *(minutes_cell(r[kind], key) for kind in ("delay", "first_delay", "update_delay")
            for key in ("median", "p95", "max"))] for r in runs])


def main(argv: Sequence[str] | None = None) -> None:
    """Build the stream, replay it under each policy and poll, and report."""
    options = parser(__doc__, servers=True)
    options.add_argument("--stories", type=int, help=f"stories in the stream (default {STORIES})")
    options.add_argument("--poll", type=float, nargs="+",
                         help="cycle lengths in minutes (default 2 15)")
    options.add_argument("--news", type=float, default=NEWS,
                         help=f"share of later sources that bring news (default {NEWS})")
    options.add_argument("--sweep", action="store_true",
                         help="also run quiet/max delay " + ", ".join(
                             f"{q:g}/{m:g}" for q, m in SWEEP))
    args = options.parse_args(argv)
    count = pick(args.stories, STORIES, QUICK_STORIES, args.quick)
    polls = tuple(args.poll) if args.poll else POLLS
    info = context("rebrief", args.quick)
    print_context(info)
    sources = make_stream(count, args.news)
    stream = stream_stats(sources)
    articles = make_articles(sources)
    quiet, delay = DEFAULTS.rebrief_quiet_minutes, DEFAULTS.rebrief_max_delay_minutes
    policies = [Policy(0, 0), Policy(quiet, delay), Policy(quiet, delay, DEFAULTS.rebrief_novelty)]
    if args.sweep:
        policies += [Policy(q, m) for q, m in SWEEP if Policy(q, m) not in policies]
    runs = []
    with Served(RebriefLLM, in_process=args.in_process) as llm, \
            tempfile.TemporaryDirectory(prefix="bench-rebrief-") as tmp:
        for poll in polls:
            today = None
            for policy in policies:
                run = replay(sources, articles, policy, poll, llm, Path(tmp))
                today = today or run
                run["vs_today"] = ratio(run["calls_per_story"], today["calls_per_story"])
                runs.append(run)
                print(f"  poll {poll:g} min, {policy.name}: {run['calls_per_story']:.2f} calls "
                      f"per story ({run['wall_seconds']:.0f} s)", flush=True)
        where = llm.where
    span = stream["span_minutes"]
    print(f"\n{stream['stories']} stories, {stream['sources']} sources "
          f"({stream['sources_per_story']:.2f} per story, {100 * stream['one_source_share']:.0f} "
          f"% with one, at most {stream['largest']}); a story keeps gaining sources for "
          f"{span['median']:.0f} min median, {span['p95']:.0f} p95, {span['max']:.0f} max (those "
          f"with more than one); fake LLM {where}, SQLite store\n")
    print_runs(runs)
    print("\nSUMMARY")
    for run in runs:
        if run["policy"].endswith("default"):
            print(f"poll {run['poll_minutes']:g} min, defaults {run['policy']}: "
                  f"{run['calls_per_story']:.2f} LLM calls per story against "
                  f"{run['calls_per_story'] / run['vs_today']:.2f} today "
                  f"({times(run['vs_today'])}); target <= {TARGET}: "
                  f"{'pass' if run['passes'] else 'FAIL'}; updates reach readers "
                  f"{minutes_cell(run['update_delay'], 'median')} min after their source "
                  f"(median), {minutes_cell(run['update_delay'], 'p95')} p95, "
                  f"{minutes_cell(run['update_delay'], 'max')} max")
    finish(info, result_name("rebrief", args.quick), {"stream": stream, "runs": runs}, {
        "stories": stream["stories"],
        "calls_per_story": {f"{r['poll_minutes']:g}/{r['policy']}": round(r["calls_per_story"], 3)
                            for r in runs},
        "target": TARGET, "servers": where})


if __name__ == "__main__":
    main()

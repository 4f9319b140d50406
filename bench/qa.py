"""Follow-up question latency without the LLM, over a store of 10,000 stories.

Target (from the issue): retrieval plus rendering, p95 <= 30 ms.

1. A fresh SQLite store (WAL, migrations applied) gets 10,000 stories of 1 to 3
   French articles each (about 20,000 articles) and a French brief per story,
   inserted in bulk through the ORM. Each article has 300 to 800 words: sentences
   drawn from the 20 OrangeSum articles of the shared corpus, every number
   replaced by a random one, under a title and outlet of its own.
2. 500 stories are drawn at random, as the stories of the messages readers reply
   to. On each, two questions in a row, French or English: the first finds the
   per-story index cold, the follow-up finds it warm. Questions are built from
   templates around a word of the story (a name, a word of its brief), plus a few
   amount and time questions and questions the sources cannot answer.
3. One question, timed with `time.perf_counter` (wall clock), through the bot's
   own functions: `store.stories.stories_by_id` (one query for the story's
   articles, the `Story` built from the rows), `qa.answer.answer_question`
   without an LLM (language, retrieval, checked quotes), and
   `bot.questions.render_answer` (Telegram HTML, quotes in `<blockquote>`).

Before timing, a few questions on other stories load py3langid's model and
compile the query (the bot pays that once, at start-up). Results: p50 / p95 /
max in ms for first questions, follow-ups and all, the median of each stage,
and how many answers found passages; follow-ups are also given as a ratio to
first questions (the baseline, same run).

Run: .venv/bin/python -m bench.qa                 (~1 min: building the store takes most of it)
     .venv/bin/python -m bench.qa --db /tmp/qa.db  (keep the store and reuse it next time)
     .venv/bin/python -m bench.qa --quick          (500 stories, 50 asked about)
"""

from __future__ import annotations

import hashlib
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.common import load_orangesum
from bench.harness import (
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
from briefing.bot.questions import render_answer
from briefing.briefs.models import Quote
from briefing.config import StoreSettings, load_settings
from briefing.qa.answer import answer_question
from briefing.qa.retrieval import story_index
from briefing.service.digests import source_refs
from briefing.sources.models import Story
from briefing.store.db import Database, open_database
from briefing.store.models import ArticleRow, BriefRow, StoryRow
from briefing.store.stories import stories_by_id
from briefing.text.language import detect_language
from briefing.text.sentences import split_sentences
from briefing.text.words import STOPWORDS, WORD, fold

TARGET_P95_MS = 30.0
OUTLETS = ("Le Quotidien", "La Gazette", "Le Courrier", "L'Éclaireur", "Le Réveil", "La Dépêche")
NUMBER = re.compile(r"\d+")
TEMPLATES = {
    "fr": ("Qui est {w} ?", "Que disent les sources sur {w} ?", "Pourquoi parle-t-on de {w} ?",
           "Que s'est-il passé avec {w} ?", "Combien pour {w} ?", "Quand pour {w} ?"),
    "en": ("Who is {w}?", "What do the sources say about {w}?", "Why is {w} mentioned?",
           "What happened with {w}?", "How much for {w}?", "When did {w} happen?"),
}
GENERIC = ("Combien ?", "Quand ?", "How much?", "When?")
SETTINGS = load_settings(env={})  # built-in defaults: no local briefing.toml, no environment
UNANSWERABLE = ("Quelle est la recette de la tarte aux pommes ?",
                "What is the weather like in Oslo tomorrow?",
                "Qui a gagné la Coupe du monde de rugby ?",
                "Which smartphone has the best camera?")


# --------------------------------------------------------------------------- the store


@dataclass
class Generated:
    """What the store builder keeps about a story: words readers may ask about."""

    keywords: list[str] = field(default_factory=list)


def sentence_pool() -> list[str]:
    """Every sentence of the OrangeSum articles, with at least 4 words."""
    pool = []
    for article in load_orangesum():
        text = article.text
        pool += [text[s.start:s.end] for s in split_sentences(text)
                 if len(text[s.start:s.end].split()) >= 4]
    return pool


def article_text(rng: random.Random, pool: Sequence[str]) -> str:
    """300 to 800 words of corpus sentences, numbers replaced, in paragraphs of 3 sentences."""
    target = rng.randint(300, 800)
    sentences: list[str] = []
    words = 0
    start = rng.randrange(len(pool))
    while words < target:
        # Runs of consecutive sentences read like an article; jumps mix the sources.
        index = start + len(sentences) if rng.random() < 0.7 else rng.randrange(len(pool))
        sentence = NUMBER.sub(lambda _: str(rng.randint(2, 9999)), pool[index % len(pool)])
        sentences.append(sentence)
        words += len(sentence.split())
    paragraphs = [" ".join(sentences[i:i + 3]) for i in range(0, len(sentences), 3)]
    return "\n\n".join(paragraphs)


def keywords(text: str, rng: random.Random) -> list[str]:
    """A few words of the text a reader might ask about: names first, then long words."""
    found = WORD.findall(text)
    names = [w for w in found if w[:1].isupper() and fold(w) not in STOPWORDS and len(w) > 3]
    long_words = [w for w in found if len(w) > 7 and fold(w) not in STOPWORDS]
    picks = rng.sample(names, min(3, len(names))) + rng.sample(long_words, min(3, len(long_words)))
    return picks or ["article"]


def story_rows(
    story_id: int, rng: random.Random, pool: Sequence[str], when: datetime, article_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], Generated]:
    """One story: its row, its articles' rows, its brief's row, and its keywords."""
    texts = [article_text(rng, pool) for _ in range(rng.choice((1, 2, 2, 3)))]
    title = " ".join(texts[0].split()[:rng.randint(6, 12)])
    story = {"id": story_id, "title": title, "language": "fr", "version": 1,
             "summarised_version": 1, "first_published": when, "last_published": when,
             "created_at": when, "updated_at": when}
    articles = [
        {"id": article_id + i, "content_hash": hashlib.sha256(text.encode()).hexdigest(),
         "url": f"https://news.example.org/{story_id}/{i}", "title": title,
         "outlet": rng.choice(OUTLETS), "published": when, "published_text": when.isoformat(),
         "language": "fr", "text": text, "state": "summarised", "story_id": story_id,
         "created_at": when}
        for i, text in enumerate(texts)
    ]
    first = texts[0][:texts[0].find(".") + 1] or texts[0][:200]
    brief = {"story_id": story_id, "language": "fr", "story_version": 1, "headline": title,
             "points": [first], "quotes": [], "engine": "extractive", "model": None,
             "usage": {}, "citations": {}, "created_at": when}
    return story, articles, brief, Generated(keywords(" ".join(texts), rng))


def build_store(db: Database, stories: int, seed: int) -> dict[int, Generated]:
    """Insert `stories` stories in bulk (ORM bulk INSERT, batches of 500)."""
    rng = random.Random(seed)
    pool = sentence_pool()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    generated: dict[int, Generated] = {}
    article_id = 1
    for batch in range(0, stories, 500):
        story_batch, article_batch, brief_batch = [], [], []
        for story_id in range(batch + 1, min(stories, batch + 500) + 1):
            when = start + timedelta(minutes=7 * story_id)
            story, articles, brief, gen = story_rows(story_id, rng, pool, when, article_id)
            article_id += len(articles)
            story_batch.append(story)
            article_batch += articles
            brief_batch.append(brief)
            generated[story_id] = gen
        with db.session() as session:
            session.execute(insert(StoryRow), story_batch)
            session.execute(insert(ArticleRow), article_batch)
            session.execute(insert(BriefRow), brief_batch)
    return generated


def keywords_from_store(db: Database, seed: int, ids: Sequence[int]) -> dict[int, Generated]:
    """Keywords of the sampled stories of an existing store (read before timing starts)."""
    rng = random.Random(seed)
    found: dict[int, Generated] = {}
    with db.session() as session:
        for story_id in ids:
            texts = session.scalars(select(ArticleRow.text).where(ArticleRow.story_id == story_id))
            found[story_id] = Generated(keywords(" ".join(t or "" for t in texts), rng))
    return found


# --------------------------------------------------------------------------- one question


def verified(quote: Quote, story: Story) -> bool:
    """The quote is its source's characters at its offsets."""
    doc = story.source(quote.source)
    return doc is not None and doc.text[quote.start:quote.end] == quote.text


@dataclass
class Timing:
    """Milliseconds of one question, per stage, and whether passages were found."""

    load: float
    answer: float
    render: float
    supported: bool

    @property
    def total(self) -> float:
        """Load + answer + render."""
        return self.load + self.answer + self.render


def ask(db: Database, story_id: int, question: str) -> Timing:
    """Load, answer and render one question, each stage timed."""
    t0 = time.perf_counter()
    story = stories_by_id(db, [story_id])[story_id]
    t1 = time.perf_counter()
    got = answer_question(story, question, SETTINGS)
    t2 = time.perf_counter()
    message = render_answer(got, source_refs(story))
    t3 = time.perf_counter()
    if not message or not all(verified(q, story) for q in got.quotes):
        sys.exit(f"story {story_id}: an unchecked quote or an empty message for {question!r}")
    ms = 1000.0
    return Timing((t1 - t0) * ms, (t2 - t1) * ms, (t3 - t2) * ms, got.supported)



def question_for(rng: random.Random, gen: Generated) -> str:
    """A question about a story: mostly about one of its words, sometimes generic or off-topic."""
    roll = rng.random()
    if roll < 0.08:
        return rng.choice(GENERIC)
    if roll < 0.16:
        return rng.choice(UNANSWERABLE)
    template = rng.choice(TEMPLATES[rng.choice(("fr", "en"))])
    return template.format(w=rng.choice(gen.keywords))


# --------------------------------------------------------------------------- the run


@contextmanager
def store(path: str | None) -> Iterator[tuple[Database, Path]]:
    """The store: the given SQLite file (created when missing), else a temporary one."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(path) if path else Path(tmp) / "qa.db"
        db = open_database(StoreSettings(url=f"sqlite:///{file}"))
        try:
            yield db, file
        finally:
            db.close()


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and max, rounded to hundredths of a millisecond."""
    return {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2),
            "max": round(max(values), 2)}


def run_questions(
    db: Database, ids: Sequence[int], generated: dict[int, Generated], rng: random.Random
) -> tuple[list[Timing], list[Timing]]:
    """A first question and a follow-up on each story: (first, follow-ups)."""
    first, later = [], []
    for story_id in ids:
        gen = generated[story_id]
        first.append(ask(db, story_id, question_for(rng, gen)))
        later.append(ask(db, story_id, question_for(rng, gen)))
    return first, later


def warm_up(db: Database, ids: Sequence[int], generated: dict[int, Generated],
            rng: random.Random) -> float:
    """Load py3langid's model and compile the query, as the bot does at start-up; ms taken."""
    started = time.perf_counter()
    detect_language("Le modèle de langue se charge une fois, au démarrage.")
    for story_id in ids:
        ask(db, story_id, question_for(rng, generated[story_id]))
    return (time.perf_counter() - started) * 1000


def stage_medians(timings: Sequence[Timing]) -> dict[str, float]:
    """Median ms of each stage."""
    pick: dict[str, Callable[[Timing], float]] = {
        "load": lambda t: t.load, "answer": lambda t: t.answer, "render": lambda t: t.render}
    return {name: round(median([get(t) for t in timings]), 3) for name, get in pick.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or reuse) the store, time the questions, print and write the figures."""
    options = parser(__doc__)
    options.add_argument("--stories", type=int, help="stories in the store (default 10,000)")
    options.add_argument("--questions", type=int, help="stories asked about (default 500)")
    options.add_argument("--seed", type=int, default=7)
    options.add_argument("--db", help="SQLite file to build once and reuse")
    args = options.parse_args(argv)
    stories = pick(args.stories, 10_000, 500, args.quick)
    questions = pick(args.questions, 500, 50, args.quick)
    info = context("qa", args.quick)
    print_context(info)
    rng = random.Random(args.seed)
    with store(args.db) as (db, file):
        started = time.perf_counter()
        with db.session() as session:
            count = session.scalar(select(func.count()).select_from(StoryRow)) or 0
        if count and count != stories:
            sys.exit(f"{file} holds {count} stories, not --stories {stories}: remove it")
        ids = rng.sample(range(1, stories + 1), questions + 5)
        built = 0.0
        if count:
            generated = keywords_from_store(db, args.seed, ids)
        else:
            generated = build_store(db, stories, args.seed)
            built = round(time.perf_counter() - started, 1)
        with db.session() as session:
            articles = session.scalar(select(func.count()).select_from(ArticleRow)) or 0
        story_index.cache_clear()
        warm_ms = warm_up(db, ids[:5], generated, rng)
        first, later = run_questions(db, ids[5:], generated, rng)
        size_mb = file.stat().st_size / 1e6
    report(info, stories, args.seed, built, articles, size_mb, warm_ms, first, later)
    return 0


def report(info: dict[str, Any], stories: int, seed: int, built: float, articles: int,
           size_mb: float, warm_ms: float, first: list[Timing], later: list[Timing]) -> None:
    """Print the tables and write bench/results/qa.json."""
    every = first + later
    phases = {"first question (cold index)": first, "follow-up (warm index)": later, "all": every}
    base = summary([t.total for t in first])["p50"]
    rows = []
    for name, timings in phases.items():
        stats = summary([t.total for t in timings])
        rows.append([name, len(timings), stats["p50"], stats["p95"], stats["max"],
                     times(ratio(stats["p50"], base))])
    print(f"store: {stories} stories, {articles} articles, {size_mb:.0f} MB SQLite"
          + (f", built in {built} s" if built else " (reused)"))
    print(f"start-up (py3langid model, 5 questions on other stories): {warm_ms:.0f} ms\n")
    print_table(["questions", "n", "p50 ms", "p95 ms", "max ms", "p50 vs first"], rows)
    print()
    medians = {name: stage_medians(timings) for name, timings in phases.items()}
    print_table(["median per stage (ms)", "load", "answer", "render"],
                [[name, m["load"], m["answer"], m["render"]] for name, m in medians.items()])
    p95 = percentile([t.total for t in every], 95)
    worst = max(percentile([t.total for t in ts], 95) for ts in (first, later))
    supported = sum(t.supported for t in every)
    print(f"\nanswers with passages: {supported}/{len(every)}")
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms: all {p95:.2f} ms, worst phase {worst:.2f} ms "
          f"-> pass: {yes_no(worst <= TARGET_P95_MS)}")
    latency = {name: summary([t.total for t in ts]) for name, ts in phases.items()}
    finish(info, result_name("qa", info["quick"]), {
        "stories": stories, "articles": articles, "sampled_stories": len(first),
        "seed": seed, "store_mb": round(size_mb, 1), "build_seconds": built,
        "startup_ms": round(warm_ms, 1), "latency_ms": latency,
        "stage_median_ms": medians, "answers_with_passages": supported,
        "target_p95_ms": TARGET_P95_MS, "pass": worst <= TARGET_P95_MS,
    }, {"stories": stories, "questions": len(every), "p95_ms": round(p95, 2),
        "worst_phase_p95_ms": round(worst, 2), "pass": worst <= TARGET_P95_MS,
        "follow_up_p50_vs_first": round(ratio(latency["follow-up (warm index)"]["p50"], base), 3)})


if __name__ == "__main__":
    sys.exit(main())

"""The run: every article evaluated on a bounded thread pool, results in corpus order.

Each worker runs one article at a time and an article's LLM calls are made one
after another, so at most `concurrency` LLM calls are in flight. LLM answers go
to the file cache as they arrive: an interrupted run, started again with the
same cache, makes no call it had already paid for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from briefing.config import Settings
from briefing.evaluation.article import ArticleEval, Context, evaluate
from briefing.evaluation.cache import FileCache
from briefing.evaluation.corpus import Item
from briefing.evaluation.rouge import rouge
from briefing.text.language import detect_language


@dataclass(frozen=True)
class Options:
    """How to run an evaluation."""

    engine: str | None = None  # auto | llm | extractive (None: the configured one)
    judge: str | None = None
    concurrency: int = 4
    cache: Path | None = None  # None: no resume cache


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens."""

    input: float
    output: float
    cached: float


@dataclass
class Run:
    """A finished evaluation: what was run, and every article's figures."""

    corpus: str
    engine: str
    model: str | None
    judge: str | None
    prices: Prices
    articles: list[ArticleEval] = field(default_factory=list)
    wall_seconds: float = 0.0
    cache: str | None = None


def engine_choice(settings: Settings, choice: str | None) -> str:
    """The engine that will run: `llm` or `extractive` ("auto" resolved)."""
    choice = choice or settings.llm.engine
    if choice == "auto":
        return "llm" if settings.llm.configured else "extractive"
    return choice


def run_eval(
    corpus: str, items: list[Item], settings: Settings, options: Options, prices: Prices,
    progress: Callable[[ArticleEval], None] | None = None,
) -> Run:
    """Evaluate every item; `progress` is called after each article, in completion order."""
    engine = engine_choice(settings, options.engine)
    uses_llm = engine == "llm" or options.judge is not None
    cache = FileCache(options.cache) if options.cache and uses_llm else None
    run = Run(corpus, engine, settings.llm.model if engine == "llm" else None, options.judge,
              prices, cache=str(cache.path) if cache else None)
    ctx = Context(settings, engine, options.judge, cache)
    _warm_up(items)
    started = time.monotonic()
    try:
        run.articles = _run_all(items, ctx, max(1, options.concurrency), progress)
    finally:
        if cache:
            cache.close()
    run.wall_seconds = round(time.monotonic() - started, 3)
    return run


def _warm_up(items: list[Item]) -> None:
    """Load the language model and the ROUGE scorer once, outside the timed run."""
    detect_language("Un texte. A text.")
    if any(item.reference for item in items):
        rouge("un texte", "un texte", "fr")


def _run_all(items: list[Item], ctx: Context, workers: int,
             progress: Callable[[ArticleEval], None] | None) -> list[ArticleEval]:
    done: dict[int, ArticleEval] = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eval")
    try:
        futures: dict[Future[ArticleEval], int] = {
            pool.submit(evaluate, item, ctx): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            done[futures[future]] = found = future.result()
            if progress:
                progress(found)
    finally:  # on Ctrl-C: drop the articles not started, let the running ones finish
        pool.shutdown(wait=True, cancel_futures=True)
    return [done[i] for i in sorted(done)]

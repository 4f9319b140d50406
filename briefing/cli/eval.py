"""`briefing eval`: brief quality, citation accuracy and cost of an engine on a corpus.

The evaluation modules (and rouge-score, nltk, matplotlib: the `eval` extra) are imported
when the command runs, so other commands and `--help` start without them, and an install
without the extra gets one line saying how to add it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from briefing.cli.common import (
    Commands,
    ConfigOption,
    Verbosity,
    edge,
    output_console,
    settings_from,
    verbosity,
)
from briefing.config import Settings
from briefing.errors import BadInput, ConfigError

if TYPE_CHECKING:
    from briefing.evaluation.corpus import Item
    from briefing.evaluation.runner import Options, Prices, Run

commands = Commands()
CACHE_NAME = "eval-cache.sqlite"
# What `briefing eval` alone needs (the `eval` extra), by import name; the chart's only
# with --out.
EVAL_MODULES = ("rouge_score", "nltk")
CHART_MODULE = "matplotlib"
INSTALL_HINT = "install briefing[eval]: pip install 'briefing[eval]'"


def check_eval_extra(chart: bool) -> None:
    """ConfigError (exit 3) naming the missing module when the `eval` extra is not installed.

    Checked before any article is read: the modules are imported lazily, deep in a run, so
    without this a missing one would fail the run after minutes of paid LLM calls.
    """
    for name in (*EVAL_MODULES, CHART_MODULE) if chart else EVAL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"briefing eval needs {name}, which is not installed; "
                              f"{INSTALL_HINT}") from None


def _cache_path(cache: Path | None, no_cache: bool, out: Path | None, settings: Settings
                ) -> Path | None:
    if no_cache:
        return None
    if cache is not None:
        return cache
    return (out.parent if out else Path(settings.store.data_dir)) / CACHE_NAME


def _check(engine: str | None, limit: int | None, concurrency: int) -> None:
    if engine not in (None, "auto", "llm", "extractive"):
        raise BadInput("--engine must be auto, llm or extractive")
    if limit is not None and limit < 1:
        raise BadInput("--limit must be at least 1")
    if concurrency < 1:
        raise BadInput("--concurrency must be at least 1")


def _run_with_progress(corpus: str, items: list[Item], settings: Settings, options: Options,
                       prices: Prices, quiet: bool) -> Run:
    from briefing.evaluation.runner import run_eval

    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[errors]}"))
    console = Console(stderr=True)
    # A bar is for a person watching: not with -q, not into a log file or a pipe.
    with Progress(*columns, console=console, transient=True,
                  disable=quiet or not console.is_terminal) as progress:
        task = progress.add_task("evaluating", total=len(items), errors="")
        failed = 0

        def advance(found: object) -> None:
            nonlocal failed
            failed += getattr(found, "error", None) is not None
            progress.update(task, advance=1, errors=f"{failed} errors" if failed else "")

        return run_eval(corpus, items, settings, options, prices, advance)


@commands.command("eval")
def eval_command(
    ctx: typer.Context,
    corpus: Annotated[Path, typer.Argument(help="A folder of articles, or a JSONL file "
                                           "(id, text|html|url, language?, reference?).")],
    engine: Annotated[str | None, typer.Option(help="auto | llm | extractive")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (else BRIEFING_MODEL).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N articles.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write a Markdown report (and a PNG chart "
                                             "next to it).")] = None,
    judge: Annotated[str | None, typer.Option(
        help="Judge each point, delivered or rejected by the check, with this model.")] = None,
    concurrency: Annotated[int, typer.Option(help="Articles (and LLM calls) at once.")] = 4,
    cache: Annotated[Path | None, typer.Option(help="LLM answer cache for resuming (default: "
                                               "next to --out, else in the data folder).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Keep no LLM answers.")] = False,
    price_in: Annotated[float | None, typer.Option(help="USD per million input tokens.")] = None,
    price_out: Annotated[float | None, typer.Option(help="USD per million output tokens.")
                         ] = None,
    price_cached: Annotated[float | None, typer.Option(
        help="USD per million cached input tokens (default: the input price).")] = None,
    per_article: Annotated[bool, typer.Option(
        help="Show the per-article table (--no-per-article: the overall figures only).")] = True,
    config: ConfigOption = None,
) -> None:
    """Measure brief quality, citation accuracy and cost of an engine on a corpus."""
    with edge():
        check_eval_extra(chart=out is not None)
        from briefing.evaluation.corpus import read_corpus
        from briefing.evaluation.report import print_run, write_markdown
        from briefing.evaluation.runner import Options, Prices
        from briefing.evaluation.summary import to_json

        _check(engine, limit, concurrency)
        settings = settings_from(config, engine=engine, model=model)
        items = read_corpus(corpus, limit)
        price_in = settings.llm.price_input_per_mtok if price_in is None else price_in
        prices = Prices(price_in, settings.llm.price_output_per_mtok if price_out is None
                        else price_out, price_in if price_cached is None else price_cached)
        options = Options(engine, judge, concurrency, _cache_path(cache, no_cache, out, settings))
        quiet = verbosity(ctx) is Verbosity.QUIET
        run = _run_with_progress(str(corpus), items, settings, options, prices, quiet)
        if out is not None:
            chart = write_markdown(run, out)
            if not quiet:
                typer.echo(f"report: {out} (chart: {chart})", err=True)
        if as_json:
            typer.echo(json.dumps(to_json(run), ensure_ascii=False, indent=2))
        else:
            print_run(run, output_console(), per_article)

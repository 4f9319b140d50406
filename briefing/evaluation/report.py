"""Presenting a run: rich tables on the terminal, and a Markdown report with its chart.

Both are built from the same rows (`overall_rows`, `rouge_rows`, `article_rows`),
so the terminal and the report always show the same figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from briefing.evaluation.chart import draw
from briefing.evaluation.runner import Run
from briefing.evaluation.summary import overall

ROUGE_NAMES = {"brief": "this engine's brief", "offline": "offline engine", "lead2": "lead-2"}
ARTICLE_HEADER = ("#", "article", "engine", "quotes p/v/r/x", "fallback", "words",
                  "R-1", "R-2", "R-L", "LLM tokens", "calls", "seconds", "error")
# The terminal is narrower than a report: these columns of ARTICLE_HEADER, shorter names.
TERMINAL_COLUMNS = {0: "#", 1: "article", 3: "p/v/r/x", 4: "fallback", 6: "R-1", 7: "R-2",
                    8: "R-L", 9: "tokens", 12: "error"}


def pct(value: float | None) -> str:
    """A share as a percentage, or a dash."""
    return "—" if value is None else f"{100 * value:.1f}%"


def num(value: float | int | None, digits: int = 2) -> str:
    """A figure with thousands separators, or a dash."""
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def _by_lang(values: dict[str, Any], fmt: Any) -> str:
    return ", ".join(f"{lang} {fmt(v)}" for lang, v in values.items()) or "—"


def overall_rows(o: dict[str, Any]) -> list[tuple[str, ...]]:
    """(figure, value) rows of the overall summary."""
    c, f, cost = o["citations"], o["faithfulness"], o["cost"]
    lat = cost["latency_seconds"]
    rows: list[tuple[str, ...]] = [
        ("articles evaluated / errors", f"{o['evaluated']} / {o['errors']}"),
        ("quotes proposed", num(c["proposed"])),
        ("verified exactly", f"{num(c['verified'])} ({pct(c['verified_share'])})"),
        ("repaired (typography)", f"{num(c['repaired'])} ({pct(c['repaired_share'])})"),
        ("rejected", f"{num(c['rejected'])} ({pct(c['rejected_share'])})"),
        ("fallback quotes (offline top-up)", num(c["fallback"])),
        ("quotes per brief", num(c["quotes_per_brief"])),
        ("briefs needing the fallback", f"{pct(c['fallback_share'])} "
                                        f"(LLM failures: {c['engine_fallbacks']})"),
        ("points dropped (numbers / names)",
         f"{c['points_dropped_numbers']} / {c['points_dropped_names']}"),
        ("numbers in points found in source", f"{pct(f['numbers_found_share'])} of {f['numbers']}"),
        ("names in points found in source", f"{pct(f['names_found_share'])} of {f['names']}"),
        ("brief words (headline + points)", _by_lang(f["words"], lambda v: num(v, 1))),
        ("brief in the intended language", _by_lang(f["language_ok_share"], pct)),
        ("points ending with an ellipsis", f"{num(f['points_ellipsis'])} of {num(f['points'])}"),
        ("quotes with unbalanced quotation marks",
         f"{num(f['quotes_unbalanced'])} of {num(f['quotes_checked'])} "
         f"({pct(f['quotes_unbalanced_share'])})"),
        ("LLM calls (resumed from cache)", f"{cost['calls']} ({cost['resumed_calls']})"),
        ("tokens prompt / completion / cached", f"{num(cost['prompt_tokens'])} / "
         f"{num(cost['completion_tokens'])} / {num(cost['cached_tokens'])}"),
        ("LLM tokens per article token", num(cost["tokens_per_article_token"], 3)),
        ("estimated price", f"${cost['price_usd']:.4f}"),
        ("wall time / per article", f"{num(cost['wall_seconds'])} s / "
                                    f"{num(cost['seconds_per_article'])} s"),
        ("LLM latency p50 / p95 / max", f"{num(lat['p50'])} / {num(lat['p95'])} / "
                                        f"{num(lat['max'])} s"),
    ]
    return rows + _judge_rows(o)


def _judge_rows(o: dict[str, Any]) -> list[tuple[str, ...]]:
    j, cost = o["judge"], o["cost"]["judge"]
    if j is None:
        return []
    return [("judge: points supported / partly / not",
             f"{pct(j['supported_share'])} / {pct(j['partly_share'])} / {pct(j['not_share'])}"
             f" of {j['points']} (errors: {j['errors']})"),
            ("judge: calls, price", f"{cost['calls']}, ${cost['price_usd']:.4f}")]


def rouge_rows(o: dict[str, Any], engine: str) -> list[tuple[str, ...]]:
    """(system, ROUGE-1, ROUGE-2, ROUGE-L) rows, F-measures in percent (the offline
    engine's brief once when it is the engine evaluated)."""
    r = o["rouge"]
    systems = [s for s in ROUGE_NAMES if s in r and not (s == "brief" and engine == "extractive")]
    return [(ROUGE_NAMES[s], *(f"{r[s][m]:.2f}" for m in ("rouge1", "rouge2", "rougeL")))
            for s in systems]


def article_rows(run: Run) -> list[tuple[str, ...]]:
    """One row per article, in corpus order."""
    rows = []
    for n, a in enumerate(run.articles, 1):
        c, r = a.citations, a.rouge.get("brief", {})
        tokens = sum(x.prompt_tokens + x.completion_tokens for x in a.calls if x.phase == "brief")
        rows.append((
            str(n), a.id, a.engine or "—",
            "—" if a.error else f"{c.proposed}/{c.verified}/{c.repaired}/{c.rejected}",
            "—" if a.error else ("yes" if a.fallback else "no"),
            _by_lang(a.signals.words, str) if not a.error else "—",
            *(f"{r[m]:.1f}" if m in r else "—" for m in ("rouge1", "rouge2", "rougeL")),
            num(tokens), str(len(a.calls)), f"{a.seconds:.2f}", a.error or "",
        ))
    return rows


def _title(run: Run) -> str:
    model = f", model {run.model}" if run.model else ""
    judge = f", judge {run.judge}" if run.judge else ""
    return f"briefing eval: {run.corpus} (engine {run.engine}{model}{judge})"


def print_run(run: Run, console: Console, per_article: bool = True) -> None:
    """The run's tables on the terminal."""
    o = overall(run)
    if per_article:
        width = min(24, max((len(a.id) for a in run.articles), default=8))
        table = Table(title="Per article (quotes: proposed/verified/repaired/rejected)")
        for i, name in TERMINAL_COLUMNS.items():
            table.add_column(name, no_wrap=i != 12, min_width=width if i == 1 else None)
        for row in article_rows(run):
            table.add_row(*(row[i] for i in TERMINAL_COLUMNS))
        console.print(table)
    for a in run.articles:
        if a.error:
            console.print(f"error: {a.id}: {a.error}", markup=False, highlight=False)
    summary = Table("figure", "value", title=_title(run))
    for row in overall_rows(o):
        summary.add_row(*row)
    console.print(summary)
    if o["rouge"]["articles"]:
        rouge = Table("system", "ROUGE-1", "ROUGE-2", "ROUGE-L",
                      title=f"ROUGE F1 (%) against the reference, {o['rouge']['articles']} "
                      "articles")
        for row in rouge_rows(o, run.engine):
            rouge.add_row(*row)
        console.print(rouge)


def _md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return [line(header), "| " + " | ".join("---" for _ in header) + " |",
            *(line(r) for r in rows), ""]


def write_markdown(run: Run, path: Path) -> Path:
    """Write the Markdown report and its chart (same name, `.png`); returns the chart's path."""
    o = overall(run)
    chart = path.with_suffix(".png")
    draw(run.articles, chart)
    lines = [f"# {_title(run)}", "",
             f"Prices (USD per million tokens): input {run.prices.input}, cached "
             f"{run.prices.cached}, output {run.prices.output}.", "", "## Overall", ""]
    lines += _md_table(("figure", "value"), overall_rows(o))
    if o["rouge"]["articles"]:
        lines += [f"## ROUGE F1 (%), {o['rouge']['articles']} articles with a reference", ""]
        lines += _md_table(("system", "ROUGE-1", "ROUGE-2", "ROUGE-L"), rouge_rows(o, run.engine))
    lines += ["## Chart", "", f"![tokens per article and verified-quote share]({chart.name})",
              "", "## Per article", "", "Quotes: proposed/verified/repaired/rejected.", ""]
    lines += _md_table(ARTICLE_HEADER, article_rows(run))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return chart

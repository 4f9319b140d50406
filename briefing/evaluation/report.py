"""Presenting a run: rich tables on the terminal, and a Markdown report with its chart.

Both are built from the same rows (`overall_rows`, `rouge_rows`, `article_rows`, and
with a judge `check_judge_rows` and `disagreement_rows`), so the terminal and the report
always show the same figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from briefing.briefs.models import POINT_REASONS
from briefing.evaluation.chart import draw
from briefing.evaluation.judge import VERDICTS
from briefing.evaluation.points import SUPPORTED, PointOutcome
from briefing.evaluation.runner import Run
from briefing.evaluation.summary import overall

ROUGE_NAMES = {"brief": "this engine's brief", "offline": "offline engine", "lead2": "lead-2"}
ARTICLE_HEADER = ("#", "article", "engine", "quotes p/v/r/x", "points p/s/d/f", "fallback",
                  "words", "R-1", "R-2", "R-L", "LLM tokens", "calls", "seconds", "error")
ERROR_COLUMN = len(ARTICLE_HEADER) - 1
# The terminal is narrower than a report: these columns of ARTICLE_HEADER, shorter names.
TERMINAL_COLUMNS = {0: "#", 1: "article", 3: "p/v/r/x", 4: "points", 5: "fallback", 7: "R-1",
                    8: "R-2", 9: "R-L", 10: "tokens", ERROR_COLUMN: "error"}
ARTICLE_LEGEND = ("quotes: proposed/verified/repaired/rejected; points: proposed/supported/"
                  "dropped/from the offline fallback")
CHECK_JUDGE_HEADER = ("point check", *(f"judge: {v}" for v in VERDICTS), "points")
DISAGREEMENT_HEADER = ("#", "article", "lang", "check", "judge", "point", "judge's reason")


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


def _reason(reason: str) -> str:
    return reason.replace("_", " ")


def _found(values: dict[str, Any]) -> str:
    return _by_lang(values, lambda v: f"{pct(v['cited_share'])} / {pct(v['story_share'])} "
                                      f"of {v['total']}")


def point_rows(p: dict[str, Any]) -> list[tuple[str, ...]]:
    """(figure, value) rows of the point support figures (`summary.point_support`)."""
    reasons = ", ".join(f"{_reason(r)} {p['dropped_by_reason'][r]}" for r in POINT_REASONS)
    return [
        ("points proposed / retried", f"{num(p['proposed'])} / {num(p['retried'])} "
                                      f"({pct(p['retried_share'])} retried)"),
        ("points supported by their cited sentences",
         f"{num(p['supported'])} ({pct(p['supported_share'])})"),
        ("points dropped", f"{num(p['dropped'])} ({pct(p['dropped_share'])})"),
        ("points dropped by reason", reasons),
        ("points from the offline fallback",
         f"{num(p['fallback'])} (in {p['fallback_articles']} articles)"),
    ]


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
        *point_rows(o["points"]),
        ("numbers in points as written in cited sentences / story", _found(f["numbers"])),
        ("names in points as written in cited sentences / story", _found(f["names"])),
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
    rejected, disagree = j["matrix"]["rejected"], j["disagreements"]
    return [("judge: delivered points supported / partly / not",
             f"{pct(j['supported_share'])} / {pct(j['partly_share'])} / {pct(j['not_share'])}"
             f" of {j['points']} (errors: {j['errors']})"),
            ("judge: rejected points supported / partly / not",
             " / ".join(str(rejected[v]) for v in VERDICTS) + f" of {j['rejected_points']}"),
            ("check and judge disagree", f"{disagree['delivered_judged_not']} delivered judged "
             f"not, {disagree['rejected_judged_supported']} rejected judged supported"),
            ("judge: calls, price", f"{cost['calls']}, ${cost['price_usd']:.4f}")]


def check_judge_rows(o: dict[str, Any]) -> list[tuple[str, ...]]:
    """The point check against the judge: delivered, rejected, then rejected by reason (the
    reasons that occurred); one column per verdict and the total (`CHECK_JUDGE_HEADER`)."""
    j = o["judge"]
    if j is None:
        return []

    def row(name: str, counts: dict[str, int]) -> tuple[str, ...]:
        return (name, *(str(counts[v]) for v in VERDICTS), str(sum(counts.values())))

    rows = [row("supported (delivered)", j["matrix"]["supported"]),
            row("rejected", j["matrix"]["rejected"])]
    rows += [row(f"rejected: {_reason(r)}", counts)
             for r, counts in j["rejected_by_reason"].items() if sum(counts.values())]
    return rows


def _disagrees(p: PointOutcome) -> bool:
    return (p.delivered and p.judge == "not") or (not p.delivered and p.judge == "supported")


def disagreement_rows(run: Run) -> list[tuple[str, ...]]:
    """The points where the check and the judge disagree outright (`DISAGREEMENT_HEADER`):
    delivered but judged "not", rejected but judged "supported"."""
    return [(str(n), a.id, p.language, p.check if p.check == SUPPORTED else
             f"rejected: {_reason(p.check)}", p.judge or "", p.text, p.judge_reason or "")
            for n, a in enumerate(run.articles, 1) for p in a.points if _disagrees(p)]


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
        points = f"{c.points_proposed}/{c.points_supported}/{c.points_dropped}/{c.points_fallback}"
        tokens = sum(x.prompt_tokens + x.completion_tokens for x in a.calls if x.phase == "brief")
        rows.append((
            str(n), a.id, a.engine or "—",
            "—" if a.error else f"{c.proposed}/{c.verified}/{c.repaired}/{c.rejected}",
            "—" if a.error else points,
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
        table = Table(title=f"Per article ({ARTICLE_LEGEND})")
        for i, name in TERMINAL_COLUMNS.items():
            table.add_column(name, no_wrap=i != ERROR_COLUMN,
                             min_width=width if i == 1 else None)
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
    if o["judge"] is not None:
        _print_judge(run, o, console, per_article)


def _print_judge(run: Run, o: dict[str, Any], console: Console, per_article: bool) -> None:
    matrix = Table(*CHECK_JUDGE_HEADER, title="Points: the check against the judge")
    for row in check_judge_rows(o):
        matrix.add_row(*row)
    console.print(matrix)
    rows = disagreement_rows(run)
    if per_article and rows:
        table = Table(*DISAGREEMENT_HEADER, title="Points where the check and the judge disagree")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"
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
    if o["judge"] is not None:
        lines += ["## Points: the check against the judge", "",
                  "Each point the check delivered or rejected, by the judge's verdict on "
                  "whether the sources support it.", ""]
        lines += _md_table(CHECK_JUDGE_HEADER, check_judge_rows(o))
        disagree = disagreement_rows(run)
        lines += ["### Where they disagree", ""]
        lines += _md_table(DISAGREEMENT_HEADER, disagree) if disagree else ["None.", ""]
    lines += ["## Chart", "", f"![tokens per article and verified-quote share]({chart.name})",
              "", "## Per article", "", ARTICLE_LEGEND[0].upper() + ARTICLE_LEGEND[1:] + ".",
              ""]
    lines += _md_table(ARTICLE_HEADER, article_rows(run))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return chart

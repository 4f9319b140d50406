"""The report's small chart (PNG): tokens per article, and what became of its quotes.

Drawn with matplotlib's object API on the Agg canvas: no pyplot, no global
backend switch, nothing shown on screen, safe outside the main thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from briefing.evaluation.article import ArticleEval


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _tokens(axes: Any, ok: list[ArticleEval]) -> None:
    x = range(len(ok))
    llm = [sum(c.prompt_tokens + c.completion_tokens for c in a.calls if c.phase == "brief")
           for a in ok]
    axes.bar([i - 0.2 for i in x], [a.article_tokens for a in ok], 0.4, label="article tokens")
    axes.bar([i + 0.2 for i in x], llm, 0.4, label="LLM tokens (prompt + completion)")
    axes.set_ylabel("tokens")
    axes.set_title("Tokens per article")
    axes.legend(fontsize="small", ncols=2)


def _quotes(axes: Any, ok: list[ArticleEval], labels: list[str]) -> None:
    x = list(range(len(ok)))
    verified = [_share(a.citations.verified, a.citations.proposed) for a in ok]
    repaired = [_share(a.citations.repaired, a.citations.proposed) for a in ok]
    axes.bar(x, verified, 0.6, label="verified exactly", color="tab:green")
    axes.bar(x, repaired, 0.6, bottom=verified, label="repaired", color="tab:orange")
    axes.set_ylim(0, 1.3)
    axes.set_yticks([0, 0.25, 0.5, 0.75, 1])
    axes.set_ylabel("share of proposed quotes")
    axes.set_title("Verified-quote share per article")
    axes.set_xticks(x, labels, fontsize="small")
    axes.set_xlabel("article (row number in the report)")
    axes.legend(fontsize="small", loc="upper center", ncols=2)


def draw(articles: list[ArticleEval], path: Path) -> None:
    """Write the chart of the evaluated articles (errors left out) to `path` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [(n, a) for n, a in enumerate(articles, 1) if a.error is None]
    ok = [a for _, a in rows]
    fig = Figure(figsize=(max(6.0, 0.35 * len(ok) + 2), 6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    _tokens(top, ok)
    _quotes(bottom, ok, [str(n) for n, _ in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")

"""Adding the articles up: the overall figures of a run, and each article's JSON form.

Shares are fractions (0..1) and None when there is nothing to divide; ROUGE is
in percent. A "briefs needing the fallback" share counts the articles whose
briefs got the offline engine's passages (quotes topped up) or were written by
the offline engine after the LLM failed.

Point support (`point_support`) is the pipeline's count of what its check made of the
points: proposed in the first answer, retried, supported, dropped by reason, and the
offline engine's points given to a brief left with none. The supported and dropped
shares are of the points whose check is final (supported + dropped): a retry answers
with the whole brief again, so the final points may be more or fewer than the first
answer's, and a share of the first answer's count could pass 100 %. The retried share
is of the points proposed. Like quotes, points are counted per brief: the offline
engine's untranslated copy in a second language counts its points again, which leaves
the shares as they are.

With a judge, `check_vs_judge` sets the check's outcome of each point (delivered or
rejected) against the judge's verdict; the two cells where they disagree outright are
a delivered point judged "not" and a rejected point judged "supported".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, fields
from statistics import fmean
from typing import Any

from briefing.briefs.models import POINT_REASONS, CitationCounts
from briefing.evaluation.article import ArticleEval
from briefing.evaluation.cache import CallStat
from briefing.evaluation.judge import VERDICTS
from briefing.evaluation.points import PointOutcome
from briefing.evaluation.rouge import ROUGE_TYPES
from briefing.evaluation.runner import Prices, Run
from briefing.evaluation.signals import Found

SYSTEMS = ("brief", "offline", "lead2")


def share(part: float, whole: float) -> float | None:
    """part / whole rounded, or None when whole is 0."""
    return round(part / whole, 4) if whole else None


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation, or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


def usage(calls: Iterable[CallStat], prices: Prices) -> dict[str, Any]:
    """Calls, tokens and estimated price (US dollars) of some LLM calls."""
    calls = list(calls)
    prompt = sum(c.prompt_tokens for c in calls)
    completion = sum(c.completion_tokens for c in calls)
    cached = sum(c.cached_tokens for c in calls)
    price = ((prompt - cached) * prices.input + cached * prices.cached
             + completion * prices.output) / 1e6
    return {"calls": len(calls), "resumed_calls": sum(c.resumed for c in calls),
            "prompt_tokens": prompt, "completion_tokens": completion, "cached_tokens": cached,
            "price_usd": round(price, 6)}


def citations(ok: list[ArticleEval]) -> dict[str, Any]:
    """Quotes proposed, verified, repaired, rejected, topped up; per brief; fallback share."""
    # Points have their own figures (`point_support`).
    totals = {f.name: sum(getattr(a.citations, f.name) for a in ok)
              for f in fields(CitationCounts) if not f.name.startswith("points_")}
    quotes = [n for a in ok for n in a.signals.quotes.values()]
    proposed = totals["proposed"]
    return {**totals,
            "verified_share": share(totals["verified"], proposed),
            "repaired_share": share(totals["repaired"], proposed),
            "rejected_share": share(totals["rejected"], proposed),
            "quotes_per_brief": round(fmean(quotes), 3) if quotes else None,
            "fallback_share": share(sum(a.fallback for a in ok), len(ok)),
            "engine_fallbacks": sum(a.engine_fallback for a in ok)}


def point_support(counts: Iterable[CitationCounts]) -> dict[str, Any]:
    """What the check made of the points proposed (see the module docstring for the shares)."""
    counts = list(counts)

    def total(name: str) -> int:
        return sum(getattr(c, name) for c in counts)

    proposed, supported = total("points_proposed"), total("points_supported")
    by_reason = {r: total(f"points_dropped_{r}") for r in POINT_REASONS}
    dropped = sum(by_reason.values())
    final = supported + dropped
    return {"proposed": proposed, "retried": total("points_retried"), "supported": supported,
            "dropped": dropped, "dropped_by_reason": by_reason,
            "fallback": total("points_fallback"),
            "supported_share": share(supported, final), "dropped_share": share(dropped, final),
            "dropped_share_by_reason": {r: share(n, final) for r, n in by_reason.items()},
            "retried_share": share(total("points_retried"), proposed)}


def points(ok: list[ArticleEval]) -> dict[str, Any]:
    """Point support over the run, and how many articles got the offline engine's points."""
    return {**point_support(a.citations for a in ok),
            "fallback_articles": sum(a.citations.points_fallback > 0 for a in ok)}


def _found(per_article: list[dict[str, Found]]) -> dict[str, Any]:
    """Per brief language: numbers (or names) of the points, and the shares written as such
    in the cited sentences and in the story."""
    langs = sorted({lang for found in per_article for lang in found})
    out = {}
    for lang in langs:
        mine = [found[lang] for found in per_article if lang in found]
        total = sum(f.total for f in mine)
        out[lang] = {"total": total,
                     "cited_share": share(sum(f.cited for f in mine), total),
                     "story_share": share(sum(f.story for f in mine), total)}
    return out


def faithfulness(ok: list[ArticleEval]) -> dict[str, Any]:
    """Numbers and names of points as written in their cited sentences and in the story;
    words and language per brief language; how points and quotes read."""
    sig = [a.signals for a in ok]
    langs = sorted({lang for s in sig for lang in s.words})
    return {
        "numbers": _found([s.numbers for s in sig]),
        "names": _found([s.names for s in sig]),
        "words": {lang: round(fmean(s.words[lang] for s in sig if lang in s.words), 1)
                  for lang in langs},
        "language_ok_share": {lang: share(sum(s.language_ok.get(lang, False) for s in sig),
                                          sum(lang in s.language_ok for s in sig))
                              for lang in langs},
        "points": sum(s.points for s in sig),
        "points_ellipsis": sum(s.points_ellipsis for s in sig),
        "quotes_checked": sum(s.quotes_checked for s in sig),
        "quotes_unbalanced": sum(s.quotes_unbalanced for s in sig),
        "quotes_unbalanced_share": share(sum(s.quotes_unbalanced for s in sig),
                                         sum(s.quotes_checked for s in sig)),
    }


def rouge(ok: list[ArticleEval]) -> dict[str, Any]:
    """Mean ROUGE F-measures per system over the articles with a reference summary."""
    scored = [a for a in ok if a.rouge]
    means = {system: {name: round(fmean(a.rouge[system][name] for a in scored), 2)
                      for name in ROUGE_TYPES} for system in SYSTEMS if scored}
    return {"articles": len(scored), **means}


def cost(ok: list[ArticleEval], run: Run) -> dict[str, Any]:
    """LLM usage of the briefs (and of the judge), tokens per article token, time."""
    brief = [c for a in ok for c in a.calls if c.phase == "brief"]
    judge = [c for a in ok for c in a.calls if c.phase == "judge"]
    article_tokens = sum(a.article_tokens for a in ok)
    totals = usage(brief, run.prices)
    spent = totals["prompt_tokens"] + totals["completion_tokens"]
    seconds = [c.seconds for c in brief + judge]
    return {**totals, "article_tokens": article_tokens,
            "tokens_per_article_token": share(spent, article_tokens),
            "judge": usage(judge, run.prices) if run.judge else None,
            "wall_seconds": run.wall_seconds,
            "seconds_per_article": round(fmean(a.seconds for a in ok), 3) if ok else None,
            "latency_seconds": {f"p{q}": percentile(seconds, q) for q in (50, 90, 95, 99)}
            | {"max": percentile(seconds, 100)}}


def _verdicts(points: Iterable[PointOutcome]) -> dict[str, int]:
    found = Counter(p.judge for p in points)
    return {v: found[v] for v in VERDICTS}


def check_vs_judge(judged: list[PointOutcome]) -> dict[str, Any]:
    """The check's outcome (delivered "supported", or "rejected") against the judge's
    verdict, the rejected points also by reason, and the two outright disagreements."""
    delivered = [p for p in judged if p.delivered]
    rejected = [p for p in judged if not p.delivered]
    return {
        "matrix": {"supported": _verdicts(delivered), "rejected": _verdicts(rejected)},
        "rejected_by_reason": {r: _verdicts(p for p in rejected if p.check == r)
                               for r in POINT_REASONS},
        "disagreements": {"delivered_judged_not": sum(p.judge == "not" for p in delivered),
                          "rejected_judged_supported": sum(p.judge == "supported"
                                                           for p in rejected)},
    }


def judged_points(ok: list[ArticleEval]) -> list[PointOutcome]:
    """Every point the judge gave a verdict on, in corpus order."""
    return [p for a in ok for p in a.points if p.judge is not None]


def judge(ok: list[ArticleEval]) -> dict[str, Any]:
    """Share of delivered points per verdict, and the check against the judge."""
    judged = judged_points(ok)
    delivered = [p for p in judged if p.delivered]
    counts = _verdicts(delivered)
    return {"points": len(delivered), "rejected_points": len(judged) - len(delivered),
            "errors": sum(a.judge_error is not None for a in ok),
            **{f"{v}_share": share(counts[v], len(delivered)) for v in VERDICTS},
            **check_vs_judge(judged)}


def overall(run: Run) -> dict[str, Any]:
    """The run's overall figures."""
    ok = [a for a in run.articles if a.error is None]
    return {"articles": len(run.articles), "evaluated": len(ok),
            "errors": len(run.articles) - len(ok), "citations": citations(ok),
            "points": points(ok), "faithfulness": faithfulness(ok), "rouge": rouge(ok),
            "cost": cost(ok, run),
            "judge": judge(ok) if run.judge else None}


def article(a: ArticleEval, prices: Prices, judged: bool = False) -> dict[str, Any]:
    """One article's figures, JSON-ready (`judged`: the run had a judge)."""
    data = a.to_dict()
    data["point_support"] = point_support([a.citations])
    data["check_vs_judge"] = check_vs_judge([p for p in a.points if p.judge is not None]) \
        if judged and a.error is None and a.judge_error is None else None
    calls = data.pop("calls")
    data["usage"] = usage((c for c in a.calls if c.phase == "brief"), prices)
    data["judge_usage"] = usage((c for c in a.calls if c.phase == "judge"), prices) \
        if any(c["phase"] == "judge" for c in calls) else None
    data["tokens_per_article_token"] = share(
        data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"], a.article_tokens)
    return data


def to_json(run: Run) -> dict[str, Any]:
    """The whole run, as `briefing eval --json` prints it."""
    return {"corpus": run.corpus, "engine": run.engine, "model": run.model,
            "judge": run.judge, "prices_per_mtok": asdict(run.prices), "cache": run.cache,
            "overall": overall(run),
            "articles": [article(a, run.prices, run.judge is not None) for a in run.articles]}

"""Adding the articles up: the overall figures of a run, and each article's JSON form.

Shares are fractions (0..1) and None when there is nothing to divide; ROUGE is
in percent. A "briefs needing the fallback" share counts the articles whose
briefs got the offline engine's passages (quotes topped up) or were written by
the offline engine after the LLM failed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, fields
from statistics import fmean
from typing import Any

from briefing.briefs.models import CitationCounts
from briefing.evaluation.article import ArticleEval
from briefing.evaluation.cache import CallStat
from briefing.evaluation.judge import VERDICTS
from briefing.evaluation.rouge import ROUGE_TYPES
from briefing.evaluation.runner import Prices, Run

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
    totals = {f.name: sum(getattr(a.citations, f.name) for a in ok)
              for f in fields(CitationCounts)}
    quotes = [n for a in ok for n in a.signals.quotes.values()]
    proposed = totals["proposed"]
    return {**totals,
            "verified_share": share(totals["verified"], proposed),
            "repaired_share": share(totals["repaired"], proposed),
            "rejected_share": share(totals["rejected"], proposed),
            "quotes_per_brief": round(fmean(quotes), 3) if quotes else None,
            "fallback_share": share(sum(a.fallback for a in ok), len(ok)),
            "engine_fallbacks": sum(a.engine_fallback for a in ok)}


def faithfulness(ok: list[ArticleEval]) -> dict[str, Any]:
    """Numbers and names found in the source; words and language per brief language."""
    sig = [a.signals for a in ok]
    langs = sorted({lang for s in sig for lang in s.words})
    return {
        "numbers": sum(s.numbers for s in sig),
        "numbers_found_share": share(sum(s.numbers_found for s in sig),
                                     sum(s.numbers for s in sig)),
        "names": sum(s.names for s in sig),
        "names_found_share": share(sum(s.names_found for s in sig), sum(s.names for s in sig)),
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


def judge(ok: list[ArticleEval]) -> dict[str, Any]:
    """Share of judged points per verdict."""
    counts: Counter[str] = Counter()
    for a in ok:
        counts.update(a.judge or {})
    points = sum(counts[v] for v in VERDICTS)
    return {"points": points, "errors": sum(a.judge_error is not None for a in ok),
            **{f"{v}_share": share(counts[v], points) for v in VERDICTS}}


def overall(run: Run) -> dict[str, Any]:
    """The run's overall figures."""
    ok = [a for a in run.articles if a.error is None]
    return {"articles": len(run.articles), "evaluated": len(ok),
            "errors": len(run.articles) - len(ok), "citations": citations(ok),
            "faithfulness": faithfulness(ok), "rouge": rouge(ok), "cost": cost(ok, run),
            "judge": judge(ok) if run.judge else None}


def article(a: ArticleEval, prices: Prices) -> dict[str, Any]:
    """One article's figures, JSON-ready."""
    data = a.to_dict()
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
            "articles": [article(a, run.prices) for a in run.articles]}

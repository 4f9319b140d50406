"""LLM-as-judge: do the story's sources support each point, delivered or rejected?

One call per brief: the sources as delimited numbered sentences (the same layout the
briefs were written from), then the numbered points of the brief: those the pipeline's
check delivered and those it rejected (`Result.rejected_points`), in one list in the
order of the sentences they cite, with nothing saying which is which, so the judge
cannot lean on the check.

What we chose: under each point come the sentences it cites, written out ("cites S1:3:
«…»", or that it cites none, or an id that is no sentence). They show the judge where
to look first, which makes a small judge faster and surer; but the question stays the
reader's, whether *the sources* support the point, not whether the cited sentences do
(a judge asked that would only repeat the check on `no_support` and `unknown_sentence`).
So the report can set the two verdicts side by side: a delivered point the judge says
"not" is one the check let through; a rejected point the judge says "supported" is a
true point readers lost (its reason tells whether the model cited the wrong sentence
or the check was too strict).

The judge answers `supported`, `partly` or `not` for each point, with a one-sentence
reason. The prompts are `briefing/prompts/judge_system.txt` and `judge_user.txt`.
Offline briefs in a language no source is written in hold a notice, not facts, and are
not judged. Every call goes through `LLMClient.structured`, like the briefs'.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from briefing.briefs.grounding import supports
from briefing.briefs.models import Result
from briefing.config import Settings
from briefing.evaluation.points import PointOutcome
from briefing.llm.answers import InvalidAnswer, load_json
from briefing.llm.calls import LLMCache
from briefing.llm.client import LLMClient
from briefing.llm.conversation import Conversation, SourceFormatter
from briefing.llm.prompts import render_prompt
from briefing.llm.usage import Usage
from briefing.sources.models import Story

VERDICTS = ("supported", "partly", "not")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["verdicts"],
    "properties": {"verdicts": {"type": "array", "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["point", "verdict", "reason"],
        "properties": {
            "point": {"type": "integer"},
            "verdict": {"type": "string", "enum": list(VERDICTS)},
            "reason": {"type": "string"},
        },
    }}},
}


@dataclass(frozen=True)
class Verdict:
    """The judge's word on one point."""

    verdict: str  # one of VERDICTS
    reason: str = ""


def parse_verdicts(content: str, count: int) -> list[Verdict]:
    """The verdicts of a judge's answer, one per point in order; InvalidAnswer otherwise."""
    try:
        items = load_json(content)["verdicts"]
        verdicts = {int(v["point"]): Verdict(str(v["verdict"]), str(v.get("reason") or ""))
                    for v in items}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidAnswer(f"not the expected JSON ({type(exc).__name__})") from None
    if sorted(verdicts) != list(range(1, count + 1)):
        raise InvalidAnswer(f"give exactly one verdict for each point 1 to {count}")
    if any(v.verdict not in VERDICTS for v in verdicts.values()):
        raise InvalidAnswer(f"a verdict must be one of {', '.join(VERDICTS)}")
    return [verdicts[i] for i in range(1, count + 1)]


def listing(points: list[PointOutcome], story: Story) -> str:
    """The points as the judge reads them: numbered, each with the sentences it cites."""
    lines = []
    for n, point in enumerate(points, 1):
        lines.append(f"{n}. {point.text}")
        if not point.support:
            lines.append("   cites no sentence")
        for ref in point.support:
            found = supports(ref, story)
            lines.append(f"   cites {ref}: «{found.text}»" if found else
                         f"   cites {ref}, which is not a sentence of the sources")
    return "\n".join(lines)


def _position(point: PointOutcome) -> tuple[int, str, int]:
    if not point.support:
        return (1, "", 0)
    first = point.support[0]
    return (0, first.source, first.sentence)


class Judge:
    """Judges the points of a result's briefs with one model (`--judge MODEL`)."""

    def __init__(self, settings: Settings, model: str, cache: LLMCache) -> None:
        llm = settings.llm.model_copy(update={"model": model})
        self.settings = settings.model_copy(update={"llm": llm})
        self.llm = LLMClient(self.settings, cache=cache)
        self.system = render_prompt(self.settings.prompts_dir, "judge_system")

    def judge(self, result: Result, points: list[PointOutcome]) -> list[PointOutcome]:
        """`points` (of `result`'s briefs) with the judge's verdicts, one call per brief
        language, in the same order (raises LLMError)."""
        sources = SourceFormatter().story(result.story)
        judged: dict[int, PointOutcome] = {}
        for lang in dict.fromkeys(p.language for p in points):
            # In the article's order, so rejected points are not all at the end of the list.
            mine = sorted((i for i, p in enumerate(points) if p.language == lang),
                          key=lambda i: _position(points[i]))
            verdicts = self._verdicts(sources, lang, [points[i] for i in mine], result.story)
            for i, verdict in zip(mine, verdicts, strict=True):
                judged[i] = replace(points[i], judge=verdict.verdict,
                                    judge_reason=verdict.reason)
        return [judged[i] for i in range(len(points))]

    def _verdicts(self, sources: str, lang: str, points: list[PointOutcome], story: Story
                  ) -> list[Verdict]:
        convo = Conversation.start(self.system)
        convo.user(render_prompt(self.settings.prompts_dir, "judge_user", sources=sources,
                                 language=lang, count=len(points),
                                 points=listing(points, story)))
        verdicts, _ = self.llm.structured(convo, "judgement", SCHEMA,
                                          lambda text: parse_verdicts(text, len(points)), Usage())
        return verdicts

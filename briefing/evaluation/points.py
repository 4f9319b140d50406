"""Every point of a result as the pipeline's check left it: delivered, or rejected and why.

The pipeline checks each point against the sentences it cites (`briefing.briefs.grounding`)
and keeps the ones that fail in `Result.rejected_points`. The evaluation lists both kinds
side by side, so that `--judge` can give its verdict on each and the report can set the two
verdicts next to each other. Briefs that only repeat another brief untranslated (the offline
engine in a language no source is in) are left out, as everywhere in the evaluation: their
points are the same points again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from briefing.briefs.models import Result, SentenceRef
from briefing.evaluation.signals import states_facts

# `PointOutcome.check` of a point the check accepted (the others hold its rejection reason).
SUPPORTED = "supported"


@dataclass(frozen=True)
class PointOutcome:
    """One point: what the check said, and what the judge said when there was one."""

    language: str
    text: str
    support: tuple[SentenceRef, ...]  # the sentences it cites, as the engine gave them
    check: str  # SUPPORTED, or the rejection reason (one of `POINT_REASONS`)
    hint: str = ""  # the check's detail for a rejected point
    judge: str | None = None  # one of `judge.VERDICTS`; None when not judged
    judge_reason: str | None = None

    @property
    def delivered(self) -> bool:
        """Whether the point passed the check (and so reached the brief)."""
        return self.check == SUPPORTED

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, sentence ids written as the prompts write them ("S1:3")."""
        return {"language": self.language, "text": self.text,
                "support": [str(ref) for ref in self.support], "check": self.check,
                "hint": self.hint, "judge": self.judge, "judge_reason": self.judge_reason}


def outcomes(result: Result) -> list[PointOutcome]:
    """The delivered then the rejected points of each brief that states facts, in brief order.

    Delivered points are those of the finished briefs: a point that passed the check but was
    cut to the word limit never reaches a reader, so it is not listed."""
    found = []
    for lang, brief in result.briefs.items():
        if not states_facts(result, lang):
            continue
        found += [PointOutcome(lang, p.text, tuple(SentenceRef(s.source, s.sentence)
                                                   for s in p.support), SUPPORTED)
                  for p in brief.points]
        found += [PointOutcome(lang, r.point.text, r.point.support, r.reason, r.hint)
                  for r in result.rejected_points if r.language == lang]
    return found

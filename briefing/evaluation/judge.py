"""LLM-as-judge: does the story's source support each point of each brief?

One call per brief: the sources as delimited numbered sentences (the same layout
the briefs were written from), then the brief's numbered points; the judge
answers `supported`, `partly` or `not` for each point. The prompts are
`briefing/prompts/judge_system.txt` and `judge_user.txt`. Offline briefs in a
language no source is written in hold a notice, not facts, and are not judged.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from briefing.briefs.models import Result
from briefing.config import Settings
from briefing.evaluation.signals import states_facts
from briefing.llm.answers import InvalidAnswer, load_json
from briefing.llm.calls import LLMCache
from briefing.llm.client import LLMClient
from briefing.llm.conversation import Conversation, SourceFormatter
from briefing.llm.prompts import render_prompt
from briefing.llm.usage import Usage

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


def parse_verdicts(content: str, count: int) -> list[str]:
    """The verdicts of a judge's answer, one per point in order; InvalidAnswer otherwise."""
    try:
        items = load_json(content)["verdicts"]
        verdicts = {int(v["point"]): str(v["verdict"]) for v in items}
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidAnswer(f"not the expected JSON ({type(exc).__name__})") from None
    if sorted(verdicts) != list(range(1, count + 1)):
        raise InvalidAnswer(f"give exactly one verdict for each point 1 to {count}")
    if any(v not in VERDICTS for v in verdicts.values()):
        raise InvalidAnswer(f"a verdict must be one of {', '.join(VERDICTS)}")
    return [verdicts[i] for i in range(1, count + 1)]


class Judge:
    """Judges the points of a result's briefs with one model (`--judge MODEL`)."""

    def __init__(self, settings: Settings, model: str, cache: LLMCache) -> None:
        llm = settings.llm.model_copy(update={"model": model})
        self.settings = settings.model_copy(update={"llm": llm})
        self.llm = LLMClient(self.settings, cache=cache)
        self.system = render_prompt(self.settings.prompts_dir, "judge_system")

    def judge(self, result: Result) -> Counter[str]:
        """How many points of the result's briefs got each verdict (raises LLMError)."""
        counts: Counter[str] = Counter({v: 0 for v in VERDICTS})
        sources = SourceFormatter().story(result.story)
        for lang, brief in result.briefs.items():
            if not brief.points or not states_facts(result, lang):
                continue
            counts.update(self._verdicts(sources, lang, tuple(p.text for p in brief.points)))
        return counts

    def _verdicts(self, sources: str, lang: str, points: tuple[str, ...]) -> list[str]:
        listing = "\n".join(f"{i}. {p}" for i, p in enumerate(points, 1))
        convo = Conversation.start(self.system)
        convo.user(render_prompt(self.settings.prompts_dir, "judge_user", sources=sources,
                                 language=lang, count=len(points), points=listing))
        verdicts, _ = self.llm.structured(convo, "judgement", SCHEMA,
                                          lambda text: parse_verdicts(text, len(points)), Usage())
        return verdicts

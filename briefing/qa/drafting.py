"""The LLM side of follow-up answers: the prompt and the model's strict JSON answer.

The question and the passages go in the user message as delimited data
(`<question>`, then numbered `<source>` sentences); the answer is strict JSON
(`ANSWER_SCHEMA`), validated into a `DraftAnswer` that `briefing.qa.answer` then checks.
The answer is a list of sentences, each with the ids of the numbered sentences it rests on
("S1:3"), checked like a brief's points. Each quote carries its translation into the
answer's language when its source is written in another one (null otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from briefing.briefs.engines.schema import (
    POINT_SCHEMA,
    QUOTE_SCHEMA,
    PointOut,
    QuoteOut,
    draft_points,
    draft_quotes,
)
from briefing.briefs.models import DraftPoint, DraftQuote
from briefing.config import Settings
from briefing.llm.answers import InvalidAnswer, load_json
from briefing.llm.conversation import Conversation, SourceFormatter
from briefing.llm.prompts import render_prompt
from briefing.qa.retrieval import LANGUAGE_NAMES, MAX_QUESTION_CHARS, Passage
from briefing.sources.models import Story
from briefing.text.sentences import Span

_DELIMITER = re.compile(r"<(?=/?(?:question|source)\b)", re.I)

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answer", "supported", "quotes"],
    "properties": {
        "answer": {"type": "array", "items": POINT_SCHEMA},
        "supported": {"type": "boolean"},
        "quotes": {"type": "array", "items": QUOTE_SCHEMA},
    },
}


class _AnswerOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # Prose without sentence ids (a server that ignored the schema) is one point without
    # support: the check rejects it and the passages answer instead.
    answer: list[PointOut | str] | str
    supported: bool
    quotes: list[QuoteOut]


@dataclass(frozen=True)
class DraftAnswer:
    """The model's answer, not yet checked: its sentences with the ids they cite."""

    points: tuple[DraftPoint, ...]
    supported: bool
    quotes: tuple[DraftQuote, ...]

    @property
    def text(self) -> str:
        """The answer's sentences, joined."""
        return " ".join(p.text for p in self.points)


def parse_answer(content: str) -> DraftAnswer:
    """Validate the model's JSON into a draft answer (InvalidAnswer triggers a repair round)."""
    try:
        out = _AnswerOut.model_validate(load_json(content))
    except ValidationError as exc:
        raise InvalidAnswer(f"answer: {exc.errors()[0]['msg']}") from None
    items: list[PointOut | str] = [out.answer] if isinstance(out.answer, str) else out.answer
    return DraftAnswer(draft_points(items), out.supported, draft_quotes(out.quotes))


def _defuse_question(question: str) -> str:
    """The question as data: it cannot close its own delimiter or open a source."""
    return _DELIMITER.sub("<\\\\", question.strip()[:MAX_QUESTION_CHARS])


_FORMATTER = SourceFormatter()


def format_passages(story: Story, passages: Sequence[Passage]) -> str:
    """Passages as `<source ...>` blocks of numbered sentences, in story and reading order."""
    blocks = []
    for doc in story.sources:
        spans = sorted((Span(p.start, p.end) for p in passages if p.source == doc.id),
                       key=lambda span: span.start)
        if spans:
            blocks.append(_FORMATTER.chunk(doc, spans))
    return "\n\n".join(blocks)


def answer_conversation(story: Story, question: str, language: str, passages: Sequence[Passage],
                        settings: Settings) -> Conversation:
    """The system prompt (static, so servers can cache it) and the question with its passages."""
    convo = Conversation.start(render_prompt(settings.prompts_dir, "qa_system"))
    convo.user(render_prompt(
        settings.prompts_dir, "qa_user", language=LANGUAGE_NAMES[language],
        question=_defuse_question(question), sources=format_passages(story, passages),
    ))
    return convo

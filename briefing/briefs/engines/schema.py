"""JSON schemas the LLM answers with, and their validation into drafts."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from briefing.briefs.models import DraftBrief, DraftPoint, DraftQuote, SentenceRef
from briefing.llm.answers import InvalidAnswer, load_json

# A quote as every model answer gives it (briefs, notes, follow-up answers): its translation
# is null when the quote is in the answer's language.
QUOTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text", "source", "translation"],
    "properties": {
        "text": {"type": "string"},
        "source": {"type": "string"},
        "translation": {"type": ["string", "null"]},
    },
}
# A point (a brief's, a note's, an answer's) with the ids of the sentences it rests on:
# "S1:3" is sentence 3 of source S1, as the prompt numbers them. Strings, not objects:
# they cost a third of the output tokens.
POINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text", "support"],
    "properties": {
        "text": {"type": "string"},
        "support": {"type": "array", "items": {"type": "string"}},
    },
}
_BRIEF = {
    "type": "object",
    "additionalProperties": False,
    "required": ["headline", "points", "quotes"],
    "properties": {
        "headline": {"type": "string"},
        "points": {"type": "array", "items": {"$ref": "#/$defs/point"}},
        "quotes": {"type": "array", "items": {"$ref": "#/$defs/quote"}},
    },
}
NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["notes", "quotes"],
    "properties": {
        "notes": {"type": "array", "items": POINT_SCHEMA},
        "quotes": {"type": "array", "items": QUOTE_SCHEMA},
    },
}
# "S1:3", and what models write for it: "[S1:3]", "S1 3", "S1·3", "s1#3".
_REF = re.compile(r"^\s*\[?\s*(S\d+)\s*[:·#.\s-]\s*(\d+)\s*\]?\s*$", re.I)


def brief_schema(languages: tuple[str, ...]) -> dict[str, Any]:
    """The schema of one answer: a brief per language (strict-mode compatible)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(languages),
        "properties": {lang: {"$ref": "#/$defs/brief"} for lang in languages},
        "$defs": {"brief": _BRIEF, "point": POINT_SCHEMA, "quote": QUOTE_SCHEMA},
    }


class QuoteOut(BaseModel):
    """A quote of a model's answer, validated (a server without strict schemas may leave
    the translation out)."""

    model_config = ConfigDict(extra="ignore")
    text: str
    source: str
    translation: str | None = None


class PointOut(BaseModel):
    """A point of a model's answer, validated (a server without strict schemas may leave
    the support out: the check then rejects the point, it is not an invalid answer)."""

    model_config = ConfigDict(extra="ignore")
    text: str
    support: list[str] = []


class _BriefOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    headline: str
    # A bare string is a point without support (a model that ignored the schema): the
    # check rejects it with its reason and the retry asks for the ids; the answer is valid.
    points: list[PointOut | str]
    quotes: list[QuoteOut]


class _NotesOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    notes: list[PointOut | str]
    quotes: list[QuoteOut]


def sentence_ref(text: str) -> SentenceRef:
    """A sentence id as the model wrote it; one that is no id becomes sentence 0 of it,
    which no source has (the check names it)."""
    match = _REF.match(text)
    if match is None:
        return SentenceRef(text.strip(), 0)
    return SentenceRef(match.group(1).upper(), int(match.group(2)))


def draft_points(items: list[PointOut | str]) -> tuple[DraftPoint, ...]:
    """Validated points as drafts; blank points are left out."""
    points = [PointOut(text=p) if isinstance(p, str) else p for p in items]
    return tuple(DraftPoint(p.text.strip(), tuple(sentence_ref(r) for r in p.support))
                 for p in points if p.text.strip())


def draft_quotes(items: list[QuoteOut]) -> tuple[DraftQuote, ...]:
    """Validated quotes as drafts; a blank translation counts as none."""
    return tuple(DraftQuote(q.text, q.source, (q.translation or "").strip() or None)
                 for q in items)


def parse_briefs(content: str, languages: tuple[str, ...]) -> dict[str, DraftBrief]:
    """Validate an answer into one draft brief per language."""
    data = load_json(content)
    if not isinstance(data, dict) or not all(lang in data for lang in languages):
        raise InvalidAnswer(f"expected an object with keys {list(languages)}")
    briefs: dict[str, DraftBrief] = {}
    for lang in languages:
        try:
            out = _BriefOut.model_validate(data[lang])
        except ValidationError as exc:
            raise InvalidAnswer(f"brief {lang!r}: {exc.errors()[0]['msg']}") from None
        briefs[lang] = DraftBrief(out.headline.strip(), draft_points(out.points),
                                  draft_quotes(out.quotes))
    return briefs


def parse_notes(content: str) -> tuple[tuple[DraftPoint, ...], tuple[DraftQuote, ...]]:
    """Validate a map-step answer into notes (with their sentence ids) and candidate quotes."""
    try:
        out = _NotesOut.model_validate(load_json(content))
    except ValidationError as exc:
        raise InvalidAnswer(f"notes: {exc.errors()[0]['msg']}") from None
    return draft_points(out.notes), draft_quotes(out.quotes)

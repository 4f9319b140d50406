"""JSON schemas the LLM answers with, and their validation into drafts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from briefing.briefs.models import DraftBrief, DraftQuote
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
_BRIEF = {
    "type": "object",
    "additionalProperties": False,
    "required": ["headline", "points", "quotes"],
    "properties": {
        "headline": {"type": "string"},
        "points": {"type": "array", "items": {"type": "string"}},
        "quotes": {"type": "array", "items": {"$ref": "#/$defs/quote"}},
    },
}
NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["notes", "quotes"],
    "properties": {
        "notes": {"type": "array", "items": {"type": "string"}},
        "quotes": {"type": "array", "items": QUOTE_SCHEMA},
    },
}


def brief_schema(languages: tuple[str, ...]) -> dict[str, Any]:
    """The schema of one answer: a brief per language (strict-mode compatible)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(languages),
        "properties": {lang: {"$ref": "#/$defs/brief"} for lang in languages},
        "$defs": {"brief": _BRIEF, "quote": QUOTE_SCHEMA},
    }


class QuoteOut(BaseModel):
    """A quote of a model's answer, validated (a server without strict schemas may leave
    the translation out)."""

    model_config = ConfigDict(extra="ignore")
    text: str
    source: str
    translation: str | None = None


class _BriefOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    headline: str
    points: list[str]
    quotes: list[QuoteOut]


class _NotesOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    notes: list[str]
    quotes: list[QuoteOut]


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
        briefs[lang] = DraftBrief(out.headline.strip(), tuple(out.points), draft_quotes(out.quotes))
    return briefs


def parse_notes(content: str) -> tuple[list[str], tuple[DraftQuote, ...]]:
    """Validate a map-step answer into notes and candidate quotes."""
    try:
        out = _NotesOut.model_validate(load_json(content))
    except ValidationError as exc:
        raise InvalidAnswer(f"notes: {exc.errors()[0]['msg']}") from None
    return out.notes, draft_quotes(out.quotes)

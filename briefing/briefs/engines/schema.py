"""JSON schemas the LLM answers with, and their validation into drafts."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from briefing.briefs.models import DraftBrief, DraftQuote

_QUOTE = {
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
        "quotes": {"type": "array", "items": _QUOTE},
    },
}


def brief_schema(languages: tuple[str, ...]) -> dict[str, Any]:
    """The schema of one answer: a brief per language (strict-mode compatible)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(languages),
        "properties": {lang: {"$ref": "#/$defs/brief"} for lang in languages},
        "$defs": {"brief": _BRIEF, "quote": _QUOTE},
    }


class InvalidAnswer(ValueError):
    """The model's answer is not JSON of the expected shape."""


class _QuoteOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str
    source: str
    translation: str | None = None


class _BriefOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    headline: str
    points: list[str]
    quotes: list[_QuoteOut]


class _NotesOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    notes: list[str]
    quotes: list[_QuoteOut]


def load_json(content: str) -> Any:
    """The JSON value of a model's answer, also inside a Markdown fence or surrounded by
    prose (models in plain mode do both); InvalidAnswer when there is none."""
    text = content.strip()
    if text.startswith("```"):  # some local models wrap JSON in a Markdown fence
        text = text.strip("`").removeprefix("json").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        error = exc
    # Without a server-side format (plain mode) a model may wrap the object in prose.
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            pass
    raise InvalidAnswer(f"not valid JSON ({error.msg} at char {error.pos})")


def _quotes(items: list[_QuoteOut]) -> tuple[DraftQuote, ...]:
    return tuple(DraftQuote(q.text, q.source, q.translation or None) for q in items)


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
        briefs[lang] = DraftBrief(out.headline.strip(), tuple(out.points), _quotes(out.quotes))
    return briefs


def parse_notes(content: str) -> tuple[list[str], tuple[DraftQuote, ...]]:
    """Validate a map-step answer into notes and candidate quotes."""
    try:
        out = _NotesOut.model_validate(load_json(content))
    except ValidationError as exc:
        raise InvalidAnswer(f"notes: {exc.errors()[0]['msg']}") from None
    return out.notes, _quotes(out.quotes)

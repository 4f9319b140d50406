"""Scripted LLM answers built from what the fake server received.

The fake server hands each request to these functions, which read the numbered
sentences back out of the user message and answer like a well-behaved model:
verbatim quotes, points citing the sentences they restate ("S1:3"), one brief per
language the schema asks for. A reduce step's points cite the ids its notes carry.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SOURCE = re.compile(r'<source id="(S\d+)"[^>]*>\n(.*?)\n</source>', re.S)
_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.M)
_CANDIDATE = re.compile(r'^- quote \[(S\d+)\]: "(.*)"$', re.M)
_NOTE = re.compile(r"^- (?!quote \[)(.*) \[((?:S\d+:\d+(?:, )?)+)\]$", re.M)


def _user_text(request: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in request["messages"] if m["role"] == "user")


def numbered(request: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(source id, sentence number, sentence) from the numbered sources of the request."""
    return [(sid, int(n), line) for sid, body in _SOURCE.findall(_user_text(request))
            for n, line in _LINE.findall(body)]


def sentences(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(source id, sentence) pairs from the numbered sources in the request's messages."""
    found = [(sid, line) for sid, _, line in numbered(request)]
    return found or [(sid, quote) for sid, quote in _CANDIDATE.findall(_user_text(request))]


def grounded_points(request: dict[str, Any], n: int = 2) -> list[dict[str, Any]]:
    """Points a careful model writes: sentences of the sources restated with their ids (or,
    in a reduce step, its notes with theirs)."""
    found = [{"text": line, "support": [f"{sid}:{number}"]}
             for sid, number, line in numbered(request) if 6 <= len(line.split()) <= 40]
    notes = [{"text": text, "support": ids.split(", ")}
             for text, ids in _NOTE.findall(_user_text(request))]
    return (found or notes)[:n]


def wanted_languages(request: dict[str, Any]) -> list[str]:
    """The languages the request's JSON schema asks for (fr and en by default)."""
    fmt = request.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema", {})
    return list(schema.get("required") or ["fr", "en"])


def is_map_request(request: dict[str, Any]) -> bool:
    """True for a map step (notes on one part of a long story)."""
    fmt = request.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema", {})
    return "notes" in schema.get("properties", {}) or "notes" in request["messages"][0]["content"]


def _quotes(request: dict[str, Any], n: int) -> list[dict[str, Any]]:
    usable = [(sid, s) for sid, s in sentences(request) if 8 <= len(s.split()) <= 40]
    return [{"text": s, "source": sid, "translation": None} for sid, s in usable[:n]]


def brief_answer(request: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A valid answer: per language a headline, two grounded points and two verbatim quotes
    (the points restate source sentences in their words, so they pass in both languages:
    across languages only names and numbers are compared)."""
    quotes = _quotes(request, 2)
    points = grounded_points(request)
    answer = {
        lang: {
            "headline": f"Titre {lang}",
            "points": points,
            "quotes": [dict(q, translation=None if lang == "fr" else "translated") for q in quotes],
        }
        for lang in wanted_languages(request)
    }
    answer.update(overrides)
    return answer


def notes_answer(request: dict[str, Any]) -> dict[str, Any]:
    """A valid map-step answer: three notes citing their sentences, and two verbatim
    candidate quotes."""
    quotes = [{k: q[k] for k in ("text", "source", "translation")} for q in _quotes(request, 2)]
    return {"notes": grounded_points(request, 3), "quotes": quotes}


def good_answer(request: dict[str, Any]) -> str:
    """JSON text a well-behaved model would send for this request."""
    answer = notes_answer(request) if is_map_request(request) else brief_answer(request)
    return json.dumps(answer, ensure_ascii=False)

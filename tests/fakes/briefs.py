"""Scripted LLM answers built from what the fake server received.

The fake server hands each request to these functions, which read the numbered
sentences back out of the user message and answer like a well-behaved model:
verbatim quotes, one brief per language the schema asks for.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SOURCE = re.compile(r'<source id="(S\d+)"[^>]*>\n(.*?)\n</source>', re.S)
_LINE = re.compile(r"^\[\d+\] (.*)$", re.M)
_CANDIDATE = re.compile(r'^- quote \[(S\d+)\]: "(.*)"$', re.M)


def sentences(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(source id, sentence) pairs from the numbered sources in the request's messages."""
    text = "\n".join(str(m.get("content", "")) for m in request["messages"] if m["role"] == "user")
    found = [(sid, line) for sid, body in _SOURCE.findall(text) for line in _LINE.findall(body)]
    return found or [(sid, quote) for sid, quote in _CANDIDATE.findall(text)]


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
    """A valid answer: per language a headline, two points and two verbatim quotes."""
    quotes = _quotes(request, 2)
    answer = {
        lang: {
            "headline": f"Titre {lang}",
            "points": [f"Premier point ({lang}).", f"Second point ({lang})."],
            "quotes": [dict(q, translation=None if lang == "fr" else "translated") for q in quotes],
        }
        for lang in wanted_languages(request)
    }
    answer.update(overrides)
    return answer


def notes_answer(request: dict[str, Any]) -> dict[str, Any]:
    """A valid map-step answer: three notes and two verbatim candidate quotes."""
    quotes = [{k: q[k] for k in ("text", "source", "translation")} for q in _quotes(request, 2)]
    return {"notes": ["note un", "note deux", "note trois"], "quotes": quotes}


def good_answer(request: dict[str, Any]) -> str:
    """JSON text a well-behaved model would send for this request."""
    answer = notes_answer(request) if is_map_request(request) else brief_answer(request)
    return json.dumps(answer, ensure_ascii=False)

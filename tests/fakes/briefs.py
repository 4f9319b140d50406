"""Scripted LLM answers built from what the fake server received.

The fake server hands each request to these functions, which read the numbered
sentences back out of the user message and answer like a well-behaved model:
verbatim quotes, points citing the sentences they restate ("S1:3"), one brief per
language the schema asks for. A reduce step's points cite the ids its notes carry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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


# --------------------------------------------------------------------------- adversarial models

ADVERSARIAL_MODES = ("swap_name", "change_number", "wrong_sentence", "bad_ids", "no_support",
                     "wrong_source")
"""How a misleading model gets its points wrong (see :func:`adversarial_points`)."""

_FULL_NAME = re.compile(r"(?<=[\w,;:] )[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+(?: [A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+)+")
_DIGITS = re.compile(r"\d+")
RETRY_MARK = "failed the check against the sources"


def _words_of(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w{4,}", text)}


def adversarial_points(request: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    """Points that read well and cite real-looking ids, but that the sentences they cite do
    not say. Empty when the story gives this mode nothing to work with (no two full names,
    no number, a single source for ``wrong_source``)."""
    found = [(sid, n, line) for sid, n, line in numbered(request) if 6 <= len(line.split()) <= 60]
    if not found:
        return []
    sid, n, line = found[0]
    if mode == "swap_name":  # a name of the story put in a sentence about someone else
        named = [(s, i, t, m) for s, i, t in found for m in _FULL_NAME.findall(t)]
        for s, i, t, name in named:
            other = next((m for *_, m in named if m != name and m not in t), None)
            if other is not None:
                return [{"text": t.replace(name, other), "support": [f"{s}:{i}"]}]
        return []
    if mode == "change_number":  # the right sentence, a number changed
        for s, i, t in found:
            match = _DIGITS.search(t)
            if match is not None:
                changed = str(int(match.group()) + 7)
                return [{"text": t[:match.start()] + changed + t[match.end():],
                         "support": [f"{s}:{i}"]}]
        return []
    if mode == "wrong_sentence":  # a true sentence, citing one that says something else
        for s, i, t in found[1:]:
            if s == sid and len(_words_of(t) & _words_of(line)) <= 1:
                return [{"text": line, "support": [f"{s}:{i}"]}]
        return []
    if mode == "bad_ids":
        return [{"text": line, "support": [f"{sid}:{n + 1000}"]},
                {"text": found[-1][2], "support": ["S99:1"]}]
    if mode == "no_support":
        return [{"text": line, "support": []}]
    if mode == "wrong_source":  # S2's sentence, cited as the same number in S1
        for s, i, t in found:
            if s != sid:
                return [{"text": t, "support": [f"{sid}:{i}"]}]
        return []
    raise ValueError(f"unknown adversarial mode {mode!r}")


def adversarial_answer(mode: str, *, fix_on_retry: bool = False) -> Callable[[dict[str, Any]], str]:
    """A model whose points are all misleading in the way `mode` says (quotes stay verbatim).

    On the retry (the request that lists what failed), it answers the same again, or with
    ``fix_on_retry`` the grounded points a careful model writes."""
    def reply(request: dict[str, Any]) -> str:
        if is_map_request(request):
            return good_answer(request)
        retry = RETRY_MARK in str(request["messages"][-1].get("content", ""))
        if retry and fix_on_retry:
            return good_answer(request)
        points = adversarial_points(request, mode)
        answer = brief_answer(request)
        for brief in answer.values():
            brief["points"] = points
        return json.dumps(answer, ensure_ascii=False)
    return reply

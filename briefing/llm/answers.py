"""Reading a model's answer: the JSON value it holds, or `InvalidAnswer` saying why not
(the client sends that reason back in its one repair round)."""

from __future__ import annotations

import json
from typing import Any


class InvalidAnswer(ValueError):
    """The model's answer is not JSON of the expected shape."""


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

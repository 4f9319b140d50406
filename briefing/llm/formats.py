"""How the model is asked for JSON, and which way each server accepts.

Servers differ in the `response_format` they take. The engine tries, from the
strictest to the loosest:

1. ``json_schema``: OpenAI's structured output (OpenAI, vLLM, Ollama, llama-server).
2. ``json_object+schema``: ``{"type": "json_object", "schema": ...}``, which
   llama-cpp-python (and llama-server) turn into a grammar.
3. ``json_object``: JSON mode without a schema.
4. ``plain``: no `response_format` at all.

Below ``json_schema`` the schema also travels in the instructions. A server that
rejects a format is recognised from its error body (whatever the status: 400,
422, or the 500 llama-cpp-python answers with a validation error), and the
next format is remembered for that server and model for the rest of the process.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import openai

from briefing.llm.conversation import Conversation

log = logging.getLogger(__name__)

FORMATS = ("json_schema", "json_object+schema", "json_object", "plain")
DEFAULT_SERVER = "https://api.openai.com/v1"

# What servers say when they do not take a response_format: OpenAI-style "Invalid
# parameter: 'response_format' ...", llama-server's "response_format type must be one of
# ...", FastAPI/pydantic's loc ["body", "response_format", "type"], llama.cpp's "JSON schema
# conversion failed" and grammar errors.
_CAPABILITY = re.compile(r"response_format|json_schema|json_object|json.schema|grammar", re.I)
# Statuses that mean "try again later" or "who are you", never "I cannot do this".
_NOT_CAPABILITY = frozenset({401, 403, 408, 429})
_MESSAGE_KEYS = ("message", "msg", "detail", "error", "param", "loc", "errors")


def response_format(fmt: str, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The `response_format` request field for one format (None: leave it out)."""
    if fmt == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": name, "strict": True, "schema": schema}}
    if fmt == "json_object+schema":
        return {"type": "json_object", "schema": schema}
    if fmt == "json_object":
        return {"type": "json_object"}
    return None


def request_fields(fmt: str, convo: Conversation, name: str, schema: dict[str, Any],
                   prompt: Callable[..., str]) -> dict[str, Any]:
    """The `messages` (with the schema in the instructions below json_schema) and the
    `response_format` (left out for plain) of a chat request in one output format."""
    fields: dict[str, Any] = {"messages": convo.for_format(fmt, schema, prompt)}
    wanted = response_format(fmt, name, schema)
    if wanted is not None:
        fields["response_format"] = wanted
    return fields


def server_key(base_url: str | None) -> str:
    """The server part of a capability key: its base URL, normalised."""
    return (base_url or DEFAULT_SERVER).strip().rstrip("/").lower()


def _texts(payload: object) -> Iterator[str]:
    """The human-readable parts of an error body (never echoed request `input`)."""
    if isinstance(payload, str):
        yield payload
    elif isinstance(payload, dict):
        for key in _MESSAGE_KEYS:
            if key in payload:
                yield from _texts(payload[key])
    elif isinstance(payload, list):
        for item in payload:
            yield from _texts(item)


def error_message(body: object, fallback: str, limit: int = 200) -> str:
    """The message of an error body: OpenAI's `error.message`, vLLM's `message`, FastAPI's
    `detail` (a string, or "loc: msg" entries), a plain-text body, else `fallback`."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        body = inner if isinstance(inner, dict | str) else body
    text: str | None = None
    if isinstance(body, str):
        text = body
    elif isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(body.get("message"), str) and body["message"]:
            text = body["message"]
        elif isinstance(detail, str):
            text = detail
        elif isinstance(detail, list):
            parts = [f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg', '')}"
                     for d in detail if isinstance(d, dict)]
            text = "; ".join(parts) or None
    return (text or fallback).strip()[:limit]


def names_response_format(status: int, body: object) -> bool:
    """True when an error answer says the request's output format is not supported."""
    if status in _NOT_CAPABILITY or status < 400:
        return False
    return any(_CAPABILITY.search(text) for text in _texts(body))


def is_capability_error(exc: openai.APIStatusError) -> bool:
    """True when the server rejected the request's `response_format` (not a passing fault)."""
    # The SDK keeps the parsed body (its "error" member when there is one), or the text.
    return names_response_format(exc.status_code, exc.body)


def _sent_response_format(request: Any) -> bool:
    try:
        content = json.loads(request.content or b"{}")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return False
    return isinstance(content, dict) and "response_format" in content


def no_retry_on_capability_error(response: Any) -> None:
    """httpx response hook: mark a capability error as not worth retrying.

    The openai SDK retries every 5xx (and 408/409/429) `max_retries` times, but
    llama-cpp-python answers an unsupported `response_format` with a 500 that
    will never succeed. The SDK obeys `x-should-retry`, so the hook sets it to
    false on such an answer; passing faults keep the SDK's retries and backoff.
    """
    status = response.status_code
    if status < 500 and status not in (408, 409):
        return  # other 4xx are never retried; 429 is always a passing fault
    if not _sent_response_format(response.request):
        return
    response.read()
    try:
        body: object = response.json()
    except ValueError:
        body = response.text
    if names_response_format(status, body):
        log.debug("server rejects the response_format (%d): not retrying", status)
        response.headers["x-should-retry"] = "false"


class Capabilities:
    """The output format each (server, model) accepts, learnt during this process.

    Shared by every engine in the process and safe to use from several threads.
    A format only moves down the ladder: two engines that both saw the same format
    rejected move it down one step, not two.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._levels: dict[tuple[str, str], int] = {}

    def current(self, server: str, model: str, preferred: str = FORMATS[0]) -> str:
        """The format to ask for: `preferred`, or a looser one this server needs."""
        with self._lock:
            level = max(FORMATS.index(preferred), self._levels.get((server, model), 0))
        return FORMATS[level]

    def rejected(self, server: str, model: str, fmt: str) -> str | None:
        """Record that `fmt` was rejected; the format to try next (None: none left)."""
        level = FORMATS.index(fmt) + 1
        if level >= len(FORMATS):
            return None
        with self._lock:
            level = max(level, self._levels.get((server, model), 0))
            self._levels[(server, model)] = level
        log.info("%s rejects %s for %s; using %s from now on", server, fmt, model, FORMATS[level])
        return FORMATS[level]

    def clear(self) -> None:
        """Forget everything learnt (a server was upgraded; tests)."""
        with self._lock:
            self._levels.clear()


CAPABILITIES = Capabilities()
"""The process-wide record every `LLMClient` consults."""

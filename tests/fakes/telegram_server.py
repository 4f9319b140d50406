"""A fake Telegram Bot API server for tests (standard library only).

Usage::

    with FakeTelegram() as fake:
        app = Application.builder().token(fake.token).base_url(fake.base_url).build()
        ...
        fake.user_message(42, "/start")
        [reply] = fake.wait_for_messages(42, 1)
        assert reply["plain_text"] == "hi"

Wire format (what ``python-telegram-bot`` and the real API do): requests go to
``{base_url}{token}/{method}``, with parameters in the query string, a JSON body, a form-encoded
body or a multipart body. PTB sends *form* data in which every non-string value is JSON-encoded
(``chat_id=42``, ``reply_markup={"inline_keyboard": ...}``), so the fake converts known fields
back to their types. Method names are case-insensitive, as in the real API. Answers are
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": N}}`` with HTTP status ``N``.

Behaviour worth knowing:

* ``parse_mode="HTML"`` is checked with :func:`tests.fakes.telegram_html.parse_html`, which is a
  little stricter than Telegram (a bare ``&`` is refused). Markdown modes are accepted but not
  parsed. Message text is stripped and then must be 1..4096 UTF-16 code units long.
* Rate limits (``enforce_rates``) apply to ``sendMessage`` only and use *token buckets* (the
  leaky-bucket algorithm of ``aiolimiter``, which PTB's ``AIORateLimiter`` uses): each chat has a
  bucket of capacity 1 refilled at ``per_chat_rate`` tokens per second (so a burst of 1, then one
  message every ``1 / per_chat_rate`` seconds); all chats share a bucket of capacity
  ``max(1, global_rate)`` refilled at ``global_rate`` per second. A send arriving up to
  :data:`RATE_TOLERANCE` seconds early is let through to absorb network jitter. A rate of 0 or
  less disables that limit. An over-limit send answers 429 with a whole ``retry_after`` >= 1 and
  is neither delivered nor counted against the buckets.
* Message ids are per chat, from 1, shared by the bot's and the users' messages.
* ``editMessageText`` and ``editMessageReplyMarkup`` that would change nothing answer 400
  ``Bad Request: message is not modified: ...`` (:data:`NOT_MODIFIED`), exactly as Telegram
  does (PTB raises ``BadRequest``). A text is compared as parsed, with its entities; to
  ``editMessageReplyMarkup`` an empty keyboard is no keyboard (it removes the keyboard).
* Only one ``getUpdates`` may wait at a time: a newer one ends an older one with 409 Conflict,
  like the real API. ``allowed_updates`` is recorded but not applied.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import DISCONNECT_ERRORS, BackgroundServer, FakeHTTPServer
from tests.fakes.telegram_html import HTMLError, parse_html, utf16_len

__all__ = [
    "DEFAULT_TOKEN",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_MESSAGE_LENGTH",
    "NOT_MODIFIED",
    "RATE_TOLERANCE",
    "ApiError",
    "ApiRequest",
    "FakeTelegram",
]

JsonDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-token"
MAX_MESSAGE_LENGTH = 4096
"""Longest message text, in UTF-16 code units after entity parsing and stripping."""
MAX_CALLBACK_DATA_BYTES = 64
"""Longest ``callback_data`` of an inline button, in UTF-8 bytes."""
RATE_TOLERANCE = 0.05
"""Seconds a rate-limited send may arrive early and still be accepted (network jitter)."""

CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_PATH_RE = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[^/]*)")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"/\S+")
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "user_id",
        "from_chat_id",
    }
)
_FLOAT_FIELDS = frozenset({"timeout"})
_BOOL_FIELDS = frozenset(
    {
        "disable_web_page_preview",
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "allow_paid_broadcast",
        "show_alert",
        "drop_pending_updates",
    }
)
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "link_preview_options",
        "reply_parameters",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
    }
)
# Errors raised when the client has already hung up (e.g. a cancelled long poll).


# --------------------------------------------------------------------------- records


@dataclass
class ApiRequest:
    """One request received by the fake.

    ``method`` is the canonical Bot API method name when known (as sent otherwise, or the URL
    path when it is not a Bot API URL); ``params`` the parameters with known fields converted to
    their types; ``status`` the HTTP status answered (``None`` while pending, 0 when the
    connection was dropped on purpose).
    """

    method: str
    params: JsonDict
    http_method: str = "POST"
    status: int | None = None
    at: float = field(default_factory=time.time)


class ApiError(Exception):
    """An error answer of the Bot API: HTTP ``status`` with ``description``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JsonDict:
        """The JSON body Telegram sends for this error."""
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class _Bucket:
    """A token bucket; ``tokens`` as of ``stamp`` (``time.monotonic``)."""

    tokens: float
    stamp: float

    def wait(self, rate: float, capacity: float, now: float) -> float:
        """Refill to ``now``; seconds until one token is available (0 if one is)."""
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        return max(0.0, (1.0 - self.tokens) / rate)


@dataclass(frozen=True)
class _Response:
    status: int
    body: JsonDict


# --------------------------------------------------------------------------- the fake


_Method = Callable[["FakeTelegram", JsonDict], Any]


class FakeTelegram(BackgroundServer):
    """A scripted Telegram Bot API on ``127.0.0.1`` running in a background thread.

    All state is guarded by one condition variable, so the helpers may be called from any thread
    (including while a client long-polls). Public attributes ``global_rate``, ``per_chat_rate``
    and ``enforce_rates`` may be changed at any time.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        global_rate: float = 30.0,
        per_chat_rate: float = 1.0,
        enforce_rates: bool = True,
    ) -> None:
        self.token = token
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.enforce_rates = enforce_rates
        bot_id = token.split(":", 1)[0]
        self.bot_user: JsonDict = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": "Briefing",
            "username": "briefing_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._cond = threading.Condition()
        self._stopping = False
        self._requests: list[ApiRequest] = []
        self._updates: deque[JsonDict] = deque()
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._poll_generation = 0
        self._sent: list[JsonDict] = []
        self._messages: dict[int, dict[int, JsonDict]] = {}
        self._last_message_id: dict[int, int] = {}
        self._chats: dict[int, JsonDict] = {}
        self._users: dict[int, JsonDict] = {}
        self._blocked: set[int] = set()
        self._forgotten: set[int] = set()
        self._failures: dict[str, deque[_Failure]] = {}
        self._commands_by_scope: dict[tuple[str, str], list[JsonDict]] = {}
        self._commands: list[JsonDict] = []
        self._open_queries: set[str] = set()
        self._callback_answers: list[JsonDict] = []
        self._edits: list[JsonDict] = []
        self._markup_edits: list[JsonDict] = []
        self._chat_actions: list[tuple[int, str]] = []
        self._too_many = 0
        self._global_bucket: _Bucket | None = None
        self._chat_buckets: dict[int, _Bucket] = {}
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def _starting(self) -> None:
        with self._cond:
            self._stopping = False

    def _stopping_now(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/bot``: PTB appends the token (``Bot(base_url=...)``)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """``http://127.0.0.1:PORT/file/bot`` (file downloads are not served: 404)."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ scripting

    def block(self, chat_id: int) -> None:
        """The user of ``chat_id`` blocks the bot: sends answer 403 until they write again."""
        with self._cond:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """Undo :meth:`block`."""
        with self._cond:
            self._blocked.discard(chat_id)

    def forget(self, chat_id: int) -> None:
        """Make ``chat_id`` unknown: sends answer 400 "chat not found" until the user writes."""
        with self._cond:
            self._forgotten.add(chat_id)

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error, before any other check.

        ``description`` is sent as is (e.g. "Internal Server Error"); ``retry_after`` adds
        ``"parameters": {"retry_after": N}`` (PTB then raises ``RetryAfter``). ``status=0``
        drops the connection without an answer (PTB raises ``NetworkError``). Failed calls are
        recorded in :attr:`requests` but never delivered. ``ValueError`` for a method the fake
        does not implement.
        """
        key = method.lower()
        if key not in _METHOD_NAMES:
            raise ValueError(f"FakeTelegram does not implement {method!r}")
        with self._cond:
            self._failures.setdefault(key, deque()).append(
                _Failure(status, description, retry_after, times)
            )

    def user_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Ana",
        language_code: str = "fr",
        reply_to_message_id: int | None = None,
    ) -> int:
        """Queue a ``message`` update from a user; returns its ``update_id``.

        The chat is private (``chat_id`` is the user's id) unless ``chat_id`` is negative (a
        group, with ``user_id`` defaulting to ``abs(chat_id)``). A leading ``/command`` gets a
        ``bot_command`` entity. Writing unblocks the bot and makes a forgotten chat known again.
        ``reply_to_message_id`` must name a message of that chat.
        """
        with self._cond:
            uid = user_id if user_id is not None else abs(chat_id)
            user: JsonDict = {
                "id": uid,
                "is_bot": False,
                "first_name": first_name,
                "language_code": language_code,
            }
            self._users[uid] = user
            chat = self._chat_object(chat_id)
            if chat_id > 0:
                chat["first_name"] = first_name
            self._chats[chat_id] = chat
            self._blocked.discard(chat_id)
            self._forgotten.discard(chat_id)
            message: JsonDict = {
                "message_id": self._next_message_id(chat_id),
                "from": user,
                "chat": dict(chat),
                "date": int(time.time()),
                "text": text,
            }
            command = _BOT_COMMAND_RE.match(text)
            if command is not None:
                length = utf16_len(command.group())
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            if reply_to_message_id is not None:
                message["reply_to_message"] = self._quoted(chat_id, reply_to_message_id)
            self._messages.setdefault(chat_id, {})[message["message_id"]] = message
            return self._queue_update({"message": copy.deepcopy(message)})

    def user_sticker(self, chat_id: int, *, user_id: int | None = None,
                     language_code: str = "fr") -> int:
        """Queue a ``message`` update holding a sticker and no text (a private chat)."""
        with self._cond:
            uid = user_id if user_id is not None else abs(chat_id)
            user: JsonDict = {"id": uid, "is_bot": False, "first_name": "Ana",
                              "language_code": language_code}
            self._users[uid] = user
            chat = self._chat_object(chat_id)
            self._chats[chat_id] = chat
            message: JsonDict = {
                "message_id": self._next_message_id(chat_id), "from": user, "chat": dict(chat),
                "date": int(time.time()),
                "sticker": {"file_id": "sticker-1", "file_unique_id": "u1", "type": "regular",
                            "width": 512, "height": 512, "is_animated": False,
                            "is_video": False, "emoji": "👍"},
            }
            self._messages.setdefault(chat_id, {})[message["message_id"]] = message
            return self._queue_update({"message": copy.deepcopy(message)})

    def press_button(
        self, chat_id: int, message_id: int, data: str, user_id: int | None = None
    ) -> int:
        """Queue a ``callback_query`` update: a user presses a button of a bot message.

        ``data`` must be the ``callback_data`` of a button of that message's current inline
        keyboard (``ValueError`` otherwise). Returns the ``update_id``.
        """
        with self._cond:
            message = self._messages.get(chat_id, {}).get(message_id)
            if message is None or message["from"].get("id") != self.bot_user["id"]:
                raise ValueError(f"the bot sent no message {message_id} to chat {chat_id}")
            buttons = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            datas = [b.get("callback_data") for row in buttons for b in row]
            if data not in datas:
                raise ValueError(f"message {message_id} has no button with data {data!r}: {datas}")
            uid = user_id if user_id is not None else abs(chat_id)
            user = self._users.get(uid) or {
                "id": uid,
                "is_bot": False,
                "first_name": "Ana",
                "language_code": "fr",
            }
            query_id = str(next(self._query_ids))
            self._open_queries.add(query_id)
            query: JsonDict = {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(message),
                "chat_instance": str(chat_id),
                "data": data,
            }
            return self._queue_update({"callback_query": query})

    # ------------------------------------------------------------------ recording

    @property
    def requests(self) -> list[ApiRequest]:
        """A snapshot of every request received, oldest first (``getUpdates`` polls included)."""
        with self._cond:
            return list(self._requests)

    def requests_for(self, method: str) -> list[ApiRequest]:
        """The recorded requests of one Bot API method (case-insensitive)."""
        key = method.lower()
        return [r for r in self.requests if r.method.lower() == key]

    @property
    def sent(self) -> list[JsonDict]:
        """Every message delivered by ``sendMessage``, oldest first (copies).

        Keys: ``chat_id``, ``message_id``, ``text`` (as sent, markup included), ``plain_text``
        and ``entities`` (as Telegram shows them), ``parse_mode``, ``reply_markup``,
        ``disable_web_page_preview`` (the legacy flag or ``link_preview_options.is_disabled``),
        ``link_preview_options``, ``reply_to_message_id``, ``disable_notification``, ``date``
        and, once edited by ``editMessageText``, ``edit_date`` (text fields then hold the edit).
        """
        with self._cond:
            return copy.deepcopy(self._sent)

    def messages_to(self, chat_id: int) -> list[JsonDict]:
        """The delivered messages of :attr:`sent` addressed to ``chat_id``."""
        return [m for m in self.sent if m["chat_id"] == chat_id]

    def wait_for_messages(self, chat_id: int, n: int, timeout: float = 5.0) -> list[JsonDict]:
        """Block until at least ``n`` messages were delivered to ``chat_id``; return them all.

        Raises ``TimeoutError`` (listing what did arrive) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                delivered = [m for m in self._sent if m["chat_id"] == chat_id]
                if len(delivered) >= n:
                    return copy.deepcopy(delivered)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    texts = [m["text"] for m in delivered]
                    raise TimeoutError(
                        f"{len(delivered)} of {n} messages to chat {chat_id} in {timeout}s: {texts}"
                    )
                self._cond.wait(remaining)

    def wait_for_requests(self, method: str, n: int = 1, timeout: float = 5.0) -> list[ApiRequest]:
        """Block until ``n`` calls of ``method`` were answered; return them all."""
        key = method.lower()
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                done = [
                    r for r in self._requests if r.method.lower() == key and r.status is not None
                ]
                if len(done) >= n:
                    return done
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(done)} of {n} {method} calls in {timeout}s")
                self._cond.wait(remaining)

    @property
    def commands(self) -> list[JsonDict]:
        """The ``commands`` of the last ``setMyCommands`` (``[]`` before, or after a delete)."""
        with self._cond:
            return copy.deepcopy(self._commands)

    @property
    def edits(self) -> list[JsonDict]:
        """Every accepted ``editMessageText``: chat_id, message_id, text, parse_mode, etc."""
        with self._cond:
            return copy.deepcopy(self._edits)

    @property
    def markup_edits(self) -> list[JsonDict]:
        """Every accepted ``editMessageReplyMarkup``: chat_id, message_id, reply_markup."""
        with self._cond:
            return copy.deepcopy(self._markup_edits)

    @property
    def callback_answers(self) -> list[JsonDict]:
        """The parameters of every accepted ``answerCallbackQuery``."""
        with self._cond:
            return copy.deepcopy(self._callback_answers)

    @property
    def chat_actions(self) -> list[tuple[int, str]]:
        """``(chat_id, action)`` of every accepted ``sendChatAction``."""
        with self._cond:
            return list(self._chat_actions)

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Queued updates not yet confirmed by a ``getUpdates`` offset."""
        with self._cond:
            return copy.deepcopy(list(self._updates))

    @property
    def too_many(self) -> int:
        """Number of 429 answers served (rate limits and scripted 429s)."""
        with self._cond:
            return self._too_many

    # ------------------------------------------------------------------ internals

    def _queue_update(self, payload: JsonDict) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **payload})
        self._cond.notify_all()
        return update_id

    def _next_message_id(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _chat_object(self, chat_id: int) -> JsonDict:
        if chat_id in self._chats:
            return dict(self._chats[chat_id])
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Ana"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def _quoted(self, chat_id: int, message_id: int) -> JsonDict:
        original = self._messages.get(chat_id, {}).get(message_id)
        if original is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        quoted = copy.deepcopy(original)
        quoted.pop("reply_to_message", None)
        return quoted

    def _handle(
        self, http_method: str, path: str, query: str, content_type: str, body: bytes
    ) -> _Response | None:
        """Answer one HTTP request; ``None`` means drop the connection without answering."""
        match = _PATH_RE.fullmatch(path)
        raw_method = match.group("method") if match else path
        method = _METHOD_NAMES.get(raw_method.lower(), raw_method)
        problem: ApiError | None = None
        try:
            raw = _parse_params(query, content_type, body)
        except ValueError:  # includes JSON and UTF-8 decoding errors
            raw, problem = {}, ApiError(400, "Bad Request: can't parse request body")
        try:
            params = _coerce(raw)
        except ApiError as exc:
            params, problem = raw, exc
        request = ApiRequest(method, params, http_method)
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
        response = self._answer(match, method, params, problem)
        with self._cond:
            request.status = 0 if response is None else response.status
            if response is not None and response.status == 429:
                self._too_many += 1
            self._cond.notify_all()
        return response

    def _answer(
        self,
        match: re.Match[str] | None,
        method: str,
        params: JsonDict,
        problem: ApiError | None,
    ) -> _Response | None:
        """Check token, method, scripted failures and parameters, then run the method."""
        if match is None:
            return _error(ApiError(404, "Not Found"))
        if match.group("token") != self.token:
            return _error(ApiError(401, "Unauthorized"))
        handler = _HANDLERS.get(method)
        if handler is None:
            return _error(ApiError(404, "Not Found"))
        with self._cond:
            failure = self._take_failure(method)
        if failure is not None:
            if failure.status == 0:
                return None
            return _error(ApiError(failure.status, failure.description, failure.retry_after))
        if problem is not None:
            return _error(problem)
        try:
            with self._cond:
                result = handler(self, params)
        except ApiError as exc:
            return _error(exc)
        return _Response(200, {"ok": True, "result": result})

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure

    # -- checks shared by the methods (called with the lock held)

    def _target_chat(self, params: JsonDict) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) or chat_id in self._forgotten:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _rate_check(self, chat_id: int) -> None:
        """Raise 429 if sending to ``chat_id`` now is over a limit; else consume the tokens."""
        if not self.enforce_rates:
            return
        now = time.monotonic()
        buckets: list[_Bucket] = []
        wait = 0.0
        if self.per_chat_rate > 0:
            bucket = self._chat_buckets.setdefault(chat_id, _Bucket(1.0, now))
            wait = max(wait, bucket.wait(self.per_chat_rate, 1.0, now))
            buckets.append(bucket)
        if self.global_rate > 0:
            capacity = max(1.0, self.global_rate)
            if self._global_bucket is None:
                self._global_bucket = _Bucket(capacity, now)
            wait = max(wait, self._global_bucket.wait(self.global_rate, capacity, now))
            buckets.append(self._global_bucket)
        if wait > RATE_TOLERANCE:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        for bucket in buckets:
            bucket.tokens -= 1.0

    def _bot_message(self, chat_id: int, message_id: int) -> JsonDict:
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None or message["from"].get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    # -- Bot API methods (called with the lock held)

    def _get_me(self, params: JsonDict) -> Any:
        return dict(self.bot_user)

    def _ok(self, params: JsonDict) -> Any:
        return True

    def _get_webhook_info(self, params: JsonDict) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _delete_webhook(self, params: JsonDict) -> Any:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_updates(self, params: JsonDict) -> Any:
        offset = params.get("offset")
        if isinstance(offset, int) and offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
        elif isinstance(offset, int):
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        limit = params.get("limit")
        limit = min(100, max(1, limit)) if isinstance(limit, int) else 100
        timeout = params.get("timeout")
        timeout = max(0.0, float(timeout)) if isinstance(timeout, int | float) else 0.0
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()  # ends an older long poll with 409
        deadline = time.monotonic() + timeout
        while not self._updates and not self._stopping and generation == self._poll_generation:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        if generation != self._poll_generation:
            raise ApiError(409, CONFLICT)
        return copy.deepcopy(list(itertools.islice(self._updates, limit)))

    def _set_my_commands(self, params: JsonDict) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: parameter "commands" is required')
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for command in commands:
            if not isinstance(command, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        listed = [{"command": c["command"], "description": c["description"]} for c in commands]
        self._commands_by_scope[_scope_key(params)] = listed
        self._commands = copy.deepcopy(listed)
        return True

    def _get_my_commands(self, params: JsonDict) -> Any:
        return copy.deepcopy(self._commands_by_scope.get(_scope_key(params), []))

    def _delete_my_commands(self, params: JsonDict) -> Any:
        self._commands_by_scope.pop(_scope_key(params), None)
        self._commands = []
        return True

    def _send_message(self, params: JsonDict) -> Any:
        chat_id = self._target_chat(params)
        text = params.get("text")
        plain, entities = _render_text(text, params.get("parse_mode"), params.get("entities"))
        reply_markup = _check_reply_markup(params.get("reply_markup"))
        reply_to = _reply_to(params)
        if reply_to is not None and reply_to not in self._messages.get(chat_id, {}):
            allowed = params.get("allow_sending_without_reply") or (
                params.get("reply_parameters") or {}
            ).get("allow_sending_without_reply")
            if not allowed:
                raise ApiError(400, "Bad Request: message to be replied not found")
            reply_to = None
        self._rate_check(chat_id)
        date = int(time.time())
        message: JsonDict = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat_object(chat_id),
            "date": date,
            "text": plain,
        }
        if entities:
            message["entities"] = entities
        if isinstance(reply_markup, dict) and "inline_keyboard" in reply_markup:
            message["reply_markup"] = {"inline_keyboard": reply_markup["inline_keyboard"]}
        if reply_to is not None:
            message["reply_to_message"] = self._quoted(chat_id, reply_to)
        preview = params.get("link_preview_options")
        if isinstance(preview, dict):
            message["link_preview_options"] = preview
        self._messages.setdefault(chat_id, {})[message["message_id"]] = message
        legacy = params.get("disable_web_page_preview")
        self._sent.append(
            {
                "chat_id": chat_id,
                "message_id": message["message_id"],
                "text": text,
                "plain_text": plain,
                "entities": entities,
                "parse_mode": params.get("parse_mode"),
                "reply_markup": reply_markup,
                "disable_web_page_preview": (
                    legacy
                    if legacy is not None
                    else (preview.get("is_disabled") if isinstance(preview, dict) else None)
                ),
                "link_preview_options": preview,
                "reply_to_message_id": reply_to,
                "disable_notification": params.get("disable_notification"),
                "date": date,
            }
        )
        self._cond.notify_all()
        return copy.deepcopy(message)

    def _edit_message_text(self, params: JsonDict) -> Any:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = self._target_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._bot_message(chat_id, message_id)
        text = params.get("text")
        plain, entities = _render_text(text, params.get("parse_mode"), params.get("entities"))
        reply_markup = _check_reply_markup(params.get("reply_markup"))
        keyboard = (
            {"inline_keyboard": reply_markup["inline_keyboard"]}
            if isinstance(reply_markup, dict) and "inline_keyboard" in reply_markup
            else None
        )
        if (
            plain == message["text"]
            and entities == message.get("entities", [])
            and keyboard == message.get("reply_markup")
        ):
            raise ApiError(400, NOT_MODIFIED)
        edit_date = int(time.time())
        message["text"] = plain
        message["edit_date"] = edit_date
        message.pop("entities", None)
        message.pop("reply_markup", None)
        if entities:
            message["entities"] = entities
        if keyboard is not None:
            message["reply_markup"] = keyboard
        changes = {
            "text": text,
            "plain_text": plain,
            "entities": entities,
            "parse_mode": params.get("parse_mode"),
            "reply_markup": reply_markup,
            "edit_date": edit_date,
        }
        for record in self._sent:
            if record["chat_id"] == chat_id and record["message_id"] == message_id:
                record.update(changes)
        self._edits.append({"chat_id": chat_id, "message_id": message_id, **changes})
        self._cond.notify_all()
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: JsonDict) -> Any:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = self._target_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._bot_message(chat_id, message_id)
        reply_markup = _check_reply_markup(params.get("reply_markup"))
        keyboard = (
            {"inline_keyboard": reply_markup["inline_keyboard"]}
            if isinstance(reply_markup, dict) and reply_markup.get("inline_keyboard")
            else None
        )
        if keyboard == message.get("reply_markup"):  # Telegram says the same as for a text
            raise ApiError(400, NOT_MODIFIED)
        edit_date = int(time.time())
        message["edit_date"] = edit_date
        message.pop("reply_markup", None)
        if keyboard is not None:
            message["reply_markup"] = keyboard
        for record in self._sent:
            if record["chat_id"] == chat_id and record["message_id"] == message_id:
                record.update({"reply_markup": reply_markup, "edit_date": edit_date})
        self._markup_edits.append(
            {"chat_id": chat_id, "message_id": message_id, "reply_markup": reply_markup,
             "edit_date": edit_date}
        )
        self._cond.notify_all()
        return copy.deepcopy(message)

    def _answer_callback_query(self, params: JsonDict) -> Any:
        query_id = params.get("callback_query_id")
        if not isinstance(query_id, str) or query_id not in self._open_queries:
            raise ApiError(400, QUERY_INVALID)
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_queries.discard(query_id)
        self._callback_answers.append(dict(params))
        self._cond.notify_all()
        return True

    def _send_chat_action(self, params: JsonDict) -> Any:
        chat_id = self._target_chat(params)
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._chat_actions.append((chat_id, str(action)))
        return True


_HANDLERS: dict[str, _Method] = {
    "getMe": FakeTelegram._get_me,
    "getUpdates": FakeTelegram._get_updates,
    "deleteWebhook": FakeTelegram._delete_webhook,
    "getWebhookInfo": FakeTelegram._get_webhook_info,
    "setMyCommands": FakeTelegram._set_my_commands,
    "getMyCommands": FakeTelegram._get_my_commands,
    "deleteMyCommands": FakeTelegram._delete_my_commands,
    "sendMessage": FakeTelegram._send_message,
    "editMessageText": FakeTelegram._edit_message_text,
    "editMessageReplyMarkup": FakeTelegram._edit_message_reply_markup,
    "answerCallbackQuery": FakeTelegram._answer_callback_query,
    "sendChatAction": FakeTelegram._send_chat_action,
    "close": FakeTelegram._ok,
    "logOut": FakeTelegram._ok,
}
_METHOD_NAMES = {name.lower(): name for name in _HANDLERS}


# --------------------------------------------------------------------------- helpers


def _error(exc: ApiError) -> _Response:
    return _Response(exc.status, exc.body())


def _scope_key(params: JsonDict) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _reply_to(params: JsonDict) -> int | None:
    reply_parameters = params.get("reply_parameters")
    if isinstance(reply_parameters, dict) and isinstance(reply_parameters.get("message_id"), int):
        return int(reply_parameters["message_id"])
    legacy = params.get("reply_to_message_id")
    return legacy if isinstance(legacy, int) else None


def _render_text(text: object, parse_mode: object, entities: object) -> tuple[str, list[JsonDict]]:
    """Telegram's text checks: parse, strip, then 1..4096 UTF-16 code units."""
    if not isinstance(text, str) or not text:
        raise ApiError(400, "Bad Request: message text is empty")
    mode = parse_mode.lower() if isinstance(parse_mode, str) else ""
    if mode == "html":
        try:
            plain, parsed = parse_html(text)
        except HTMLError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc.reason}") from exc
    elif mode in ("markdown", "markdownv2"):
        plain, parsed = text, []  # accepted, not parsed
    elif mode == "":
        given = entities if isinstance(entities, list) else []
        plain, parsed = text, [dict(e) for e in given if isinstance(e, dict)]
    else:
        raise ApiError(400, f'Bad Request: unsupported parse_mode "{parse_mode}"')
    plain, parsed = _strip(plain, parsed)
    if not plain:
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(plain) > MAX_MESSAGE_LENGTH:
        raise ApiError(400, "Bad Request: message is too long")
    return plain, parsed


def _strip(text: str, entities: list[JsonDict]) -> tuple[str, list[JsonDict]]:
    """Strip surrounding whitespace as Telegram does, moving and clipping the entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    kept: list[JsonDict] = []
    for entity in entities:
        start = max(0, int(entity.get("offset", 0)) - lead)
        end = min(total, int(entity.get("offset", 0)) + int(entity.get("length", 0)) - lead)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def _check_reply_markup(markup: object) -> Any:
    """Validate an inline keyboard the way Telegram does (button text, callback_data size)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    keyboard = markup.get("inline_keyboard")
    if keyboard is None:
        return markup
    if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
        raise ApiError(
            400,
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup '
            "must be an Array of Arrays",
        )
    for row in keyboard:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(
                    400, "Bad Request: can't parse inline keyboard button: Text must be non-empty"
                )
            data = button.get("callback_data")
            if data is not None and (
                not isinstance(data, str)
                or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
            ):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _coerce(params: JsonDict) -> JsonDict:
    """Give known fields their types back (form data carries every value as a string)."""
    typed: JsonDict = {}
    for name, value in params.items():
        if isinstance(value, str) and name in _INT_FIELDS:
            try:
                value = int(value)
            except ValueError:
                if name != "chat_id":  # "@channel" usernames stay strings
                    raise ApiError(400, f"Bad Request: invalid {name}") from None
        elif isinstance(value, str) and name in _FLOAT_FIELDS:
            try:
                value = float(value)
            except ValueError:
                raise ApiError(400, f"Bad Request: invalid {name}") from None
        elif isinstance(value, str) and name in _BOOL_FIELDS:
            value = value.strip().lower() in ("true", "1")
        elif isinstance(value, str) and name in _JSON_FIELDS:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
        typed[name] = value
    return typed


def _parse_params(query: str, content_type: str, body: bytes) -> JsonDict:
    """Merge query-string and body parameters (JSON, form-encoded or multipart)."""
    params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if media_type == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body is not an object")
        params.update(data)
    elif media_type == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    else:  # application/x-www-form-urlencoded, or no content type
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


def _parse_multipart(content_type: str, body: bytes) -> JsonDict:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(head + body)
    params: JsonDict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        params[name] = data if part.get_filename() else data.decode("utf-8")
    return params


# --------------------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    """Reads each HTTP request, delegates to :class:`FakeTelegram` and writes the answer."""

    protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive sockets
    server_version = "FakeTelegram/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request logging to stderr."""

    def _serve(self, http_method: str) -> None:
        fake = cast(FakeHTTPServer, self.server).fake
        try:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            url = urlsplit(self.path)
            content_type = self.headers.get("content-type") or ""
            response = fake._handle(http_method, url.path, url.query, content_type, body)
            if response is None:
                self.close_connection = True
                return
            payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
            self.send_response(response.status, _reason(response.status))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except DISCONNECT_ERRORS:
            self.close_connection = True  # the client went away (e.g. a cancelled long poll)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


FakeTelegram.handler = _Handler

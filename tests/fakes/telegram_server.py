"""A fake Telegram Bot API server for tests (standard library only).

Usage::

    with FakeTelegram() as fake:
        app = Application.builder().token(fake.token).base_url(fake.base_url).build()
        ...
        fake.user_message(42, "/start")
        [reply] = fake.wait_for_messages(42, 1)
        assert reply["plain_text"] == "hi"

        room = fake.add_chat("supergroup", title="Rédaction", is_forum=True)
        sport = fake.create_topic(room, "Sport")
        fake.user_message(room, "/ask@briefing_test_bot Score ?", user_id=7,
                          message_thread_id=sport)
        [answer] = fake.wait_for_messages_in(room, sport, 1)
        fake.update_bot_status(room, "kicked")  # a my_chat_member update; sends now answer 403

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
  leaky-bucket algorithm of ``aiolimiter``, which PTB's ``AIORateLimiter`` uses): each private
  chat has a bucket of capacity 1 refilled at ``per_chat_rate`` tokens per second (so a burst of
  1, then one message every ``1 / per_chat_rate`` seconds); each group, supergroup or channel
  (any negative ``chat_id``) one of capacity ``group_limit`` refilled at ``group_limit /
  group_window`` per second (Telegram's "20 messages per minute": a burst of 20, then one every
  3 s); all chats share a bucket of capacity ``max(1, global_rate)`` refilled at
  ``global_rate`` per second, except sends with ``allow_paid_broadcast``, which share one of
  ``paid_global_rate`` (1,000/s) instead. A send arriving up to :data:`RATE_TOLERANCE` seconds
  early is let through to absorb network jitter. A rate (or ``group_limit``) of 0 or less
  disables that limit. An over-limit send answers 429 with a whole ``retry_after`` >= 1, is
  neither delivered nor counted against the buckets, and is listed in ``rate_limited``.
* Chats: private chats are the users' ids; :meth:`FakeTelegram.add_chat` makes groups
  (``-4000000001``...), supergroups (optionally forums) and channels (``-1002000000001``...)
  with an owner and the bot as a member (an administrator in channels);
  :meth:`~FakeTelegram.set_member` / :meth:`~FakeTelegram.update_member` /
  :meth:`~FakeTelegram.update_bot_status` track who is in with which status and rights (the
  latter two queue ``chat_member`` / ``my_chat_member``). A negative chat never created is made
  up on first use (a group, or a supergroup for ``-100...``, the bot a plain member), so old
  tests keep working; ``getChat`` and ``getChatMember`` answer "chat not found" for a chat never
  created nor seen. Writes (``sendMessage``, edits, ``deleteMessage``, ``sendChatAction``)
  check the bot's place as Telegram does: 403 ``Forbidden: bot was kicked from the group
  chat`` / ``bot is not a member of the channel chat`` (the chat type varies); 400
  :data:`MIGRATED` with ``parameters.migrate_to_chat_id`` for an upgraded group
  (:meth:`~FakeTelegram.migrate_group`); 400 ``need administrator rights in the channel chat``
  in a channel without ``can_post_messages``; 400 :data:`THREAD_NOT_FOUND` for a
  ``message_thread_id`` that is not a live topic of the forum (or, in a plain supergroup, a
  message starting a thread of replies), ``TOPIC_CLOSED`` for a closed topic. ``chat_id`` may
  be ``"@username"`` for a group or channel that has one.
* Updates follow Telegram's delivery rules: with ``privacy_mode`` (the default, as BotFather's)
  a bot that is not an administrator only gets the group messages meant for it (commands,
  ``/cmd@bot_name``, replies to its messages, ``@bot_name`` mentions, service messages); no
  update reaches a bot that is not in the chat; ``chat_member`` needs the bot to be an
  administrator; and the ``allowed_updates`` of the last ``getUpdates`` that gave them apply
  (by default every type but ``chat_member``, ``message_reaction``,
  ``message_reaction_count``). Updates a bot would not get are listed in ``dropped_updates``.
* Message ids are per chat, from 1, shared by the bot's and the users' messages.
* ``editMessageText`` and ``editMessageReplyMarkup`` that would change nothing answer 400
  ``Bad Request: message is not modified: ...`` (:data:`NOT_MODIFIED`), exactly as Telegram
  does (PTB raises ``BadRequest``). A text is compared as parsed, with its entities; to
  ``editMessageReplyMarkup`` an empty keyboard is no keyboard (it removes the keyboard). A
  message that does not exist or was deleted (:meth:`FakeTelegram.delete_message`,
  ``deleteMessage``) answers ``Bad Request: message to edit not found``; someone else's message
  (unless the bot may edit channel posts), a service message, or the bot's own post in a channel
  where it may no longer post, ``Bad Request: message can't be edited``.
* Only one ``getUpdates`` may wait at a time: a newer one ends an older one with 409 Conflict,
  like the real API.
* Webhooks: ``setWebhook`` (an ``https`` URL, as Telegram requires; ``secret_token``,
  ``allowed_updates``, ``drop_pending_updates``) sets :attr:`~FakeTelegram.webhook`, which
  ``getWebhookInfo`` shows and ``deleteWebhook`` clears; while it is set ``getUpdates``
  answers 409 (:data:`WEBHOOK_ACTIVE`). The fake never pushes by itself: a test delivers
  with :meth:`~FakeTelegram.post_to_webhook`, which POSTs one update's JSON as Telegram
  does (``X-Telegram-Bot-Api-Secret-Token`` when a secret is set) to the webhook's URL or
  to any URL given (a worker behind the load balancer); a 2xx answer confirms the update,
  anything else leaves it queued. Any update ever queued may be posted again by id, as
  Telegram retries one whose answer it did not get. Every post is listed in
  :attr:`~FakeTelegram.webhook_deliveries`.
* Files a user sends (:meth:`FakeTelegram.user_document`) are kept by the fake: ``getFile``
  answers a ``File`` (``file_id``, ``file_unique_id``, ``file_size``, ``file_path``), 400
  :data:`INVALID_FILE_ID` for a ``file_id`` it never gave, 400 :data:`FILE_TOO_BIG` over
  :data:`MAX_DOWNLOAD_BYTES`; the bytes are then served, as by ``api.telegram.org``, at
  ``{base_file_url}{token}/{file_path}`` (GET; 404 ``Not Found`` for any other path). A
  download is recorded in :attr:`~FakeTelegram.requests` as method :data:`FILE_DOWNLOAD`.
* Also served: ``getChat`` (a ``ChatFullInfo``), ``getChatMember``, ``getChatAdministrators``,
  ``getChatMemberCount``, ``leaveChat``, ``deleteMessage`` and ``createForumTopic``.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, unquote, urlsplit
from urllib.request import Request, urlopen

from tests.fakes import DISCONNECT_ERRORS, BackgroundServer, FakeHTTPServer
from tests.fakes.telegram_html import HTMLError, parse_html, utf16_len

__all__ = [
    "ADMIN_RIGHTS",
    "DEFAULT_OWNER_ID",
    "DEFAULT_TOKEN",
    "FILE_DOWNLOAD",
    "FILE_TOO_BIG",
    "INVALID_FILE_ID",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_DOWNLOAD_BYTES",
    "MAX_MESSAGE_LENGTH",
    "MEMBER_STATUSES",
    "MIGRATED",
    "NOT_MODIFIED",
    "RATE_TOLERANCE",
    "RESTRICTED_RIGHTS",
    "THREAD_NOT_FOUND",
    "WEBHOOK_ACTIVE",
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
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
"""``getUpdates`` while a webhook is set (409)."""
NO_HTTPS_WEBHOOK = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
"""Sending to a basic group that became a supergroup (with ``parameters.migrate_to_chat_id``)."""
THREAD_NOT_FOUND = "Bad Request: message thread not found"
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
CANT_EDIT = "Bad Request: message can't be edited"
CHANNEL_RIGHTS = "Bad Request: need administrator rights in the channel chat"
NO_TEXT_RIGHTS = "Bad Request: not enough rights to send text messages to the chat"
INVALID_FILE_ID = "Bad Request: invalid file_id"
"""``getFile`` with a ``file_id`` the fake never gave (or none)."""
FILE_TOO_BIG = "Bad Request: file is too big"
"""``getFile`` of a file over :data:`MAX_DOWNLOAD_BYTES`."""
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
"""Largest file a bot may download (the Bot API's 20 MB)."""
FILE_DOWNLOAD = "file"
"""The :attr:`ApiRequest.method` of a file download (``GET {base_file_url}{token}/...``)."""
DEFAULT_OWNER_ID = 99001
"""The user who owns (``creator``) the chats made by :meth:`FakeTelegram.add_chat` by default."""
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
)
"""The rights of a ``ChatMemberAdministrator`` (the last four are optional in the Bot API)."""
RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
)
"""The permissions of a ``ChatMemberRestricted`` (all ``False`` unless given)."""
_CHANNEL_ADMIN_DEFAULTS = {
    "can_manage_chat": True,
    "can_post_messages": True,
    "can_edit_messages": True,
    "can_delete_messages": True,
}
_GROUP_ADMIN_DEFAULTS = {"can_manage_chat": True, "can_delete_messages": True}
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
"""Update types Telegram sends only when ``allowed_updates`` names them."""
_FORUM_ICON_COLOR = 0x6FB9F0
_GROUP_IDS = 4_000_000_000
_SUPERGROUP_IDS = 1_002_000_000_000
_MIN_SUPERGROUP_ID = -1_000_000_000_001
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
_FILE_PATH_RE = re.compile(r"/file/bot(?P<token>[^/]*)/(?P<path>.+)")
_MIME_TYPES = {
    ".opml": "text/x-opml",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".json": "application/json",
    ".pdf": "application/pdf",
}
"""The ``mime_type`` a Telegram client gives a document, by extension (else octet-stream)."""
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"/\S+")
_MENTION_RE = re.compile(r"(?<![\w/@])@[A-Za-z0-9_]{5,32}")
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "max_connections",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "user_id",
        "from_chat_id",
        "icon_color",
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

    ``method`` is the canonical Bot API method name when known (as sent otherwise,
    :data:`FILE_DOWNLOAD` for a file download, with its ``file_path`` in ``params``, or the URL
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
    """An error answer of the Bot API: HTTP ``status`` with ``description``.

    ``retry_after`` and ``migrate_to_chat_id`` go to the answer's ``parameters``; ``limit``
    names the rate limit behind a 429 (``"chat"``, ``"group"``, ``"global"``, ``"paid"``), for
    :attr:`FakeTelegram.rate_limited` only.
    """

    def __init__(
        self,
        status: int,
        description: str,
        retry_after: int | None = None,
        *,
        migrate_to_chat_id: int | None = None,
        limit: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id
        self.limit = limit

    def body(self) -> JsonDict:
        """The JSON body Telegram sends for this error."""
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        parameters: JsonDict = {}
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if parameters:
            body["parameters"] = parameters
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


@dataclass
class _Topic:
    """A forum topic; its id is the id of the service message that created it."""

    name: str
    icon_color: int
    closed: bool = False
    deleted: bool = False


@dataclass
class _Room:
    """A group, supergroup or channel: its ``Chat`` object and who is in it."""

    chat: JsonDict
    owner: int
    members: dict[int, JsonDict] = field(default_factory=dict)
    topics: dict[int, _Topic] = field(default_factory=dict)
    migrated_to: int | None = None

    @property
    def kind(self) -> str:
        return str(self.chat["type"])


@dataclass
class _File:
    """A file a user sent (:meth:`FakeTelegram.user_document`): its ids, its bytes, and the
    ``file_path`` the first ``getFile`` gave it (``None`` before)."""

    file_id: str
    file_unique_id: str
    content: bytes
    extension: str  # of its name ("" if none), kept by its file_path as Telegram does
    file_path: str | None = None


@dataclass
class HeldCall:
    """A call held by :meth:`FakeTelegram.hold_next`: ``arrived`` is set once it has fully
    arrived (recorded in ``requests``, not carried out yet); :meth:`release` lets it go on."""

    method: str
    chat_id: int | str | None
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Carry the call out now, and answer it (to nobody if its client is gone)."""
        self.released.set()


@dataclass(frozen=True)
class _Response:
    """An answer: ``body`` as JSON, or ``raw`` bytes (a file download) when given."""

    status: int
    body: JsonDict
    raw: bytes | None = None


# --------------------------------------------------------------------------- the fake


_Method = Callable[["FakeTelegram", JsonDict], Any]


class FakeTelegram(BackgroundServer):
    """A scripted Telegram Bot API on ``127.0.0.1`` running in a background thread.

    All state is guarded by one condition variable, so the helpers may be called from any thread
    (including while a client long-polls). Public attributes ``global_rate``, ``per_chat_rate``,
    ``group_limit``, ``group_window``, ``paid_global_rate``, ``enforce_rates``,
    ``privacy_mode`` and ``private_needs_start`` may be changed at any time.

    ``private_needs_start`` (off by default, so that tests may write to any reader) makes a
    private chat the user never wrote in (:meth:`user_message`, :meth:`add_chat`) answer 403
    ``Forbidden: bot can't initiate conversation with a user``, as Telegram does.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        global_rate: float = 30.0,
        per_chat_rate: float = 1.0,
        enforce_rates: bool = True,
        group_limit: int = 20,
        group_window: float = 60.0,
        paid_global_rate: float = 1000.0,
        privacy_mode: bool = True,
        private_needs_start: bool = False,
    ) -> None:
        self.token = token
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.enforce_rates = enforce_rates
        self.group_limit = group_limit
        self.group_window = group_window
        self.paid_global_rate = paid_global_rate
        self.private_needs_start = private_needs_start
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
        self.privacy_mode = privacy_mode
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
        self._files: dict[str, _File] = {}
        self._file_paths: dict[str, str] = {}  # file_path -> file_id
        self._file_serial = itertools.count(1)
        self._file_path_serial = itertools.count(0)
        self._too_many = 0
        self._global_bucket: _Bucket | None = None
        self._chat_buckets: dict[int, _Bucket] = {}
        self._group_buckets: dict[int, _Bucket] = {}
        self._paid_bucket: _Bucket | None = None
        self._rooms: dict[int, _Room] = {}
        self._chat_serial = itertools.count(1)
        self._bot_sent: set[tuple[int, int]] = set()
        self._deleted: list[JsonDict] = []
        self._dropped: list[JsonDict] = []
        self._rate_limited: list[JsonDict] = []
        self._allowed_updates: frozenset[str] | None = None
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._holds: list[HeldCall] = []
        self._webhook: JsonDict | None = None
        self._every_update: dict[int, JsonDict] = {}  # each update ever queued, by id
        self._webhook_deliveries: list[JsonDict] = []

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
        """``http://127.0.0.1:PORT/file/bot``: PTB appends the token (``Bot(base_file_url=...)``);
        a file is at ``{base_file_url}{token}/{file_path}``, ``file_path`` from ``getFile``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def privacy_mode(self) -> bool:
        """Whether the bot only sees the group messages meant for it (BotFather's setting).

        Mirrors ``bot_user["can_read_all_group_messages"]`` (its negation), as ``getMe`` shows.
        """
        return not self.bot_user.get("can_read_all_group_messages", False)

    @privacy_mode.setter
    def privacy_mode(self, enabled: bool) -> None:
        self.bot_user["can_read_all_group_messages"] = not enabled

    @property
    def bot_id(self) -> int:
        """The bot's user id (from the token)."""
        return int(self.bot_user["id"])

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

    def hold_next(self, method: str, *, chat_id: int | str | None = None) -> HeldCall:
        """Hold the next call of ``method`` (to ``chat_id``, if given) once it has fully
        arrived, before it is carried out, until :meth:`HeldCall.release` (60 s at most).

        A client killed meanwhile never gets the answer, but the call is carried out all the
        same once released, as Telegram does with a request it received in full: the moment
        between "Telegram has it" and "the client knows". ``ValueError`` for a method the fake
        does not implement.
        """
        canonical = _METHOD_NAMES.get(method.lower())
        if canonical is None:
            raise ValueError(f"FakeTelegram does not implement {method!r}")
        held = HeldCall(canonical, chat_id)
        with self._cond:
            self._holds.append(held)
        return held

    def _wait_if_held(self, method: str, params: JsonDict) -> None:
        """Block this call while :meth:`hold_next` holds it (called without the lock)."""
        with self._cond:
            held = next((h for h in self._holds if h.method == method
                         and (h.chat_id is None or params.get("chat_id") == h.chat_id)), None)
            if held is None:
                return
            self._holds.remove(held)
        held.arrived.set()
        held.released.wait(timeout=60)

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
        does not implement. ``method`` :data:`FILE_DOWNLOAD` fails the next file downloads
        (status 404 as an expired link, 500...).
        """
        key = method.lower()
        if key not in _METHOD_NAMES and key != FILE_DOWNLOAD:
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
        message_thread_id: int | None = None,
        username: str | None = None,
    ) -> int:
        """Queue a ``message`` update from a user; returns its ``update_id``.

        The chat is private (``chat_id`` is the user's id) unless ``chat_id`` is negative: a
        group or supergroup (made by :meth:`add_chat`, or else made up on the spot with the bot
        as a plain member), with ``user_id`` defaulting to ``abs(chat_id)``; the user becomes a
        member if they were not one (``ValueError`` if they ``left`` or are ``kicked``). A
        leading ``/command`` (``/ask@bot_name`` too) gets a ``bot_command`` entity, and in groups
        each ``@username`` a ``mention`` entity. Writing unblocks the bot and makes a forgotten
        chat known again. ``reply_to_message_id`` must name a message of that chat;
        ``message_thread_id`` a topic of that forum (:meth:`create_topic`), and the message then
        carries ``is_topic_message`` and, unless it replies to another message, a
        ``reply_to_message`` quoting the topic's creation, as Telegram does. A reply in a
        supergroup inherits the thread of the message it answers.

        The message is stored in any case, but the bot gets no update (see
        :attr:`dropped_updates`) when it is not in the group or, with :attr:`privacy_mode` and
        the bot not an administrator, when the message is not meant for it: not a command (or a
        command for another bot), not a reply to one of the bot's messages, no ``@bot_name``.
        """
        with self._cond:
            uid = user_id if user_id is not None else abs(chat_id)
            user: JsonDict = {
                "id": uid,
                "is_bot": False,
                "first_name": first_name,
                "language_code": language_code,
            }
            if username is not None:
                user["username"] = username
            self._users[uid] = user
            self._forgotten.discard(chat_id)
            room: _Room | None = None
            if chat_id > 0:
                chat = self._chat_object(chat_id)
                chat["first_name"] = first_name
                self._chats[chat_id] = chat
                self._blocked.discard(chat_id)
            else:
                room = self._ensure_room(chat_id)
                if room.kind == "channel":
                    raise ValueError(f"chat {chat_id} is a channel: use channel_post()")
                if room.migrated_to is not None:
                    raise ValueError(f"chat {chat_id} became supergroup {room.migrated_to}")
                member = room.members.get(uid)
                if member is None:
                    room.members[uid] = _member_json(room.kind, user, "member")
                elif not _present(member):
                    raise ValueError(f"user {uid} is {member['status']} in chat {chat_id}")
                else:
                    member["user"] = dict(user)
                chat = room.chat
            message: JsonDict = {
                "message_id": self._next_message_id(chat_id),
                "from": user,
                "chat": dict(chat),
                "date": int(time.time()),
                "text": text,
            }
            entities = _text_entities(text, mentions=room is not None)
            if entities:
                message["entities"] = entities
            if reply_to_message_id is not None:
                self._quoted(chat_id, reply_to_message_id)  # ValueError if there is none
            try:
                message.update(
                    self._thread_fields(chat_id, room, message_thread_id, reply_to_message_id)
                )
            except ApiError as exc:
                raise ValueError(f"chat {chat_id}: {exc.description}") from None
            self._messages.setdefault(chat_id, {})[message["message_id"]] = message
            unseen = self._unseen(room, message) if room is not None else None
            return self._queue_update({"message": copy.deepcopy(message)}, dropped=unseen)

    def channel_post(self, chat_id: int, text: str, *, author_signature: str | None = None) -> int:
        """Queue a ``channel_post`` update: a post in a channel made by :meth:`add_chat`.

        Like Telegram's, it has ``sender_chat`` (the channel) and no ``from``. The bot gets it
        only while it is in the channel (else see :attr:`dropped_updates`). Returns the
        ``update_id``; the post's ``message_id`` is ``messages_of(chat_id)[-1]["message_id"]``.
        """
        with self._cond:
            room = self._room(chat_id)
            if room.kind != "channel":
                raise ValueError(f"chat {chat_id} is a {room.kind}, not a channel")
            message: JsonDict = {
                "message_id": self._next_message_id(chat_id),
                "sender_chat": dict(room.chat),
                "chat": dict(room.chat),
                "date": int(time.time()),
                "text": text,
            }
            entities = _text_entities(text, mentions=True)
            if entities:
                message["entities"] = entities
            if author_signature is not None:
                message["author_signature"] = author_signature
            self._messages.setdefault(chat_id, {})[message["message_id"]] = message
            return self._queue_update(
                {"channel_post": copy.deepcopy(message)}, dropped=self._unseen(room, message)
            )

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

    def user_document(
        self,
        chat_id: int,
        content: bytes,
        *,
        file_name: str = "feeds.opml",
        mime_type: str | None = None,
        caption: str | None = None,
        user_id: int | None = None,
        first_name: str = "Ana",
        language_code: str = "fr",
    ) -> int:
        """Queue a ``message`` update in which a user sends a file (a ``document``) in their
        private chat with the bot; returns its ``update_id``.

        The document has a new ``file_id`` and ``file_unique_id``, ``file_name``,
        ``mime_type`` (by default the one a client gives the name's extension: ``text/x-opml``
        for ``.opml``, ``application/xml`` for ``.xml``..., else
        ``application/octet-stream``) and ``file_size`` (``len(content)``); ``caption`` gets
        its ``/command`` entity. The fake keeps ``content`` for ``getFile`` and the download
        (see the module's notes). As with :meth:`user_message`, writing unblocks the bot and
        makes a forgotten chat known again. ``ValueError`` for a group chat (``chat_id`` < 0).
        """
        if chat_id <= 0:
            raise ValueError(f"chat {chat_id}: user_document() sends to a private chat only")
        with self._cond:
            uid = user_id if user_id is not None else chat_id
            user: JsonDict = {
                "id": uid,
                "is_bot": False,
                "first_name": first_name,
                "language_code": language_code,
            }
            self._users[uid] = user
            self._forgotten.discard(chat_id)
            self._blocked.discard(chat_id)
            chat = self._chat_object(chat_id)
            chat["first_name"] = first_name
            self._chats[chat_id] = chat
            serial = next(self._file_serial)
            dot = file_name.rfind(".")
            extension = file_name[dot:].lower() if dot > 0 else ""
            stored = _File(f"BQACAgQAAxkBAAIC{serial:06d}", f"AgADdoc{serial:06d}",
                           bytes(content), extension)
            self._files[stored.file_id] = stored
            document: JsonDict = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type or _MIME_TYPES.get(extension, "application/octet-stream"),
                "file_size": len(stored.content),
            }
            message: JsonDict = {
                "message_id": self._next_message_id(chat_id),
                "from": user,
                "chat": dict(chat),
                "date": int(time.time()),
                "document": document,
            }
            if caption is not None:
                message["caption"] = caption
                entities = _text_entities(caption, mentions=False)
                if entities:
                    message["caption_entities"] = entities
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
            if message is None or (chat_id, message_id) not in self._bot_sent:
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

    # ------------------------------------------------------------------ chats and members

    def add_chat(
        self,
        chat_type: str = "group",
        *,
        chat_id: int | None = None,
        title: str | None = None,
        username: str | None = None,
        first_name: str = "Ana",
        is_forum: bool = False,
        owner_id: int = DEFAULT_OWNER_ID,
        bot_status: str | None = None,
        bot_rights: Mapping[str, bool] | None = None,
    ) -> int:
        """Create a chat quietly (no update) and return its id.

        ``chat_type`` is ``"private"`` (``chat_id``, the user's id, is then required; the chat
        becomes known to ``getChat``), ``"group"``, ``"supergroup"`` or ``"channel"``. Ids are
        Telegram's: groups ``-4000000001``, ``-4000000002``...; supergroups and channels
        ``-1002000000001``... (``-100`` then the channel id); a given ``chat_id`` must fit its
        type (``ValueError``). ``is_forum`` (supergroups only) enables topics
        (:meth:`create_topic`). ``owner_id`` is the ``creator``. The bot is a ``member``
        (groups) or an ``administrator`` who may post, edit and delete (channels) unless
        ``bot_status`` / ``bot_rights`` say otherwise: pass ``bot_status="left"`` and then
        :meth:`update_bot_status` to script the bot being added, with its ``my_chat_member``.
        A ``username`` makes the chat reachable as ``chat_id="@username"``.
        """
        if chat_type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {chat_type!r}")
        if is_forum and chat_type != "supergroup":
            raise ValueError("only supergroups can be forums")
        with self._cond:
            if chat_type == "private":
                if chat_id is None or chat_id <= 0:
                    raise ValueError("a private chat needs the user's (positive) id")
                self._user(chat_id, first_name=first_name, username=username)
                chat: JsonDict = {"id": chat_id, "type": "private", "first_name": first_name}
                if username is not None:
                    chat["username"] = username
                self._chats[chat_id] = chat
                self._forgotten.discard(chat_id)
                return chat_id
            if chat_id is None:
                base = _GROUP_IDS if chat_type == "group" else _SUPERGROUP_IDS
                chat_id = -(base + next(self._chat_serial))
            _check_chat_id(chat_type, chat_id)
            if chat_id in self._rooms:
                raise ValueError(f"chat {chat_id} already exists")
            chat = {"id": chat_id, "type": chat_type, "title": title or f"Chat {chat_id}"}
            if username is not None:
                chat["username"] = username
            if is_forum:
                chat["is_forum"] = True
            room = _Room(chat, owner=owner_id)
            room.members[owner_id] = _member_json(
                chat_type, self._user(owner_id, name_if_new="Owner"), "creator"
            )
            status = bot_status or ("administrator" if chat_type == "channel" else "member")
            room.members[self.bot_id] = _member_json(
                chat_type, self._bot_public(), status, bot_rights
            )
            self._rooms[chat_id] = room
            self._chats[chat_id] = chat
            self._forgotten.discard(chat_id)
            return chat_id

    def set_member(
        self,
        chat_id: int,
        user_id: int,
        status: str = "member",
        *,
        rights: Mapping[str, bool] | None = None,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        custom_title: str | None = None,
        until_date: int | None = None,
    ) -> JsonDict:
        """Set a user's membership quietly (no update); returns the ``ChatMember`` object.

        ``status`` is one of :data:`MEMBER_STATUSES`. ``rights`` sets ``can_*`` fields: for an
        ``administrator``, names from :data:`ADMIN_RIGHTS` (on top of ``can_manage_chat`` and
        ``can_delete_messages``, plus ``can_post_messages`` and ``can_edit_messages`` in
        channels); for ``restricted``, names from :data:`RESTRICTED_RIGHTS` (others ``False``).
        ``user_id`` may be the bot's (:attr:`bot_id`).
        """
        with self._cond:
            room = self._room(chat_id)
            user = self._user(
                user_id, first_name=first_name, username=username, language_code=language_code
            )
            member = _member_json(room.kind, user, status, rights, custom_title, until_date)
            room.members[user_id] = member
            return copy.deepcopy(member)

    def update_member(
        self,
        chat_id: int,
        user_id: int,
        status: str,
        *,
        by: int | None = None,
        rights: Mapping[str, bool] | None = None,
        first_name: str | None = None,
        username: str | None = None,
        custom_title: str | None = None,
        until_date: int | None = None,
    ) -> int:
        """Change a membership and queue the update Telegram sends; returns its ``update_id``.

        For the bot (``user_id == bot_id``) that is ``my_chat_member``; for anyone else it is
        ``chat_member``, which Telegram only sends to a bot that is an administrator of the chat
        and named ``"chat_member"`` in ``allowed_updates`` (else see :attr:`dropped_updates`).
        ``by`` is the user who made the change (``from``): by default the user themselves when
        joining or leaving, else the chat's owner. Other arguments as in :meth:`set_member`.
        """
        with self._cond:
            room = self._room(chat_id)
            user = self._user(user_id, first_name=first_name, username=username)
            old = room.members.get(user_id) or {"status": "left", "user": dict(user)}
            new = _member_json(room.kind, user, status, rights, custom_title, until_date)
            room.members[user_id] = new
            if by is None:
                themselves = status in ("member", "left") and user_id != self.bot_id
                by = user_id if themselves else room.owner
            actor = self._bot_public() if by == self.bot_id else self._user(by)
            payload: JsonDict = {
                "chat": dict(room.chat),
                "from": dict(actor),
                "date": int(time.time()),
                "old_chat_member": copy.deepcopy(old),
                "new_chat_member": copy.deepcopy(new),
            }
            if user_id == self.bot_id:
                return self._queue_update({"my_chat_member": payload})
            bot = room.members.get(self.bot_id)
            admin = bot is not None and bot["status"] in ("creator", "administrator")
            unseen = None if admin else "the bot is not an administrator of the chat"
            return self._queue_update({"chat_member": payload}, dropped=unseen)

    def update_bot_status(
        self,
        chat_id: int,
        status: str,
        *,
        by: int | None = None,
        rights: Mapping[str, bool] | None = None,
    ) -> int:
        """The bot is added (``member``), promoted (``administrator`` with ``rights``), demoted,
        restricted, removed (``kicked``) or leaves (``left``): queue its ``my_chat_member``.

        Sends to the chat then succeed or fail as Telegram's do (403 once the bot is out, 400 in
        a channel without ``can_post_messages``). Returns the ``update_id``.
        """
        return self.update_member(chat_id, self.bot_id, status, by=by, rights=rights)

    def create_topic(
        self,
        chat_id: int,
        name: str,
        *,
        icon_color: int = _FORUM_ICON_COLOR,
        user_id: int | None = None,
    ) -> int:
        """Create a topic in a forum supergroup; returns its ``message_thread_id``.

        As in Telegram, the id is that of the ``forum_topic_created`` service message, which is
        queued as a ``message`` update (``from`` ``user_id``, by default the owner) when the bot
        is in the chat. Thread ids start above 1 (the "General" topic has none).
        """
        with self._cond:
            room = self._room(chat_id)
            if not room.chat.get("is_forum"):
                raise ValueError(f"chat {chat_id} is not a forum")
            author = self._user(user_id if user_id is not None else room.owner)
            return self._new_topic(chat_id, room, name, icon_color, author)

    def close_topic(self, chat_id: int, message_thread_id: int, closed: bool = True) -> None:
        """Close (or reopen) a topic: only administrators who can manage topics post there."""
        with self._cond:
            self._topic(chat_id, message_thread_id).closed = closed

    def delete_topic(self, chat_id: int, message_thread_id: int) -> None:
        """Delete a topic: sending there answers :data:`THREAD_NOT_FOUND`."""
        with self._cond:
            self._topic(chat_id, message_thread_id).deleted = True

    def migrate_group(
        self, chat_id: int, *, new_chat_id: int | None = None, user_id: int | None = None
    ) -> int:
        """Upgrade a basic group to a supergroup; returns the supergroup's new id.

        Members (the bot included) move along. Two service messages are queued, as Telegram
        sends them: one in the old group with ``migrate_to_chat_id`` and one in the new
        supergroup with ``migrate_from_chat_id`` (``from`` ``user_id``, by default the owner).
        From then on every write to the old id answers 400 :data:`MIGRATED` with
        ``parameters.migrate_to_chat_id`` (PTB raises ``ChatMigrated``).
        """
        with self._cond:
            room = self._room(chat_id)
            if room.kind != "group" or room.migrated_to is not None:
                raise ValueError(f"chat {chat_id} is not a basic group that can be upgraded")
            if new_chat_id is None:
                new_chat_id = -(_SUPERGROUP_IDS + next(self._chat_serial))
            _check_chat_id("supergroup", new_chat_id)
            if new_chat_id in self._rooms:
                raise ValueError(f"chat {new_chat_id} already exists")
            chat: JsonDict = {"id": new_chat_id, "type": "supergroup", "title": room.chat["title"]}
            new_room = _Room(chat, owner=room.owner, members=copy.deepcopy(room.members))
            self._rooms[new_chat_id] = new_room
            self._chats[new_chat_id] = chat
            room.migrated_to = new_chat_id
            author = self._user(user_id if user_id is not None else room.owner)
            now = int(time.time())
            old_message: JsonDict = {
                "message_id": self._next_message_id(chat_id),
                "from": dict(author),
                "chat": dict(room.chat),
                "date": now,
                "migrate_to_chat_id": new_chat_id,
            }
            new_message: JsonDict = {
                "message_id": self._next_message_id(new_chat_id),
                "from": dict(author),
                "chat": dict(chat),
                "date": now,
                "migrate_from_chat_id": chat_id,
            }
            for room_id, target, message in (
                (chat_id, room, old_message),
                (new_chat_id, new_room, new_message),
            ):
                self._messages.setdefault(room_id, {})[message["message_id"]] = message
                self._queue_update(
                    {"message": copy.deepcopy(message)}, dropped=self._unseen(target, message)
                )
            return new_chat_id

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """Someone (an admin, the author) deletes a message: it can no longer be edited
        (:data:`EDIT_NOT_FOUND`), replied to or have its buttons pressed. ``ValueError`` if
        there is no such message."""
        with self._cond:
            if message_id not in self._messages.get(chat_id, {}):
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            self._remove_message(chat_id, message_id, "test")

    def post_to_webhook(
        self, update_id: int | None = None, *, url: str | None = None, timeout: float = 5.0
    ) -> int:
        """Deliver one update as Telegram does to a webhook: POST its JSON to ``url`` (by
        default the :attr:`webhook`'s) with ``X-Telegram-Bot-Api-Secret-Token`` when the
        webhook has a secret; returns the HTTP status (0: no answer, e.g. refused).

        ``update_id`` names any update ever queued (one already delivered too: Telegram
        retries an update whose answer it did not get); by default the oldest pending one.
        A 2xx answer confirms the update (it leaves :attr:`pending_updates`). Called without
        the lock held while the request runs, so the receiver may call the fake meanwhile.
        ``ValueError`` when there is no such update, or no URL.
        """
        with self._cond:
            if update_id is None:
                if not self._updates:
                    raise ValueError("no pending update to post")
                update = copy.deepcopy(self._updates[0])
            elif update_id in self._every_update:
                update = copy.deepcopy(self._every_update[update_id])
            else:
                raise ValueError(f"no update {update_id} was ever queued")
            webhook = copy.deepcopy(self._webhook)
        target = url or (webhook or {}).get("url")
        if not target:
            raise ValueError("no webhook is set and no url given")
        headers = {"Content-Type": "application/json"}
        if webhook is not None and webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(webhook["secret_token"])
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        request = Request(target, data=body, headers=headers, method="POST")
        try:
            with urlopen(request, timeout=timeout) as answer:
                status = int(answer.status)
        except HTTPError as exc:
            status = exc.code
        except (URLError, OSError):
            status = 0
        with self._cond:
            if 200 <= status < 300:
                self._updates = deque(u for u in self._updates
                                      if u["update_id"] != update["update_id"])
            self._webhook_deliveries.append(
                {"update_id": update["update_id"], "url": target, "status": status,
                 "at": time.time()}
            )
            self._cond.notify_all()
        return status

    # ------------------------------------------------------------------ recording

    @property
    def webhook(self) -> JsonDict | None:
        """The webhook set by the last ``setWebhook`` (``url``, ``secret_token``,
        ``allowed_updates``, ``max_connections``), ``None`` when none is set."""
        with self._cond:
            return copy.deepcopy(self._webhook)

    @property
    def webhook_deliveries(self) -> list[JsonDict]:
        """Every :meth:`post_to_webhook`, oldest first: ``update_id``, ``url``, ``status``,
        ``at`` (``time.time()``)."""
        with self._cond:
            return copy.deepcopy(self._webhook_deliveries)

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

        Keys: ``chat_id``, ``chat_type``, ``message_id``, ``message_thread_id`` (``None``
        outside any thread) and ``is_topic_message``, ``text`` (as sent, markup included),
        ``plain_text`` and ``entities`` (as Telegram shows them), ``parse_mode``,
        ``reply_markup``, ``disable_web_page_preview`` (the legacy flag or
        ``link_preview_options.is_disabled``), ``link_preview_options``,
        ``reply_to_message_id``, ``disable_notification``, ``allow_paid_broadcast``, ``date``,
        ``deleted`` and, once edited by ``editMessageText``, ``edit_date`` (text fields then
        hold the edit).
        """
        with self._cond:
            return copy.deepcopy(self._sent)

    def messages_to(self, chat_id: int) -> list[JsonDict]:
        """The delivered messages of :attr:`sent` addressed to ``chat_id``."""
        return [m for m in self.sent if m["chat_id"] == chat_id]

    def messages_in(self, chat_id: int, message_thread_id: int | None) -> list[JsonDict]:
        """The messages of :meth:`messages_to` in one thread (``None``: outside any thread, which
        in a forum is the "General" topic)."""
        return [m for m in self.messages_to(chat_id) if m["message_thread_id"] == message_thread_id]

    def wait_for_messages_in(
        self, chat_id: int, message_thread_id: int | None, n: int, timeout: float = 5.0
    ) -> list[JsonDict]:
        """:meth:`wait_for_messages` for one thread of ``chat_id`` (see :meth:`messages_in`)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                delivered = [
                    m
                    for m in self._sent
                    if m["chat_id"] == chat_id and m["message_thread_id"] == message_thread_id
                ]
                if len(delivered) >= n:
                    return copy.deepcopy(delivered)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    texts = [m["text"] for m in delivered]
                    raise TimeoutError(
                        f"{len(delivered)} of {n} messages to chat {chat_id} thread "
                        f"{message_thread_id} in {timeout}s: {texts}"
                    )
                self._cond.wait(remaining)

    def messages_of(self, chat_id: int) -> list[JsonDict]:
        """Every message of the chat's history as Telegram holds it (users', the bot's, service
        messages; deleted ones left out), oldest first (copies)."""
        with self._cond:
            history = self._messages.get(chat_id, {})
            return [copy.deepcopy(history[k]) for k in sorted(history)]

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
        """Every accepted ``editMessageText``: chat_id, message_id, message_thread_id, text,
        parse_mode, etc."""
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

    @property
    def rate_limited(self) -> list[JsonDict]:
        """Every 429 served, oldest first: ``method``, ``chat_id``, ``message_thread_id``,
        ``limit`` (``"chat"``, ``"group"``, ``"global"``, ``"paid"`` or ``"scripted"``),
        ``retry_after`` and ``at`` (``time.time()``)."""
        with self._cond:
            return copy.deepcopy(self._rate_limited)

    @property
    def deleted(self) -> list[JsonDict]:
        """Every deleted message: ``chat_id``, ``message_id``, ``by`` (``"bot"`` for
        ``deleteMessage``, ``"test"`` for :meth:`delete_message`) and the ``message``."""
        with self._cond:
            return copy.deepcopy(self._deleted)

    @property
    def dropped_updates(self) -> list[JsonDict]:
        """Updates a real bot would not get, oldest first: ``update`` and ``reason`` (privacy
        mode, the bot is not in the chat or not an administrator, not in ``allowed_updates``)."""
        with self._cond:
            return copy.deepcopy(self._dropped)

    @property
    def allowed_updates(self) -> list[str] | None:
        """The update types the bot last asked ``getUpdates`` for (``None``: Telegram's default,
        every type but ``chat_member``, ``message_reaction`` and ``message_reaction_count``)."""
        with self._cond:
            return None if self._allowed_updates is None else sorted(self._allowed_updates)

    def member(self, chat_id: int, user_id: int) -> JsonDict | None:
        """The ``ChatMember`` object of a user (or the bot) in a chat, ``None`` if not tracked."""
        with self._cond:
            room = self._rooms.get(chat_id)
            found = room.members.get(user_id) if room is not None else None
            return copy.deepcopy(found)

    def chat(self, chat_id: int) -> JsonDict:
        """The ``Chat`` object of a known chat, plus ``migrated_to`` for an upgraded group and
        ``topics`` (``{thread_id: {"name", "icon_color", "closed", "deleted"}}``) for a forum;
        ``KeyError`` for an unknown chat."""
        with self._cond:
            chat = dict(self._chats[chat_id])
            room = self._rooms.get(chat_id)
            if room is not None and room.migrated_to is not None:
                chat["migrated_to"] = room.migrated_to
            if room is not None and room.chat.get("is_forum"):
                chat["topics"] = {
                    tid: {"name": t.name, "icon_color": t.icon_color, "closed": t.closed,
                          "deleted": t.deleted}
                    for tid, t in room.topics.items()
                }
            return chat

    # ------------------------------------------------------------------ internals

    def _queue_update(self, payload: JsonDict, *, dropped: str | None = None) -> int:
        """Queue an update, or record it in :attr:`dropped_updates` with why the bot would not
        get it (``dropped``, or a type left out of ``allowed_updates``)."""
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **payload}
        kind = next(iter(payload))
        if dropped is None and not self._wanted(kind):
            dropped = f"{kind} is not in allowed_updates"
        if dropped is None:
            self._updates.append(update)
            self._every_update[update_id] = update
        else:
            self._dropped.append({"update": update, "reason": dropped})
        self._cond.notify_all()
        return update_id

    def _wanted(self, kind: str) -> bool:
        if self._allowed_updates is None:
            return kind not in _NOT_BY_DEFAULT
        return kind in self._allowed_updates

    def _user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        name_if_new: str = "Ana",
    ) -> JsonDict:
        """The known user (updated with what is given), or a new one."""
        if user_id == self.bot_id:
            return self._bot_public()
        user = self._users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": False, "first_name": first_name or name_if_new}
            self._users[user_id] = user
        elif first_name is not None:
            user["first_name"] = first_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _bot_public(self) -> JsonDict:
        """The bot as other people see it (a ``User`` without ``getMe``'s extra fields)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_user["first_name"],
            "username": self.bot_user["username"],
        }

    def _room(self, chat_id: int) -> _Room:
        room = self._rooms.get(chat_id)
        if room is None:
            raise ValueError(f"no group, supergroup or channel {chat_id}: call add_chat() first")
        return room

    def _ensure_room(self, chat_id: int) -> _Room:
        """The room of a negative ``chat_id``, made up (bot a plain member) if never seen."""
        room = self._rooms.get(chat_id)
        if room is None:
            chat = self._chat_object(chat_id)
            room = _Room(chat, owner=DEFAULT_OWNER_ID)
            room.members[DEFAULT_OWNER_ID] = _member_json(
                room.kind, self._user(DEFAULT_OWNER_ID, name_if_new="Owner"), "creator"
            )
            room.members[self.bot_id] = _member_json(room.kind, self._bot_public(), "member")
            self._rooms[chat_id] = room
            self._chats[chat_id] = chat
        return room

    def _topic(self, chat_id: int, message_thread_id: int) -> _Topic:
        topic = self._room(chat_id).topics.get(message_thread_id)
        if topic is None:
            raise ValueError(f"no topic {message_thread_id} in chat {chat_id}")
        return topic

    def _new_topic(
        self, chat_id: int, room: _Room, name: str, icon_color: int, author: JsonDict
    ) -> int:
        if self._last_message_id.get(chat_id, 0) == 0:
            self._last_message_id[chat_id] = 1  # message 1 founded the chat; 1 is no topic
        thread_id = self._next_message_id(chat_id)
        message: JsonDict = {
            "message_id": thread_id,
            "from": dict(author),
            "chat": dict(room.chat),
            "date": int(time.time()),
            "message_thread_id": thread_id,
            "is_topic_message": True,
            "forum_topic_created": {"name": name, "icon_color": icon_color},
        }
        room.topics[thread_id] = _Topic(name, icon_color)
        self._messages.setdefault(chat_id, {})[thread_id] = message
        if author.get("id") == self.bot_id:
            self._bot_sent.add((chat_id, thread_id))
        else:
            self._queue_update(
                {"message": copy.deepcopy(message)}, dropped=self._unseen(room, message)
            )
        return thread_id

    def _unseen(self, room: _Room, message: JsonDict) -> str | None:
        """Why the bot would not get this message of ``room`` (``None``: it would)."""
        bot = room.members.get(self.bot_id)
        if bot is None or not _present(bot):
            return "the bot is not in the chat"
        service = "text" not in message and "sticker" not in message
        if room.kind == "channel" or service or not self.privacy_mode:
            return None
        if bot["status"] in ("creator", "administrator"):
            return None
        text = str(message.get("text", ""))
        command = _BOT_COMMAND_RE.match(text)
        me = str(self.bot_user["username"]).lower()
        if command is not None:
            _, at, addressee = command.group().partition("@")
            if not at or addressee.lower() == me:
                return None
        reply = message.get("reply_to_message")
        if (
            isinstance(reply, dict)
            and (room.chat["id"], reply.get("message_id")) in self._bot_sent
            and "forum_topic_created" not in reply
        ):
            return None
        if any(m.group().lower() == f"@{me}" for m in _MENTION_RE.finditer(text)):
            return None
        return "privacy mode: the message is not meant for the bot"

    def _thread_fields(
        self, chat_id: int, room: _Room | None, thread: int | None, reply_to: int | None
    ) -> JsonDict:
        """``message_thread_id``, ``is_topic_message`` and ``reply_to_message`` of a new
        message; :data:`THREAD_NOT_FOUND` for a thread the chat does not have."""
        fields: JsonDict = {}
        history = self._messages.get(chat_id, {})
        original = history.get(reply_to) if reply_to is not None else None
        forum = room is not None and bool(room.chat.get("is_forum"))
        if thread is not None:
            if room is None:
                raise ApiError(400, THREAD_NOT_FOUND)
            if forum:
                topic = room.topics.get(thread)
                if topic is None or topic.deleted:
                    raise ApiError(400, THREAD_NOT_FOUND)
                fields.update(message_thread_id=thread, is_topic_message=True)
                if original is None:
                    fields["reply_to_message"] = self._quoted(chat_id, thread)
            elif room.kind == "supergroup" and thread in history:
                fields["message_thread_id"] = thread  # a thread of replies
            else:
                raise ApiError(400, THREAD_NOT_FOUND)
        elif original is not None and room is not None and room.kind == "supergroup":
            if original.get("is_topic_message"):
                fields["message_thread_id"] = original["message_thread_id"]
                fields["is_topic_message"] = True
            elif not forum:
                fields["message_thread_id"] = original.get("message_thread_id", reply_to)
        if original is not None and reply_to is not None:
            fields["reply_to_message"] = self._quoted(chat_id, reply_to)
        return fields

    def _remove_message(self, chat_id: int, message_id: int, by: str) -> None:
        message = self._messages[chat_id].pop(message_id)
        for record in self._sent:
            if record["chat_id"] == chat_id and record["message_id"] == message_id:
                record["deleted"] = True
        self._deleted.append(
            {"chat_id": chat_id, "message_id": message_id, "by": by, "message": message}
        )
        self._cond.notify_all()

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
        # PTB percent-encodes a download's whole path, the token's ":" included.
        download = _FILE_PATH_RE.fullmatch(unquote(path))
        if download is not None:
            return self._download(http_method, download.group("token"), download.group("path"))
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
        self._wait_if_held(method, params)
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
            scripted = ApiError(
                failure.status, failure.description, failure.retry_after, limit="scripted"
            )
            self._note_too_many(method, params, scripted)
            return _error(scripted)
        if problem is not None:
            return _error(problem)
        try:
            with self._cond:
                result = handler(self, params)
        except ApiError as exc:
            self._note_too_many(method, params, exc)
            return _error(exc)
        return _Response(200, {"ok": True, "result": result})

    def _download(self, http_method: str, token: str, file_path: str) -> _Response | None:
        """Serve a file a ``getFile`` gave a ``file_path`` (recorded as :data:`FILE_DOWNLOAD`):
        its bytes, 401 for another token, 404 for any other path or method than GET, or the
        scripted failure (:meth:`fail_next`)."""
        request = ApiRequest(FILE_DOWNLOAD, {"file_path": file_path}, http_method)
        response: _Response | None
        with self._cond:
            self._requests.append(request)
            failure = self._take_failure(FILE_DOWNLOAD) if token == self.token else None
            file_id = self._file_paths.get(file_path)
            if token != self.token:
                response = _error(ApiError(401, "Unauthorized"))
            elif failure is not None:
                response = None if failure.status == 0 else _error(
                    ApiError(failure.status, failure.description, failure.retry_after))
            elif http_method != "GET" or file_id is None:
                response = _error(ApiError(404, "Not Found"))
            else:
                response = _Response(200, {}, raw=self._files[file_id].content)
            request.status = 0 if response is None else response.status
            self._cond.notify_all()
        return response

    def _note_too_many(self, method: str, params: JsonDict, exc: ApiError) -> None:
        if exc.status != 429:
            return
        with self._cond:
            self._rate_limited.append(
                {
                    "method": method,
                    "chat_id": params.get("chat_id"),
                    "message_thread_id": params.get("message_thread_id"),
                    "limit": exc.limit,
                    "retry_after": exc.retry_after,
                    "at": time.time(),
                }
            )

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

    def _resolve_chat(self, params: JsonDict) -> int:
        """The numeric id of ``chat_id`` (an int or ``"@username"``), or "chat not found"."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            for known_id, chat in self._chats.items():
                if str(chat.get("username", "")).lower() == wanted and known_id < 0:
                    chat_id = known_id
                    break
        if not isinstance(chat_id, int) or chat_id in self._forgotten:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _target_chat(self, params: JsonDict) -> int:
        """The chat the bot writes to (send, edit, delete, chat action), checked as Telegram
        checks it: unknown, blocked, upgraded, the bot kicked or not a member."""
        chat_id = self._resolve_chat(params)
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id > 0 and self.private_needs_start and chat_id not in self._chats:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        if chat_id < 0:
            room = self._ensure_room(chat_id)
            if room.migrated_to is not None:
                raise ApiError(400, MIGRATED, migrate_to_chat_id=room.migrated_to)
            bot = room.members.get(self.bot_id)
            status = bot["status"] if bot is not None else "left"
            if status == "kicked":
                raise ApiError(403, f"Forbidden: bot was kicked from the {room.kind} chat")
            if bot is None or not _present(bot):
                raise ApiError(403, f"Forbidden: bot is not a member of the {room.kind} chat")
        return chat_id

    def _readable_chat(self, params: JsonDict) -> int:
        """A chat the bot may read (``getChat``, ``getChatMember``...): known, and not a
        supergroup or channel the bot was banned from."""
        chat_id = self._resolve_chat(params)
        if chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        room = self._rooms.get(chat_id)
        if room is not None and room.kind != "group":
            bot = room.members.get(self.bot_id)
            if bot is not None and bot["status"] == "kicked":
                raise ApiError(403, f"Forbidden: bot was kicked from the {room.kind} chat")
        return chat_id

    def _bot_rights(self, chat_id: int) -> JsonDict:
        """The bot's ``ChatMember`` in a room (``{}`` elsewhere)."""
        room = self._rooms.get(chat_id)
        found = room.members.get(self.bot_id) if room is not None else None
        return found or {}

    def _check_can_post(self, chat_id: int, thread: int | None) -> None:
        """Rights to post text: a channel needs ``can_post_messages``; a restricted member
        ``can_send_messages``; a closed topic ``can_manage_topics``."""
        room = self._rooms.get(chat_id)
        if room is None:
            return
        bot = self._bot_rights(chat_id)
        status = bot.get("status")
        if room.kind == "channel" and not _can(bot, "can_post_messages"):
            raise ApiError(400, CHANNEL_RIGHTS)
        if status == "restricted" and not bot.get("can_send_messages"):
            raise ApiError(400, NO_TEXT_RIGHTS)
        topic = room.topics.get(thread) if thread is not None else None
        if topic is not None and topic.closed and not _can(bot, "can_manage_topics"):
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")

    def _rate_check(self, chat_id: int, *, paid: bool = False) -> None:
        """Raise 429 if sending to ``chat_id`` now is over a limit; else consume the tokens.

        A private chat has a bucket of 1 refilled at ``per_chat_rate``; a group, supergroup or
        channel one of ``group_limit`` refilled at ``group_limit / group_window``. All chats
        share the global bucket (``global_rate``), or with ``allow_paid_broadcast`` the paid one
        (``paid_global_rate``).
        """
        if not self.enforce_rates:
            return
        now = time.monotonic()
        buckets: list[_Bucket] = []
        wait, limit = 0.0, ""

        def consider(bucket: _Bucket, rate: float, capacity: float, name: str) -> None:
            nonlocal wait, limit
            needed = bucket.wait(rate, capacity, now)
            if needed > wait:
                wait, limit = needed, name
            buckets.append(bucket)

        if chat_id > 0 and self.per_chat_rate > 0:
            bucket = self._chat_buckets.setdefault(chat_id, _Bucket(1.0, now))
            consider(bucket, self.per_chat_rate, 1.0, "chat")
        if chat_id < 0 and self.group_limit > 0 and self.group_window > 0:
            capacity = float(self.group_limit)
            bucket = self._group_buckets.setdefault(chat_id, _Bucket(capacity, now))
            consider(bucket, capacity / self.group_window, capacity, "group")
        rate = self.paid_global_rate if paid else self.global_rate
        if rate > 0:
            capacity = max(1.0, rate)
            if paid:
                if self._paid_bucket is None:
                    self._paid_bucket = _Bucket(capacity, now)
                consider(self._paid_bucket, rate, capacity, "paid")
            else:
                if self._global_bucket is None:
                    self._global_bucket = _Bucket(capacity, now)
                consider(self._global_bucket, rate, capacity, "global")
        if wait > RATE_TOLERANCE:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after, limit=limit
            )
        for bucket in buckets:
            bucket.tokens -= 1.0

    def _editable_message(self, chat_id: int, message_id: int) -> JsonDict:
        """A message the bot may edit: its own, or in a channel where it has
        ``can_edit_messages`` anyone's; a deleted or unknown one is "not found"."""
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise ApiError(400, EDIT_NOT_FOUND)
        if "text" not in message:
            raise ApiError(400, CANT_EDIT)
        bot = self._bot_rights(chat_id)
        room = self._rooms.get(chat_id)
        channel = room is not None and room.kind == "channel"
        if (chat_id, message_id) in self._bot_sent:
            if channel and not (_can(bot, "can_post_messages") or _can(bot, "can_edit_messages")):
                raise ApiError(400, CANT_EDIT)
            return message
        if channel and _can(bot, "can_edit_messages"):
            return message
        raise ApiError(400, CANT_EDIT)

    # -- Bot API methods (called with the lock held)

    def _get_me(self, params: JsonDict) -> Any:
        return dict(self.bot_user)

    def _ok(self, params: JsonDict) -> Any:
        return True

    def _get_webhook_info(self, params: JsonDict) -> Any:
        if self._webhook is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        info: JsonDict = {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
            "max_connections": self._webhook["max_connections"],
        }
        if self._webhook["allowed_updates"] is not None:
            info["allowed_updates"] = list(self._webhook["allowed_updates"])
        return info

    def _delete_webhook(self, params: JsonDict) -> Any:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = None
        return True

    def _set_webhook(self, params: JsonDict) -> Any:
        url = params.get("url")
        if not isinstance(url, str):
            raise ApiError(400, 'Bad Request: parameter "url" is required')
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if url == "":  # an empty URL removes the webhook, as in the real API
            self._webhook = None
            return True
        if urlsplit(url).scheme != "https":
            raise ApiError(400, NO_HTTPS_WEBHOOK)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(a) for a in allowed) or None
        max_connections = params.get("max_connections")
        self._webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "allowed_updates": list(allowed) if isinstance(allowed, list) else None,
            "max_connections": int(max_connections) if max_connections else 40,
        }
        return True

    def _get_updates(self, params: JsonDict) -> Any:
        if self._webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
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
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):  # an empty list restores the default; absent keeps it
            self._allowed_updates = frozenset(str(a) for a in allowed) or None
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
        room = self._rooms.get(chat_id)
        threading_fields = self._thread_fields(
            chat_id, room, params.get("message_thread_id"), reply_to
        )
        thread = threading_fields.get("message_thread_id")
        self._check_can_post(chat_id, thread)
        paid = bool(params.get("allow_paid_broadcast"))
        self._rate_check(chat_id, paid=paid)
        date = int(time.time())
        chat = self._chat_object(chat_id)
        message: JsonDict = {"message_id": self._next_message_id(chat_id)}
        if room is not None and room.kind == "channel":
            message["sender_chat"] = dict(chat)  # channel posts have no "from"
        else:
            message["from"] = dict(self.bot_user)
        message.update({"chat": chat, "date": date, "text": plain})
        if entities:
            message["entities"] = entities
        if isinstance(reply_markup, dict) and "inline_keyboard" in reply_markup:
            message["reply_markup"] = {"inline_keyboard": reply_markup["inline_keyboard"]}
        message.update(threading_fields)
        preview = params.get("link_preview_options")
        if isinstance(preview, dict):
            message["link_preview_options"] = preview
        self._messages.setdefault(chat_id, {})[message["message_id"]] = message
        self._bot_sent.add((chat_id, message["message_id"]))
        legacy = params.get("disable_web_page_preview")
        self._sent.append(
            {
                "chat_id": chat_id,
                "chat_type": chat["type"],
                "message_id": message["message_id"],
                "message_thread_id": thread,
                "is_topic_message": bool(message.get("is_topic_message")),
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
                "allow_paid_broadcast": params.get("allow_paid_broadcast"),
                "date": date,
                "deleted": False,
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
        message = self._editable_message(chat_id, message_id)
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
        self._edits.append(
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "message_thread_id": message.get("message_thread_id"),
                **changes,
            }
        )
        self._cond.notify_all()
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: JsonDict) -> Any:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = self._target_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._editable_message(chat_id, message_id)
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
            {"chat_id": chat_id, "message_id": message_id,
             "message_thread_id": message.get("message_thread_id"), "reply_markup": reply_markup,
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

    def _get_chat(self, params: JsonDict) -> Any:
        chat_id = self._readable_chat(params)
        full: JsonDict = dict(self._chats[chat_id])
        full.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        room = self._rooms.get(chat_id)
        if room is not None and room.kind in ("group", "supergroup"):
            full["permissions"] = {
                name: True
                for name in RESTRICTED_RIGHTS
                if name not in ("can_change_info", "can_pin_messages", "can_edit_tag")
            }
        return full

    def _get_chat_member(self, params: JsonDict) -> Any:
        chat_id = self._readable_chat(params)
        user_id = params.get("user_id")
        if not isinstance(user_id, int) or user_id <= 0:
            raise ApiError(400, "Bad Request: invalid user_id specified")
        room = self._rooms.get(chat_id)
        if room is None:  # a private chat: the user and the bot
            if user_id in (chat_id, self.bot_id):
                return {"status": "member", "user": dict(self._user(user_id))}
            raise ApiError(400, "Bad Request: user not found")
        member = room.members.get(user_id)
        if member is not None:
            return copy.deepcopy(member)
        if user_id in self._users:
            return {"status": "left", "user": dict(self._users[user_id])}
        raise ApiError(400, "Bad Request: user not found")

    def _get_chat_administrators(self, params: JsonDict) -> Any:
        chat_id = self._readable_chat(params)
        room = self._rooms.get(chat_id)
        if room is None:
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        bot = room.members.get(self.bot_id)
        if room.kind == "channel" and (bot is None or bot["status"] != "administrator"):
            raise ApiError(400, "Bad Request: member list is inaccessible")
        return [
            copy.deepcopy(m)
            for m in room.members.values()
            if m["status"] in ("creator", "administrator")
        ]

    def _get_chat_member_count(self, params: JsonDict) -> Any:
        chat_id = self._readable_chat(params)
        room = self._rooms.get(chat_id)
        if room is None:
            return 2
        return sum(1 for m in room.members.values() if _present(m))

    def _leave_chat(self, params: JsonDict) -> Any:
        chat_id = self._resolve_chat(params)
        if chat_id > 0:
            raise ApiError(400, "Bad Request: chat member status can't be changed in private chats")
        chat_id = self._target_chat(params)
        room = self._rooms[chat_id]
        old = room.members.get(self.bot_id) or {"status": "left", "user": self._bot_public()}
        new = _member_json(room.kind, self._bot_public(), "left")
        room.members[self.bot_id] = new
        self._queue_update(
            {
                "my_chat_member": {
                    "chat": dict(room.chat),
                    "from": self._bot_public(),
                    "date": int(time.time()),
                    "old_chat_member": copy.deepcopy(old),
                    "new_chat_member": copy.deepcopy(new),
                }
            }
        )
        return True

    def _delete_message(self, params: JsonDict) -> Any:
        chat_id = self._target_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if message_id not in self._messages.get(chat_id, {}):
            raise ApiError(400, "Bad Request: message to delete not found")
        own = (chat_id, message_id) in self._bot_sent
        if not own and chat_id < 0 and not _can(self._bot_rights(chat_id), "can_delete_messages"):
            raise ApiError(400, "Bad Request: message can't be deleted")
        self._remove_message(chat_id, message_id, "bot")
        return True

    def _create_forum_topic(self, params: JsonDict) -> Any:
        chat_id = self._target_chat(params)
        room = self._rooms.get(chat_id)
        if room is None or not room.chat.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if not _can(self._bot_rights(chat_id), "can_manage_topics"):
            raise ApiError(400, "Bad Request: not enough rights to create a topic")
        name = params.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY")
        color = params.get("icon_color")
        icon_color = color if isinstance(color, int) else _FORUM_ICON_COLOR
        thread_id = self._new_topic(chat_id, room, name, icon_color, self._bot_public())
        self._cond.notify_all()
        return {"message_thread_id": thread_id, "name": name, "icon_color": icon_color}

    def _get_file(self, params: JsonDict) -> Any:
        file_id = params.get("file_id")
        stored = self._files.get(file_id) if isinstance(file_id, str) else None
        if stored is None:
            raise ApiError(400, INVALID_FILE_ID)
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, FILE_TOO_BIG)
        if stored.file_path is None:  # as the Bot API server names what it downloads
            serial = next(self._file_path_serial)
            stored.file_path = f"documents/file_{serial}{stored.extension}"
            self._file_paths[stored.file_path] = stored.file_id
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

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
    "setWebhook": FakeTelegram._set_webhook,
    "getWebhookInfo": FakeTelegram._get_webhook_info,
    "setMyCommands": FakeTelegram._set_my_commands,
    "getMyCommands": FakeTelegram._get_my_commands,
    "deleteMyCommands": FakeTelegram._delete_my_commands,
    "sendMessage": FakeTelegram._send_message,
    "editMessageText": FakeTelegram._edit_message_text,
    "editMessageReplyMarkup": FakeTelegram._edit_message_reply_markup,
    "answerCallbackQuery": FakeTelegram._answer_callback_query,
    "sendChatAction": FakeTelegram._send_chat_action,
    "getChat": FakeTelegram._get_chat,
    "getChatMember": FakeTelegram._get_chat_member,
    "getChatAdministrators": FakeTelegram._get_chat_administrators,
    "getChatMemberCount": FakeTelegram._get_chat_member_count,
    "getChatMembersCount": FakeTelegram._get_chat_member_count,
    "leaveChat": FakeTelegram._leave_chat,
    "deleteMessage": FakeTelegram._delete_message,
    "createForumTopic": FakeTelegram._create_forum_topic,
    "getFile": FakeTelegram._get_file,
    "close": FakeTelegram._ok,
    "logOut": FakeTelegram._ok,
}
_METHOD_NAMES = {name.lower(): name for name in _HANDLERS}


# --------------------------------------------------------------------------- helpers


def _error(exc: ApiError) -> _Response:
    return _Response(exc.status, exc.body())


def _check_chat_id(chat_type: str, chat_id: int) -> None:
    """Telegram's id ranges: basic groups negative, supergroups and channels ``-100...``."""
    if chat_type == "group":
        fits = _MIN_SUPERGROUP_ID < chat_id < 0
    else:
        fits = chat_id <= _MIN_SUPERGROUP_ID
    if not fits:
        raise ValueError(f"{chat_id} is not a {chat_type} id")


def _present(member: JsonDict) -> bool:
    """Whether a ``ChatMember`` is in the chat."""
    status = member.get("status")
    return status in ("creator", "administrator", "member") or (
        status == "restricted" and bool(member.get("is_member"))
    )


def _can(member: JsonDict, right: str) -> bool:
    """Whether a ``ChatMember`` holds an administrator right (the creator holds them all)."""
    status = member.get("status")
    return status == "creator" or (status == "administrator" and bool(member.get(right)))


def _member_json(
    chat_type: str,
    user: JsonDict,
    status: str,
    rights: Mapping[str, bool] | None = None,
    custom_title: str | None = None,
    until_date: int | None = None,
) -> JsonDict:
    """A ``ChatMember`` object of the Bot API, with every field PTB requires."""
    if status not in MEMBER_STATUSES:
        raise ValueError(f"unknown status {status!r}; one of {MEMBER_STATUSES}")
    given = dict(rights or {})
    allowed = {"administrator": ADMIN_RIGHTS, "restricted": (*RESTRICTED_RIGHTS, "is_member")}
    unknown = set(given) - set(allowed.get(status, ()))
    if unknown:
        raise ValueError(f"rights {sorted(unknown)} do not apply to a {status} member")
    member: JsonDict = {"status": status, "user": dict(user)}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        defaults = _CHANNEL_ADMIN_DEFAULTS if chat_type == "channel" else _GROUP_ADMIN_DEFAULTS
        member.update(can_be_edited=False, is_anonymous=False)
        for name in ADMIN_RIGHTS:
            channel_only = name in ("can_post_messages", "can_edit_messages")
            group_only = name in ("can_pin_messages", "can_manage_topics")
            other_kind = channel_only if chat_type != "channel" else group_only
            if name in given or not other_kind:
                member[name] = bool(given.get(name, defaults.get(name, False)))
    elif status == "restricted":
        member["is_member"] = bool(given.pop("is_member", True))
        member.update({name: bool(given.get(name, False)) for name in RESTRICTED_RIGHTS})
        member["until_date"] = until_date or 0
    elif status == "kicked":
        member["until_date"] = until_date or 0
    elif status == "member" and until_date:
        member["until_date"] = until_date
    if custom_title is not None and status in ("creator", "administrator"):
        member["custom_title"] = custom_title
    return member


def _text_entities(text: str, *, mentions: bool) -> list[JsonDict]:
    """The entities Telegram finds in a typed text: a leading ``/command``, ``@mentions``."""
    entities: list[JsonDict] = []
    command = _BOT_COMMAND_RE.match(text)
    if command is not None:
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group())})
    if mentions:
        for match in _MENTION_RE.finditer(text):
            if command is not None and match.start() < command.end():
                continue
            entities.append(
                {
                    "type": "mention",
                    "offset": utf16_len(text[: match.start()]),
                    "length": utf16_len(match.group()),
                }
            )
    return entities


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
            if response.raw is not None:
                payload, content = response.raw, "application/octet-stream"
            else:
                payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
                content = "application/json"
            self.send_response(response.status, _reason(response.status))
            self.send_header("Content-Type", content)
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

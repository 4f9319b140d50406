"""Sending through Telegram: rate limits, retries, and the plain-text fallback.

Telegram allows about one message a second per chat and thirty a second
overall; python-telegram-bot's `AIORateLimiter` covers the global limit only, so
both limits live here. A `RetryAfter` from Telegram is honoured by waiting and
trying again; network errors and 5xx become `RetryLater` (the outbox retries
with backoff); a blocked bot or a deleted chat becomes `Gone`. A message whose
formatting Telegram still rejects is sent again as plain text, and logged.
Digest parts go out with their buttons (`send_buttons`, see `markup`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import BaseRateLimiter

from briefing.render.telegram import LIMIT, parsed_text, telegram_parts
from briefing.service.digests import Digest, Keyboard, Part
from briefing.service.outbox import Gone, Moved, RetryLater
from briefing.store.subscribers import destination

log = logging.getLogger(__name__)
MAX_RETRY_AFTER_WAITS = 3


class RateLimiter:
    """At most `per_chat` messages a second to one chat and `overall` a second in all."""

    def __init__(self, overall: float = 30.0, per_chat: float = 1.0) -> None:
        self.overall_gap = 1.0 / overall
        self.chat_gap = 1.0 / per_chat
        self.next_overall = 0.0
        self.next_chat: dict[str, float] = {}
        self.lock = asyncio.Lock()

    async def wait(self, chat_id: str) -> None:
        """Sleep until a message to `chat_id` respects both limits, then book its slot."""
        async with self.lock:
            now = time.monotonic()
            at = max(now, self.next_overall, self.next_chat.get(chat_id, 0.0))
            self.next_overall = at + self.overall_gap
            self.next_chat[chat_id] = at + self.chat_gap
        if at > now:
            await asyncio.sleep(at - now)


    def penalise(self, seconds: float) -> None:
        """Telegram said to slow down: nothing goes out for `seconds`, whatever the chat."""
        self.next_overall = max(self.next_overall, time.monotonic() + seconds)


PACED_ENDPOINTS = frozenset({"sendMessage", "editMessageText"})


class BotRateLimiter(BaseRateLimiter[None]):
    """Puts every message the bot sends (replies and digests alike) through one limiter."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
        kwargs: dict[str, Any], endpoint: str, data: dict[str, Any], rate_limit_args: None,
    ) -> Any:
        """Wait for a slot before sending; a 429 holds back every later send."""
        if endpoint in PACED_ENDPOINTS and "chat_id" in data:
            await self.limiter.wait(str(data["chat_id"]))
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            self.limiter.penalise(_seconds(exc.retry_after))
            raise


def markup(keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    """A rendered keyboard as Telegram's inline keyboard (None for no buttons)."""
    rows = [[InlineKeyboardButton(b.text, url=b.url) if b.url is not None
             else InlineKeyboardButton(b.text, callback_data=b.data) for b in row]
            for row in keyboard if row]
    return InlineKeyboardMarkup(rows) if rows else None


def plain_text(html_text: str) -> str:
    """What a reader should see when Telegram refuses our HTML."""
    return parsed_text(html_text)


def unchanged(exc: BadRequest) -> bool:
    """Whether Telegram refused an edit because it changes nothing (a button pressed
    twice): the message already shows what was asked, so it is success."""
    return "message is not modified" in str(exc).lower()


async def send_html(bot: Bot, chat_id: str | int, text: str, *, preview: bool = False,
                    reply_to: int | None = None, **kwargs: object) -> Message:
    """Send HTML; if Telegram cannot parse it, send it again as plain text."""
    options = LinkPreviewOptions(is_disabled=not preview)
    try:
        return await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                      link_preview_options=options,
                                      reply_to_message_id=reply_to, **kwargs)  # type: ignore[arg-type]
    except BadRequest as exc:
        if "can't parse entities" not in str(exc).lower():
            raise
        log.warning("Telegram refused the HTML of a message (%s); sending plain text", exc)
        return await bot.send_message(chat_id, plain_text(text), link_preview_options=options,
                                      reply_to_message_id=reply_to, **kwargs)  # type: ignore[arg-type]


class TelegramChannel:
    """The outbox's channel to Telegram readers."""

    name = "telegram"

    def __init__(self, bot: Bot, limiter: RateLimiter | None = None,
                 bot_paced: bool = False, limit: int = LIMIT) -> None:
        """`bot_paced`: the bot already goes through a `BotRateLimiter` (see build_application).
        `limit`: the longest message, as Telegram counts (UTF-16 units of the parsed text)."""
        self.bot = bot
        self.limiter = limiter or RateLimiter()
        self.bot_paced = bot_paced
        self.limit = limit

    def render(self, digest: Digest) -> list[Part]:
        """Telegram HTML messages, split on story boundaries, with their buttons."""
        return telegram_parts(digest, self.limit)

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        """Send one message within the rate limits; RetryAfter is waited out a few times."""
        return await self.send_buttons(chat_id, text, (), key=key)

    async def send_buttons(self, chat_id: str, text: str, keyboard: Keyboard, *,
                           key: str) -> str:
        """`send`, with these buttons under the message; `chat_id` is the target's address
        (`briefing.store.subscribers.address`), so a forum topic's digest goes to its thread."""
        reply_markup = markup(keyboard)
        # `chat_id` is a target's address: a forum topic's says its thread after the chat.
        chat, thread = destination(chat_id)
        for _ in range(MAX_RETRY_AFTER_WAITS):
            if not self.bot_paced:
                await self.limiter.wait(chat)
            try:
                message = await send_html(self.bot, chat, text, reply_markup=reply_markup,
                                          message_thread_id=thread)
                return str(message.message_id)
            except RetryAfter as exc:
                self.limiter.penalise(_seconds(exc.retry_after))
                await asyncio.sleep(_seconds(exc.retry_after))
            except Forbidden as exc:
                raise Gone(str(exc)) from None
            except ChatMigrated as exc:  # the group is a supergroup now: the outbox follows
                raise Moved(str(exc.new_chat_id)) from None
            except BadRequest as exc:
                if "chat not found" in str(exc).lower():
                    raise Gone(str(exc)) from None
                raise
            except (NetworkError, TelegramError) as exc:
                raise RetryLater(str(exc)) from None
        raise RetryLater("Telegram kept asking to slow down", retry_after=5.0)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]

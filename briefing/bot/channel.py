"""Sending through Telegram: rate limits, retries, and the plain-text fallback.

Telegram allows about one message a second per chat and thirty a second
overall; python-telegram-bot's `AIORateLimiter` covers the global limit only, so
both limits live here. Groups, supergroups and channels (negative chat ids) also
take about 20 messages a minute each (`telegram.group_messages_per_minute`); a
forum topic counts against its group. Those are spaced strictly, one every
60 / N seconds (3 s), rather than let through in a burst of 20 then one every
3 s: Telegram does not say how it counts its minute, and a burst that its count
refuses costs a 429 that holds back every send of the bot (`penalise`), the
private digests included; even spacing stays within any reading of "20 a
minute", and costs a digest of k parts 3 (k - 1) s in a group instead of k - 1.
A group's spacing is counted from Telegram's answer to its last message (`answered`),
so that a request slowed on its way never lands closer than that to the next.
With `telegram.allow_paid_broadcast` the outbox's sends carry
`allow_paid_broadcast` and share a lane of `telegram.paid_messages_per_second`
instead of the free 30/s (replies stay free); per-chat limits apply all the same.
A `RetryAfter` from Telegram is honoured by waiting and
trying again; network errors and 5xx become `RetryLater` (the outbox retries
with backoff); a blocked bot or a deleted chat becomes `Gone`. A message whose
formatting Telegram still rejects is sent again as plain text, and logged.
Digest parts go out with their buttons (`send_buttons`, see `markup`).

The limits are the bot's, not a process's: with several workers on one PostgreSQL store,
the limiter books each slot in the store (`SharedPace`, `briefing.store.pace`) instead of
in this process's memory, so that thirty a second, a chat's second and a group's spacing
hold for the fleet together; `RateLimiter.from_settings` picks it when given such a store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
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

from briefing.config import TelegramSettings
from briefing.metrics import TELEGRAM_429
from briefing.render.telegram import LIMIT, parsed_text, telegram_parts
from briefing.service.digests import Digest, Keyboard, Part
from briefing.service.outbox import Gone, Moved, RetryLater
from briefing.store.db import Database
from briefing.store.pace import FREE, PAID, Hold, Lane, Send, Slot, book, chat_lane, hold, prune
from briefing.store.subscribers import destination

log = logging.getLogger(__name__)
MAX_RETRY_AFTER_WAITS = 3
# A chat's row in the shared pace is deleted once its next slot is this far behind (far
# more than two hosts' clocks may differ under NTP); each limiter prunes at most this often.
PRUNE_AFTER = 300.0
PRUNE_EVERY = 60.0
# A shared slot woken up to later than this is booked again (`SharedPace.take`), so that
# as released the fleet's sends stay within 30 in any 0.95 s, whatever a process's stalls
# (the 0.05 s is the jitter the project's fake Bot API lets a send have).
LATE_SLOT = 0.05
MAX_REBOOKINGS = 3


def is_group(chat_id: str) -> bool:
    """Whether a chat id (or a target's address) is a group, supergroup or channel rather
    than a private chat: Telegram gives a private chat its user's id, always positive, and
    the others negative ids (`-100…` for supergroups and channels); `@username` names a
    public channel (or group)."""
    chat, _ = destination(chat_id)
    return chat.startswith(("-", "@"))


class RateLimiter:
    """At most `per_chat` messages a second to one chat, `group_per_minute` a minute to one
    group, supergroup or channel, and `overall` a second in all (`paid_overall` for sends
    that pay for a broadcast, on a lane of their own).

    Every message books a slot, the first time that respects each limit, and sleeps until
    it; a group's slots are strictly `60 / group_per_minute` apart (see the module's
    docstring for why not a burst). `paid_broadcast` says whether the outbox pays for its
    sends (`TelegramChannel` follows it); `from_settings` builds the bot's one limiter.

    Where the slots are booked is the limiter's strategy: in this process (the attributes
    `next_overall`, `next_paid`, `next_chat`, on the monotonic clock), or, with `shared`,
    in the store, where every worker books its own (see `SharedPace`).
    """

    def __init__(self, overall: float = 30.0, per_chat: float = 1.0,
                 group_per_minute: float = 20.0, paid_overall: float = 1000.0,
                 paid_broadcast: bool = False, shared: SharedPace | None = None) -> None:
        """`shared`: book the slots in the store, for every worker on it (see `SharedPace`);
        by default in this process, as a bot alone on its store needs."""
        self.shared = shared
        self.overall_gap = 1.0 / overall
        self.chat_gap = 1.0 / per_chat
        # A group is a chat too: its one-a-second limit holds even if N is set above 60.
        self.group_gap = max(self.chat_gap, 60.0 / group_per_minute)
        self.paid_gap = 1.0 / paid_overall
        self.paid_broadcast = paid_broadcast
        self.next_overall = 0.0
        self.next_paid = 0.0
        self.next_chat: dict[str, float] = {}
        self.group_locks: dict[str, asyncio.Lock] = {}
        self.lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, telegram: TelegramSettings, db: Database | None = None) -> RateLimiter:
        """The limiter the `[telegram]` settings ask for (Telegram's 30/s and 1/s per chat):
        its slots booked in `db` when that store may be shared by several workers
        (PostgreSQL), else in this process (SQLite serves one process; no store given)."""
        shared = SharedPace(db) if db is not None and db.shared else None
        return cls(group_per_minute=telegram.group_messages_per_minute,
                   paid_overall=telegram.paid_messages_per_second,
                   paid_broadcast=telegram.allow_paid_broadcast, shared=shared)

    def gap(self, chat_id: str) -> float:
        """Seconds between two messages to this chat: a group's spacing, or a private chat's."""
        return self.group_gap if is_group(chat_id) else self.chat_gap

    async def wait(self, chat_id: str, *, paid: bool = False) -> None:
        """Sleep until a message to `chat_id` respects every limit, then book its slot.

        `chat_id` may be a target's address: a forum topic is paced as its group, since
        Telegram counts the group's messages whatever their thread. `paid`: the message
        carries `allow_paid_broadcast`, so it goes on the paid lane, not the free 30/s."""
        chat, _ = destination(chat_id)
        if self.shared is not None:
            await self._wait_shared(self.shared, chat, paid)
            return
        if not is_group(chat):
            await self._book(chat, self.chat_gap, paid)
            return
        # A group's 3 s are waited out before the bot-wide lane is booked: booked together,
        # as a private chat's second is, the lane would be pushed 3 s on, and every send of
        # the bot (1,000 private digests) would wait behind each part of a group's digest.
        # One message at a time per group, in order, so that the spacing is from its last;
        # `answered` may move the group's next slot on while this one waits.
        async with self.group_locks.setdefault(chat, asyncio.Lock()):
            while (ready := self.next_chat.get(chat, 0.0) - time.monotonic()) > 0:
                await asyncio.sleep(ready)
            await self._book(chat, self.group_gap, paid)

    def answered(self, chat_id: str) -> None:
        """Telegram has answered a message to `chat_id`: a group's next one waits its whole
        spacing from now. Counted from the slot alone, a request slowed on its way (a busy
        loop, the network) would reach Telegram less than 3 s before the next one."""
        chat, _ = destination(chat_id)
        if self.shared is not None:
            # Shared by several workers, a private chat's second is counted from the answer
            # too: a worker whose loop was busy may send a slot late, and the next part
            # (booked from the slot) would then reach Telegram under a second after it.
            self.shared.hold([Hold(chat_lane(chat), self.shared.clock() + self.gap(chat))])
            return
        if not is_group(chat):
            return
        self.next_chat[chat] = max(self.next_chat.get(chat, 0.0),
                                   time.monotonic() + self.group_gap)

    async def _wait_shared(self, shared: SharedPace, chat: str, paid: bool) -> None:
        """`wait`, with the slot booked in the store: the same lanes, gaps and order."""
        lane = Lane(PAID, self.paid_gap) if paid else Lane(FREE, self.overall_gap)
        if not is_group(chat):
            await shared.take(Send(lane, Lane(chat_lane(chat), self.chat_gap)))
            return
        # As in this process: one message to a group at a time from here, its turn waited
        # out before the lane is booked (`turn_first`), and asked for again if `answered`
        # (here or in another worker) moved it on meanwhile.
        async with self.group_locks.setdefault(chat, asyncio.Lock()):
            await shared.take(Send(lane, Lane(chat_lane(chat), self.group_gap),
                                   turn_first=True))

    async def _book(self, chat: str, gap: float, paid: bool) -> None:
        """Book the first slot free on the lane and for the chat; sleep until it."""
        async with self.lock:
            now = time.monotonic()
            lane = self.next_paid if paid else self.next_overall
            at = max(now, lane, self.next_chat.get(chat, 0.0))
            if paid:
                self.next_paid = at + self.paid_gap
            else:
                self.next_overall = at + self.overall_gap
            self.next_chat[chat] = at + gap
        if at > now:
            await asyncio.sleep(at - now)

    def penalise(self, seconds: float) -> None:
        """Telegram said to slow down: nothing goes out for `seconds`, whatever the chat
        or the lane (a 429 does not say which limit it is about)."""
        if self.shared is not None:
            # Every worker's sends: the lanes are the fleet's.
            until_at = self.shared.clock() + seconds
            self.shared.hold([Hold(FREE, until_at), Hold(PAID, until_at)])
            return
        until = time.monotonic() + seconds
        self.next_overall = max(self.next_overall, until)
        self.next_paid = max(self.next_paid, until)


class SharedPace:
    """The slots of every worker on one store, booked in it (`briefing.store.pace`), so that
    Telegram's limits hold for the fleet together, not for each process.

    A booking is one transaction, run in a thread (`asyncio.to_thread`) while the event
    loop goes on; the sends that ask while one is under way are booked together in the
    next, so that a fan-out's many senders cost a transaction per batch, not per message.
    A hold (a 429's `retry_after`, a group answered late) goes with the next booking.
    Slots are wall-clock times (`time.time`), compared between machines: the workers'
    hosts must keep their clocks in step (NTP); one running ahead would book slots that
    the others see as already past, and send early.
    """

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.asks: list[tuple[Send, asyncio.Future[Slot]]] = []
        self.holds: list[Hold] = []
        self.booker: asyncio.Task[None] | None = None
        self.pruning: asyncio.Task[int] | None = None
        self.pruned_at = clock()
        self.rebooked = 0  # slots given up for being woken too late (see `take`)

    async def take(self, send: Send) -> None:
        """Sleep until `send`'s slot; a chat not free by its lane's next slot (see `Send`)
        is asked for again when it should be.

        A slot this process wakes up to too late (`LATE_SLOT`: its event loop was busy, the
        machine loaded) is given up and a new one booked: sent late, it would go out right
        before the next slots, some other worker's, and Telegram would count more than 30
        in that second. Given up, it leaves a gap that makes up for the wait. After
        `MAX_REBOOKINGS` it goes anyway, so that a process always late still sends."""
        rebooked = 0
        while True:
            slot = await self.ask(send)
            delay = slot.at - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if not slot.booked:
                continue
            if self.clock() - slot.at <= LATE_SLOT or rebooked >= MAX_REBOOKINGS:
                return
            rebooked += 1
            self.rebooked += 1
            send = replace(send, given_up=slot.at)

    async def ask(self, send: Send) -> Slot:
        """Book `send` with the next batch; its slot."""
        future: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        self.asks.append((send, future))
        self._start()
        return await future

    def hold(self, holds: Sequence[Hold]) -> None:
        """Apply `holds` with the next booking, started now if none is under way; outside an
        event loop, at once in this thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            hold(self.db, holds)
            return
        self.holds.extend(holds)
        self._start()

    def _start(self) -> None:
        if self.booker is None or self.booker.done():
            self.booker = asyncio.get_running_loop().create_task(self._book_all())

    async def _book_all(self) -> None:
        """Book what has been asked, batch after batch, until nothing is left."""
        while self.asks or self.holds:
            asks, self.asks = self.asks, []
            holds, self.holds = self.holds, []
            try:
                slots = await asyncio.to_thread(book, self.db, [send for send, _ in asks],
                                                self.clock, holds)
            except Exception as exc:  # the store is down: the sends fail, the outbox retries
                log.warning("could not book %d send(s) in the shared pace: %s", len(asks), exc)
                for _, future in asks:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), slot in zip(asks, slots, strict=True):
                if not future.done():  # its sender may have been cancelled meanwhile
                    future.set_result(slot)
            self._prune_now_and_then()  # here: a busy fan-out may never leave this loop

    def _prune_now_and_then(self) -> None:
        """Delete the chats' rows long past, in the background, once every `PRUNE_EVERY`."""
        now = self.clock()
        if now - self.pruned_at < PRUNE_EVERY or (self.pruning and not self.pruning.done()):
            return
        self.pruned_at = now
        self.pruning = asyncio.get_running_loop().create_task(
            asyncio.to_thread(prune, self.db, now - PRUNE_AFTER))
        self.pruning.add_done_callback(_pruned)


def _pruned(task: asyncio.Task[int]) -> None:
    """Log what a prune did, or why it failed (it is retried at the next)."""
    if task.cancelled():
        return
    if (exc := task.exception()) is not None:
        log.warning("could not prune the shared pace: %s", exc)
        return
    log.debug("pruned %d chat(s) from the shared pace", task.result())


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
        """Wait for a slot before sending (a paid broadcast on the paid lane); a 429 holds
        back every later send."""
        paced = endpoint in PACED_ENDPOINTS and "chat_id" in data
        if paced:
            await self.limiter.wait(str(data["chat_id"]),
                                    paid=bool(data.get("allow_paid_broadcast")))
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            TELEGRAM_429.inc()
            self.limiter.penalise(_seconds(exc.retry_after))
            raise
        finally:
            if paced:
                self.limiter.answered(str(data["chat_id"]))


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
                 bot_paced: bool = False, limit: int = LIMIT,
                 paid_broadcast: bool | None = None) -> None:
        """`bot_paced`: the bot already goes through a `BotRateLimiter` (see build_application).
        `limit`: the longest message, as Telegram counts (UTF-16 units of the parsed text).
        `paid_broadcast`: send with `allow_paid_broadcast` (Stars; see `RateLimiter`); by
        default as the limiter says, so that the bot's one limiter carries the setting."""
        self.bot = bot
        self.limiter = limiter or RateLimiter()
        self.bot_paced = bot_paced
        self.limit = limit
        self.paid_broadcast = (self.limiter.paid_broadcast if paid_broadcast is None
                               else paid_broadcast)

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
        # The flag goes only when paying (None leaves it out): it asks Telegram to charge.
        paid = True if self.paid_broadcast else None
        for _ in range(MAX_RETRY_AFTER_WAITS):
            if not self.bot_paced:
                await self.limiter.wait(chat, paid=self.paid_broadcast)
            try:
                message = await send_html(self.bot, chat, text, reply_markup=reply_markup,
                                          message_thread_id=thread, allow_paid_broadcast=paid)
                return str(message.message_id)
            except RetryAfter as exc:
                if not self.bot_paced:  # else the bot's BotRateLimiter has counted it, and
                    TELEGRAM_429.inc()  # held its limiter (this one) back
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
            finally:
                if not self.bot_paced:  # else the bot's BotRateLimiter has said so
                    self.limiter.answered(chat)
        raise RetryLater("Telegram kept asking to slow down", retry_after=5.0)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]

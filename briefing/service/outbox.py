"""Delivery: the outbox, and what a channel that carries its messages must do.

Each outbox row is one digest for one reader, with a unique key, a state and an
attempt count; it says what to send (the stories, the languages, the reader's day).
At delivery the channel renders it (`Channel.render`: Telegram HTML, plain text...)
and splits it into parts; the parts are sent in order and each is recorded as sent
in its own transaction (`store.deliveries.mark_part`), so a crash repeats at most
the part in flight, and a channel that recognises part keys (like the file channel)
repeats nothing. Through a live channel (Telegram), a live post and an update's reply are
sent at most once: marked as being sent first, and never sent again when a crash left
that mark (`store.deliveries.SENDING`); an edit may go again, as Telegram takes the same
edit twice as one. A row resumed after a failure renders again and goes on after the
parts already sent (see `remaining`). A part with buttons goes out with them through a
channel that can show buttons (`ButtonChannel`); any other channel sends its text alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from briefing.config import Settings
from briefing.metrics import DELIVERIES
from briefing.service.digests import Before, Digest, Keyboard, Part, load_digest, posted_in_channel
from briefing.service.fleet import Fleet
from briefing.service.targets import chat_migrated
from briefing.store.db import Database
from briefing.store.deliveries import (
    LIVE_POST,
    UPDATE,
    Delivery,
    due_deliveries,
    finish_delivery,
    load_delivery,
    mark_edited,
    mark_failure,
    mark_in_doubt,
    mark_part,
    mark_sending,
)
from briefing.store.models import FAILED, PENDING, SENT
from briefing.store.stories import story_history
from briefing.store.subscribers import destination

log = logging.getLogger(__name__)
DELIVERY = "delivery"  # the kind of an outbox row's lease


class RetryLater(Exception):
    """The channel cannot send now; try again after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Gone(Exception):
    """The reader cannot be reached any more (blocked the bot, chat deleted)."""


class PostGone(Exception):
    """The live post an update would edit was deleted: the update goes out on its own."""


class Moved(Exception):
    """The group became a supergroup with a new chat id (Telegram's `migrate_to_chat_id`):
    the part is sent again there, and the chat's targets follow."""

    def __init__(self, new_chat: str) -> None:
        super().__init__(f"the chat moved to {new_chat}")
        self.new_chat = new_chat


class Channel(Protocol):
    """Renders digests and carries their messages to readers."""

    name: str

    def render(self, digest: Digest) -> list[Part]:
        """The digest as this channel's messages, in order, each with the stories it covers."""
        ...

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        """Send one message; returns its id. Raises RetryLater or Gone.

        `key` is the message's idempotency key: the outbox key and the part's index
        (`digest:7:2026-01-15#2`); the same key is only ever used for the same part.
        """
        ...


@runtime_checkable
class LiveChannel(Channel, Protocol):
    """A channel that can change a live post in place, and answer it."""

    async def edit(self, chat_id: str, message_id: str, part: Part) -> None:
        """Turn message `message_id` into `part`; raises PostGone when it was deleted."""
        ...

    async def reply_to(self, chat_id: str, message_id: str, part: Part) -> str:
        """Send `part` as an answer to message `message_id`; returns the new message's id."""
        ...


@runtime_checkable
class ButtonChannel(Channel, Protocol):
    """A channel that can show buttons under a message (Telegram's inline keyboards)."""

    async def send_buttons(self, chat_id: str, text: str, keyboard: Keyboard, *,
                           key: str) -> str:
        """`Channel.send`, with these buttons under the message."""
        ...


async def send_part(channel: Channel, chat_id: str, part: Part, key: str) -> str:
    """Send one part, with its buttons when it has some and the channel shows them."""
    if part.keyboard and isinstance(channel, ButtonChannel):
        return await channel.send_buttons(chat_id, part.text, part.keyboard, key=key)
    return await channel.send(chat_id, part.text, key=key)


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    gone: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Wait before retry number `attempts`: 30 s doubling, capped at one hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def part_key(delivery_key: str, index: int) -> str:
    """The idempotency key of part `index` (from 0) of an outbox row."""
    return f"{delivery_key}#{index}"


def remaining(parts: Sequence[Part], sent_parts: int,
              sent: Sequence[Sequence[int]]) -> list[Part]:
    """The parts of a fresh rendering still to send, when `sent_parts` went out already
    (`sent`: the stories of each, in order, as recorded).

    Rendering the same digest again gives the same parts, so the usual answer is the
    parts after the first `sent_parts`. When the briefs or the renderer changed between
    two attempts, the parts no longer line up: then the parts whose stories were all sent
    already are left out (the digest's header among them) and the others go, so no
    story is dropped and none is repeated unless a message mixes it with a new one.
    """
    if sent_parts == 0:
        return list(parts)
    if len(sent) < sent_parts:  # parts sent before each was recorded: trust the count
        return list(parts[sent_parts:])
    if [tuple(p.stories) for p in parts[:sent_parts]] == [tuple(s) for s in sent]:
        return list(parts[sent_parts:])
    covered = {story for stories in sent for story in stories}
    rest = [p for p in parts if p.stories and not set(p.stories) <= covered]
    log.info("a digest's rendering changed after %d parts; %d parts left by story",
             sent_parts, len(rest))
    return rest


def _failed(db: Database, delivery_id: int, exc: Exception, now: datetime,
            settings: Settings) -> str:
    retry_after = timedelta(seconds=getattr(exc, "retry_after", 0))
    return mark_failure(db, delivery_id, str(exc), now, gone=isinstance(exc, Gone),
                        max_attempts=settings.service.delivery_max_attempts,
                        wait=lambda attempts: max(backoff(attempts), retry_after))


async def send_delivery(db: Database, channel: Channel, delivery_id: int, now: datetime,
                        settings: Settings, report: DeliveryReport) -> None:
    """Render one outbox row for the channel and send the parts it has not sent yet."""
    # The store is asked from a thread: on PostgreSQL each call is a round trip, and the
    # event loop it would block paces every other send of this worker.
    row = await asyncio.to_thread(load_delivery, db, delivery_id)
    # Telegram cannot say whether a post reached it: a live post or reply is sent at most
    # once (see `store.deliveries.SENDING`); the file channel recognises its keys instead.
    at_most_once = row.kind in (LIVE_POST, UPDATE) and isinstance(channel, LiveChannel)
    if at_most_once and row.in_doubt:  # the process died while Telegram had it
        state = mark_in_doubt(db, delivery_id, now)
        log.warning("delivery %s: interrupted mid-send, not sent again (%s)", row.key, state)
        report.failed += state == FAILED
        report.sent += state == SENT
        return
    def read_digest() -> Digest:
        digest = load_digest(db, row.day, row.languages, row.story_ids,
                             shown=settings.service.digest_max_stories, delivery_id=row.id,
                             interface=row.interface,
                             in_channel=posted_in_channel(db, row.chat_id))
        if row.kind in (LIVE_POST, UPDATE):  # one story alone, no digest header
            digest = replace(digest, post=True)
        if row.kind == UPDATE and row.action == "reply":
            digest = replace(digest, before=_before(db, row))
        return digest

    try:
        digest = await asyncio.to_thread(read_digest)
        # Every story withheld or removed since it was queued: a header alone says nothing.
        parts = remaining(channel.render(digest), row.sent_parts, row.sent) if digest.items else []
    except Exception as exc:  # a renderer bug must not block the rest of the outbox
        log.exception("delivery %s: cannot render", row.key)
        report.failed += _failed(db, delivery_id, exc, now, settings) == FAILED
        return
    if not parts:
        report.sent += finish_delivery(db, delivery_id, now) == SENT
        return
    if row.kind == UPDATE and isinstance(channel, LiveChannel) and row.target_message:
        await _send_update(db, channel, row, parts[0], now, settings, report)
        return
    target = row.chat_id
    for offset, part in enumerate(parts):
        index = row.sent_parts + offset
        if at_most_once:
            await asyncio.to_thread(mark_sending, db, delivery_id)
        try:
            try:
                message_id = await send_part(channel, target, part, part_key(row.key, index))
            except Moved as moved:  # once: the new chat is a supergroup, it cannot move again
                chat, _ = destination(target)
                chat_migrated(db, chat, moved.new_chat)
                target = moved.new_chat + target[len(chat):]
                message_id = await send_part(channel, target, part, part_key(row.key, index))
        except Exception as exc:  # every failure is recorded on the row and retried or ended
            state = _failed(db, delivery_id, exc, now, settings)
            log.warning("delivery %s: %s (%s)", row.key, exc, state)
            report.failed += state == FAILED
            report.retried += state == PENDING
            if isinstance(exc, Gone):
                report.gone.append(row.chat_id)
            return
        await asyncio.to_thread(mark_part, db, delivery_id, target, message_id, part.stories,
                                now, last=offset == len(parts) - 1)
    report.sent += 1


def _before(db: Database, row: Delivery) -> Before:
    """What the post an update answers showed: the version of the story's brief before
    this one (its history), sources and points."""
    versions = story_history(db, row.story_ids[0], row.languages[0] if row.languages else "fr")
    older = [v for v in versions if v.story_version < (row.story_version or 0)]
    if not older:
        return Before((), ())
    return Before(older[-1].sources, older[-1].points)


async def _send_update(db: Database, channel: LiveChannel, row: Delivery, part: Part,
                       now: datetime, settings: Settings, report: DeliveryReport) -> None:
    """An update: the post edited in place (the same message; an edit that changes nothing
    is done), or answered; once recorded, never again."""
    assert row.target_message is not None
    try:
        if row.action == "edit":
            try:
                await channel.edit(row.chat_id, row.target_message, part)
                mark_edited(db, row.id, row.target_message, now)
                report.sent += 1
                return
            except PostGone:  # deleted by an admin: what is new goes out on its own
                mark_sending(db, row.id)  # a new message: at most once, unlike the edit
                message_id = await channel.send(row.chat_id, part.text,
                                                key=part_key(row.key, 0))
        else:
            mark_sending(db, row.id)  # a new message: at most once, unlike the edit
            message_id = await channel.reply_to(row.chat_id, row.target_message, part)
    except Exception as exc:  # recorded on the row, retried or ended like any part
        state = _failed(db, row.id, exc, now, settings)
        log.warning("update %s: %s (%s)", row.key, exc, state)
        report.failed += state == FAILED
        report.retried += state == PENDING
        return
    mark_part(db, row.id, row.chat_id, message_id, part.stories, now, last=True)
    report.sent += 1


async def deliver_pending(db: Database, channel: Channel, now: datetime,
                          settings: Settings, fleet: Fleet | None = None) -> DeliveryReport:
    """Send every due outbox row, a few readers at a time, until none is left.

    Rows go out concurrently (`service.delivery_concurrency`): with a real
    network round trip, one send at a time could not reach Telegram's rate; the
    channel's limiter keeps the pace. The parts of one row stay in order. Each row is
    claimed first (`fleet`): workers sharing the store never send the same row.
    """
    report = DeliveryReport()
    fleet = fleet or Fleet(db)
    tried: set[int] = set()
    queue: list[int] = []
    taking = asyncio.Lock()
    concurrency = max(1, settings.service.delivery_concurrency)

    def claim_due() -> list[int]:
        # A few rows per sender at a time, claimed: the workers sharing the store share the
        # outbox, and a row another worker holds (or has just sent) is left to it.
        while due := [i for i in due_deliveries(db, now) if i not in tried]:
            for start in range(0, len(due), concurrency * 2):
                batch = due[start:start + concurrency * 2]
                tried.update(batch)
                if held := fleet.take(DELIVERY, batch):
                    mine = due_deliveries(db, now, among=held)
                    fleet.done(DELIVERY, [i for i in held if i not in mine])
                    if mine:
                        return mine
        return []

    async def take() -> int | None:
        # The next due row, fetched again when the ones at hand are taken: a worker never
        # waits for a whole batch to finish (a group paced at one message in 3 s would
        # otherwise leave the others idle at the end of each batch).
        async with taking:
            if not queue:
                queue.extend(await asyncio.to_thread(claim_due))
            return queue.pop(0) if queue else None

    async def sender() -> None:
        while (delivery_id := await take()) is not None:
            try:
                await send_delivery(db, channel, delivery_id, now, settings, report)
            finally:
                await asyncio.to_thread(fleet.done, DELIVERY, [delivery_id])

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    for result in ("sent", "failed", "retried"):
        DELIVERIES.labels(result=result).inc(getattr(report, result))
    return report

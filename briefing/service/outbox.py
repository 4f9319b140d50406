"""Delivery: the outbox, and the channels that carry its messages.

Each outbox row is one digest (or story) for one reader, with a unique key,
a state and an attempt count. Its parts are sent in order and `sent_parts` is
committed after each one, so a crash repeats at most the part in flight, and a
channel that recognises part keys (like `FileChannel`) repeats nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import or_, select

from briefing.config import Settings
from briefing.service.digests import DigestItem, Part, render_text
from briefing.store.db import Database
from briefing.store.models import (
    DELIVERED,
    FAILED,
    PENDING,
    SENT,
    ArticleRow,
    DeliveryRow,
    SentMessageRow,
    SubscriberRow,
)

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The channel cannot send now; try again after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Gone(Exception):
    """The reader cannot be reached any more (blocked the bot, chat deleted)."""


class Channel(Protocol):
    """Carries rendered messages to readers."""

    name: str

    def render_digest(self, items: list[DigestItem], day: date,
                      languages: tuple[str, ...]) -> list[Part]:
        """A digest as this channel's messages, in order, each with the stories it covers."""
        ...

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        """Send one message; returns its id. Raises RetryLater or Gone."""
        ...


class FileChannel:
    """Appends messages as JSON lines to a file; a part key already written is not repeated."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent: set[str] = set()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                self.sent.add(json.loads(line)["key"])

    def render_digest(self, items: list[DigestItem], day: date,
                      languages: tuple[str, ...]) -> list[Part]:
        """Plain text, one part per story."""
        return render_text(items, day, languages)

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        """Write the message (once per key) and flush it to disk."""
        if key not in self.sent:
            record = {"key": key, "chat_id": chat_id, "text": text}
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
            self.sent.add(key)
        return key


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


def due_deliveries(db: Database, now: datetime, limit: int = 500) -> list[int]:
    """Ids of outbox rows to send now, oldest first."""
    with db.session() as session:
        query = (select(DeliveryRow.id)
                 .where(DeliveryRow.state == PENDING,
                        or_(DeliveryRow.next_attempt_at.is_(None),
                            DeliveryRow.next_attempt_at <= now))
                 .order_by(DeliveryRow.id).limit(limit))
        return list(session.scalars(query))


def _mark_part(db: Database, delivery_id: int, chat_id: str, message_id: str,
               now: datetime) -> None:
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        part = row.payload[row.sent_parts]
        session.add(SentMessageRow(chat_id=chat_id, message_id=message_id, delivery_id=row.id,
                                story_ids=list(part.get("stories", []))))
        row.sent_parts += 1
        row.message_ids = [*row.message_ids, message_id]
        if row.sent_parts >= len(row.payload):
            row.state, row.sent_at = SENT, now
            for article in session.scalars(select(ArticleRow).where(
                    ArticleRow.story_id.in_(row.story_ids))):
                article.state = DELIVERED


def _mark_failure(db: Database, delivery_id: int, exc: Exception, now: datetime,
                  settings: Settings) -> str:
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        row.attempts += 1
        row.last_error = str(exc)[:500]
        if isinstance(exc, Gone):
            session.get_one(SubscriberRow, row.subscriber_id).active = False
            row.state = FAILED
        elif row.attempts >= settings.service.delivery_max_attempts:
            row.state = FAILED
        else:
            wait = max(backoff(row.attempts), timedelta(seconds=getattr(exc, "retry_after", 0)))
            row.next_attempt_at = now + wait
        return row.state


async def send_delivery(db: Database, channel: Channel, delivery_id: int, now: datetime,
                        settings: Settings, report: DeliveryReport) -> None:
    """Send the remaining parts of one outbox row."""
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        chat_id = session.get_one(SubscriberRow, row.subscriber_id).chat_id
        key, parts, start = row.key, list(row.payload), row.sent_parts
    for index in range(start, len(parts)):
        try:
            message_id = await channel.send(chat_id, parts[index]["text"], key=f"{key}#{index}")
        except Exception as exc:  # every failure is recorded on the row and retried or ended
            state = _mark_failure(db, delivery_id, exc, now, settings)
            log.warning("delivery %s: %s (%s)", key, exc, state)
            report.failed += state == FAILED
            report.retried += state == PENDING
            if isinstance(exc, Gone):
                report.gone.append(chat_id)
            return
        _mark_part(db, delivery_id, chat_id, message_id, now)
    report.sent += 1


async def deliver_pending(db: Database, channel: Channel, now: datetime,
                          settings: Settings) -> DeliveryReport:
    """Send every due outbox row, a few readers at a time, until none is left.

    Rows go out concurrently (`service.delivery_concurrency`): with a real
    network round trip, one send at a time could not reach Telegram's rate; the
    channel's limiter keeps the pace. The parts of one row stay in order.
    """
    report = DeliveryReport()
    gate = asyncio.Semaphore(max(1, settings.service.delivery_concurrency))
    tried: set[int] = set()

    async def one(delivery_id: int) -> None:
        async with gate:
            await send_delivery(db, channel, delivery_id, now, settings, report)

    while batch := [i for i in due_deliveries(db, now) if i not in tried]:
        tried.update(batch)
        await asyncio.gather(*(one(i) for i in batch))
    return report

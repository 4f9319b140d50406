"""Queries of the readers aggregate: who gets digests, where, in which languages, when.

The one lookup of a reader by chat id, and the one upsert, used by the CLI, the bot and
the service alike.

What a reader follows is kept in `feeds` (a JSON list), read by the digest selection
(`briefing.store.digests.story_rows`) as it is stored:

- `[]`: every source, feeds added later included (the default, and what older rows hold);
- feed ids, and `FOLDER` for the articles that came from no feed (the watched folder and the
  pages summarised on demand): those sources only;
- `[NOTHING]`: no source at all, kept apart from `[]` so that "none" never reads as "all".

No schema change was needed for "none": neither value can be a feed id (ids start at 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from briefing.store.db import Database
from briefing.store.models import SubscriberRow

# The source "articles from no feed" (folder, on demand) in `Subscriber.feeds`.
FOLDER = 0
# `Subscriber.feeds` of a reader who follows nothing: `(NOTHING,)`.
NOTHING = -1


@dataclass(frozen=True)
class Subscriber:
    """A reader and their settings."""

    id: int
    chat_id: str
    name: str | None
    languages: str  # fr, en or both (briefing.config.READER_LANGUAGES)
    digest_time: str  # HH:MM, local
    timezone: str  # IANA name
    feeds: tuple[int, ...]  # empty: every source; else feed ids and FOLDER, or NOTHING
    active: bool
    last_digest_at: datetime | None
    interface_language: str | None = None  # fr or en, as their Telegram says; None: unknown


def _subscriber(row: SubscriberRow) -> Subscriber:
    return Subscriber(row.id, row.chat_id, row.name, row.languages, row.digest_time,
                      row.timezone, tuple(int(f) for f in row.feeds or ()), row.active,
                      row.last_digest_at, row.interface_language)


def _row(session: Session, chat_id: str) -> SubscriberRow | None:
    return session.scalars(select(SubscriberRow).where(SubscriberRow.chat_id == chat_id)).first()


def find(db: Database, chat_id: str) -> Subscriber | None:
    """The reader of this chat, or None."""
    with db.session() as session:
        row = _row(session, chat_id)
        return _subscriber(row) if row else None


def by_id(db: Database, subscriber_id: int) -> Subscriber | None:
    """The reader with this id, or None."""
    with db.session() as session:
        row = session.get(SubscriberRow, subscriber_id)
        return _subscriber(row) if row else None


def upsert(db: Database, chat_id: str, *, languages: str | None = None,
           digest_time: str | None = None, timezone: str | None = None,
           feeds: tuple[int, ...] | None = None, active: bool | None = None,
           name: str | None = None) -> tuple[Subscriber, bool]:
    """Create the reader of this chat or change the given settings (None: unchanged);
    returns the reader and whether it was created."""
    with db.session() as session:
        row = _row(session, chat_id)
        created = row is None
        if row is None:
            row = SubscriberRow(chat_id=chat_id)
            session.add(row)
        changes = {"languages": languages, "digest_time": digest_time, "timezone": timezone,
                   "active": active, "name": name}
        for key, value in changes.items():
            if value is not None:
                setattr(row, key, value)
        if feeds is not None:
            row.feeds = list(feeds)
        session.flush()
        return _subscriber(row), created


def all_subscribers(db: Database) -> list[Subscriber]:
    """Every reader, in id order."""
    with db.session() as session:
        return [_subscriber(r) for r in session.scalars(select(SubscriberRow)
                                                        .order_by(SubscriberRow.id))]


def active_count(db: Database) -> int:
    """How many readers are active."""
    with db.session() as session:
        return int(session.scalar(select(func.count(SubscriberRow.id))
                                  .where(SubscriberRow.active)) or 0)


def mark_digest(db: Database, chat_id: str, at: datetime) -> None:
    """Remember that the reader of this chat got a digest at `at` (the next covers from
    there)."""
    with db.session() as session:
        row = _row(session, chat_id)
        if row is not None:
            row.last_digest_at = at


def remember_interface(db: Database, chat_id: str, lang: str) -> bool:
    """Keep the language the reader of this chat speaks to the bot in, so a digest sent
    later speaks it too; False when the chat has no reader (yet)."""
    with db.session() as session:
        row = _row(session, chat_id)
        if row is None:
            return False
        if row.interface_language != lang:
            row.interface_language = lang
        return True

"""Queries of the targets aggregate: who gets digests, where, in which languages, when,
with which keyword filters.

A target is anywhere the bot posts: a reader's private chat (what every row was before
migration 0007), a group, a forum topic of a group, or a channel. Its `chat_id` is its
address: the chat id, and for a forum topic `"<chat id>:<thread id>"` (`address`).
The one lookup of a target by address, and the one upsert, used by the CLI, the bot and
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

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from briefing.store.db import Database
from briefing.store.models import SubscriberRow

# The source "articles from no feed" (folder, on demand) in `Subscriber.feeds`.
FOLDER = 0
# `Subscriber.feeds` of a reader who follows nothing: `(NOTHING,)`.
NOTHING = -1


PRIVATE, GROUP, SUPERGROUP, CHANNEL = "private", "group", "supergroup", "channel"
KINDS = (PRIVATE, GROUP, SUPERGROUP, CHANNEL)
DIGEST_ONLY, LIVE = "digest", "live"
SCHEDULES = (DIGEST_ONLY, LIVE)


def address(chat: int | str, thread_id: int = 0) -> str:
    """The address of a target: the chat id, with ":<thread id>" for a forum topic."""
    return f"{chat}:{thread_id}" if thread_id else str(chat)


def destination(target_address: str) -> tuple[str, int | None]:
    """Where an address posts: the Telegram chat id, and the forum topic's thread id (None
    for the chat itself)."""
    chat, _, thread = target_address.partition(":")
    return chat, (int(thread) or None) if thread else None


@dataclass(frozen=True)
class Subscriber:
    """A target (a reader's private chat, a group, a forum topic, a channel) and its
    settings. `chat_id` is its address (see `address`)."""

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
    kind: str = PRIVATE  # one of KINDS
    thread_id: int = 0  # the forum topic posted to; 0: the chat itself
    title: str | None = None  # a group's or a channel's name
    include: tuple[str, ...] = ()  # words and phrases a story must match one of (none: any)
    exclude: tuple[str, ...] = ()  # words and phrases a story must match none of
    schedule: str = "digest"  # "digest" (daily) or "live" (see briefing.service.live)

    @property
    def chat(self) -> str:
        """The Telegram chat id to send to (the address without its topic)."""
        return self.chat_id.split(":", 1)[0] if self.thread_id else self.chat_id


def _subscriber(row: SubscriberRow) -> Subscriber:
    return Subscriber(row.id, row.chat_id, row.name, row.languages, row.digest_time,
                      row.timezone, tuple(int(f) for f in row.feeds or ()), row.active,
                      row.last_digest_at, row.interface_language, row.kind, row.thread_id,
                      row.title, tuple(str(p) for p in row.filters_include or ()),
                      tuple(str(p) for p in row.filters_exclude or ()), row.schedule)


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
           name: str | None = None, kind: str | None = None, title: str | None = None,
           include: tuple[str, ...] | None = None,
           exclude: tuple[str, ...] | None = None,
           schedule: str | None = None) -> tuple[Subscriber, bool]:
    """Create the target at this address or change the given settings (None: unchanged);
    returns the target and whether it was created. A new address with a ":<thread>" part
    is a forum topic."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown target kind {kind!r}")
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}")
    with db.session() as session:
        row = _row(session, chat_id)
        created = row is None
        if row is None:
            thread = chat_id.split(":", 1)[1] if ":" in chat_id else "0"
            row = SubscriberRow(chat_id=chat_id, thread_id=int(thread))
            session.add(row)
        changes = {"languages": languages, "digest_time": digest_time, "timezone": timezone,
                   "active": active, "name": name, "kind": kind, "title": title,
                   "schedule": schedule}
        for key, value in changes.items():
            if value is not None:
                setattr(row, key, value)
        if feeds is not None:
            row.feeds = list(feeds)
        if include is not None:
            row.filters_include = list(include)
        if exclude is not None:
            row.filters_exclude = list(exclude)
        session.flush()
        return _subscriber(row), created


def all_subscribers(db: Database) -> list[Subscriber]:
    """Every reader, in id order."""
    with db.session() as session:
        return [_subscriber(r) for r in session.scalars(select(SubscriberRow)
                                                        .order_by(SubscriberRow.id))]


def active_targets(db: Database, schedule: str | None = None) -> list[Subscriber]:
    """Every active target, in id order; with `schedule`, only those of that schedule
    (`LIVE`: the live targets a cycle posts to). The same targets as `all_subscribers`
    gives, read as plain columns: a digest pass reads every target (100,000 of them), and
    an ORM entity for each cost more than the query."""
    r = SubscriberRow
    # The JSON lists as their text, decoded once per distinct text: targets share a few
    # hundred lists between them, and decoding each row's took most of the read.
    lists = [cast(c, String) for c in (r.feeds, r.filters_include, r.filters_exclude)]
    query = select(r.id, r.chat_id, r.name, r.languages, r.digest_time, r.timezone, r.active,
                   r.last_digest_at, r.interface_language, r.kind, r.thread_id, r.title,
                   r.schedule, *lists).where(r.active)
    if schedule is not None:
        query = query.where(r.schedule == schedule)
    feeds_of: dict[str | None, tuple[int, ...]] = {}
    phrases_of: dict[str | None, tuple[str, ...]] = {}

    def feeds(text: str | None) -> tuple[int, ...]:
        if text not in feeds_of:
            feeds_of[text] = tuple(int(f) for f in (json.loads(text) if text else None) or ())
        return feeds_of[text]

    def phrases(text: str | None) -> tuple[str, ...]:
        if text not in phrases_of:
            phrases_of[text] = tuple(str(p) for p in (json.loads(text) if text else None) or ())
        return phrases_of[text]

    with db.reading() as conn:
        return [Subscriber(id_, chat_id, name, languages, digest_time, timezone, feeds(followed),
                           active, last, interface, kind, thread, title, phrases(include),
                           phrases(exclude), schedule_of)
                for (id_, chat_id, name, languages, digest_time, timezone, active, last,
                     interface, kind, thread, title, schedule_of, followed, include, exclude)
                in conn.execute(query.order_by(r.id))]


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


def _of_chat(session: Session, chat: str) -> list[SubscriberRow]:
    """The targets of one chat: the chat itself and each of its forum topics."""
    query = select(SubscriberRow).where((SubscriberRow.chat_id == chat)
                                        | SubscriberRow.chat_id.startswith(f"{chat}:"))
    return list(session.scalars(query.order_by(SubscriberRow.id)))


def targets_of_chat(db: Database, chat: str) -> list[Subscriber]:
    """The targets of one Telegram chat (the chat, and its topics), in id order."""
    with db.session() as session:
        return [_subscriber(r) for r in _of_chat(session, chat)]


def set_chat_active(db: Database, chat: str, active: bool) -> int:
    """Start or stop deliveries to every target of a chat; how many targets changed."""
    with db.session() as session:
        changed = [r for r in _of_chat(session, chat) if r.active != active]
        for row in changed:
            row.active = active
        return len(changed)


def move_chat(db: Database, old: str, new: str, kind: str) -> int:
    """A group that became a supergroup (`migrate_to_chat_id`): its targets take the new
    chat id, keeping their settings, filters and deliveries; how many moved. A target
    already at the new address (the bot saw the new chat first) is left as it is."""
    with db.session() as session:
        taken = {r.chat_id for r in _of_chat(session, new)}
        moved = 0
        for row in _of_chat(session, old):
            target = new + row.chat_id[len(old):]
            if target not in taken:
                row.chat_id, row.kind = target, kind
                moved += 1
        return moved

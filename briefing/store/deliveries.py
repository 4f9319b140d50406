"""Queries of the outbox: digests queued, their progress part by part, and the messages
sent for them.

A row says what to send (the stories, the reader's languages and local day), never how:
the channel renders it at delivery. Each part sent is recorded in the same transaction as
the row's progress (`mark_part`), with its index: (delivery, part) is unique, so a part is
never counted twice, whoever sends it.

A digest numbers its stories across its messages; what a message is about
(`sent_message`) says the number each of its stories bears there, read from the parts
sent before it: the outbox row's for a digest delivered, and for a digest sent at once
(`/digest`, its parts recorded with their index and no row) the messages recorded just
before it in that chat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

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

SKIPPED = "skipped"  # a due digest with nothing to say: remembered so it is not recomputed
DIGEST = "digest"
# A live post, or an update that answers or replaces one, is a `sendMessage`, which Telegram
# carries out each time it gets it (it has no idempotency key), and which a bot cannot look
# up afterwards (no way to list a channel's messages, no update for its own posts). So such
# a send is at most once: its row says SENDING, committed just before the message is handed
# to Telegram (`mark_sending`), until the answer is recorded (`mark_part`) or the error is
# (`mark_failure`: Telegram refused it, it may go again). A row still saying SENDING was
# being sent when the process died: the message may be out, and its id is lost, so it is
# never sent again (`mark_in_doubt`). An edit needs no mark: the same edit made twice is
# refused by Telegram as "message is not modified", which the channel takes as done.
SENDING = "sending: handed to Telegram, its answer not recorded yet"
IN_DOUBT = ("interrupted while Telegram had it: not sent again, as it may have gone out "
            "(its message id is unknown)")


@dataclass(frozen=True)
class NewDigest:
    """A digest to queue: for whom, for which local day, in which languages, which stories
    (none: the period had nothing new, and the row only records that it was looked at)."""

    subscriber_id: int
    key: str
    day: date
    languages: tuple[str, ...]
    story_ids: tuple[int, ...]


@dataclass(frozen=True)
class Delivery:
    """An outbox row as the sender needs it."""

    id: int
    key: str
    chat_id: str
    day: date
    languages: tuple[str, ...]
    story_ids: tuple[int, ...]
    sent_parts: int
    # The stories of each part already sent, in part order (fewer than `sent_parts` only
    # for parts sent before parts were recorded one by one).
    sent: tuple[tuple[int, ...], ...]
    interface: str | None = None  # the reader's interface language, when known
    kind: str = DIGEST  # DIGEST, or a live target's LIVE_POST / UPDATE
    target_message: str | None = None  # an update: the post it edits or answers
    action: str | None = None  # an update: "edit" or "reply"
    story_version: int | None = None  # a live post or update: the story version it shows
    in_doubt: bool = False  # a send of it was under way when the process died (SENDING)


def digest_keys_since(db: Database, since: datetime) -> set[str]:
    """Keys of the digests queued (or skipped) after `since`."""
    with db.session() as session:
        return set(session.scalars(select(DeliveryRow.key).where(
            DeliveryRow.kind == DIGEST, DeliveryRow.created_at > since)))


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_K = TypeVar("_K", bound=_Keyed)


def _unqueued(session: Session, rows: Sequence[_K]) -> list[_K]:
    """The rows whose outbox key is not queued yet, each key once: an outbox key is sent
    once, whoever queues it again."""
    known = set(session.scalars(select(DeliveryRow.key).where(
        DeliveryRow.key.in_([r.key for r in rows]))))
    fresh = []
    for row in rows:
        if row.key not in known:
            known.add(row.key)
            fresh.append(row)
    return fresh


def queue_digests(db: Database, digests: Sequence[NewDigest], now: datetime) -> int:
    """Queue these digests in one transaction; returns how many have stories to send.

    A reader's `last_digest_at` moves to `now` with the row that covers it, so the next
    digest starts where this one ends. A key already queued is left alone.
    """
    if not digests:
        return 0
    with db.session() as session:
        queued = 0
        for digest in _unqueued(session, digests):
            session.add(DeliveryRow(
                key=digest.key, subscriber_id=digest.subscriber_id, kind=DIGEST,
                day=digest.day, languages=list(digest.languages),
                story_ids=list(digest.story_ids),
                state=PENDING if digest.story_ids else SKIPPED))
            if digest.story_ids:
                session.get_one(SubscriberRow, digest.subscriber_id).last_digest_at = now
                queued += 1
        return queued


def due_deliveries(db: Database, now: datetime, limit: int = 500,
                   among: Sequence[int] | None = None) -> list[int]:
    """Ids of outbox rows to send now, oldest first; with `among`, only those of these ids
    (read again by a worker that has just claimed them: another may have sent one)."""
    with db.session() as session:
        query = (select(DeliveryRow.id)
                 .where(DeliveryRow.state == PENDING,
                        or_(DeliveryRow.next_attempt_at.is_(None),
                            DeliveryRow.next_attempt_at <= now))
                 .order_by(DeliveryRow.id).limit(limit))
        if among is not None:
            query = query.where(DeliveryRow.id.in_(list(among)))
        return list(session.scalars(query))


def load_delivery(db: Database, delivery_id: int) -> Delivery:
    """One outbox row, with the reader's chat and the stories of the parts already sent."""
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        reader = session.get_one(SubscriberRow, row.subscriber_id)
        chat_id = reader.chat_id
        sent = session.scalars(select(SentMessageRow.story_ids)
                               .where(SentMessageRow.delivery_id == delivery_id)
                               .order_by(SentMessageRow.part, SentMessageRow.id)).all()
        return Delivery(row.id, row.key, chat_id, row.day, tuple(row.languages),
                        tuple(int(i) for i in row.story_ids), row.sent_parts,
                        tuple(tuple(int(i) for i in ids) for ids in sent),
                        reader.interface_language, row.kind, row.target_message, row.action,
                        row.story_version, row.last_error == SENDING)


def mark_part(db: Database, delivery_id: int, chat_id: str, message_id: str,
              story_ids: Sequence[int], now: datetime, *, last: bool) -> None:
    """Record one more part as sent, in the transaction that moves the row on; after the
    `last` part the row is sent and its stories' articles are delivered."""
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        session.add(SentMessageRow(chat_id=chat_id, message_id=message_id, delivery_id=row.id,
                                   part=row.sent_parts, story_ids=list(story_ids)))
        row.sent_parts += 1
        row.message_ids = [*row.message_ids, message_id]
        if row.last_error == SENDING:  # answered and recorded: no longer in doubt
            row.last_error = None
        if last:
            _close(session, row, now)


def mark_sending(db: Database, delivery_id: int) -> None:
    """Say, before a message of this row that must not go twice is handed to Telegram, that
    it is being sent (see SENDING); `mark_part` or `mark_failure` then says how it went."""
    with db.session() as session:
        session.get_one(DeliveryRow, delivery_id).last_error = SENDING


def mark_in_doubt(db: Database, delivery_id: int, now: datetime) -> str:
    """Close a row whose send was under way when the process died (see SENDING), without
    sending it again: sent when an earlier part went out, else failed. Returns the state."""
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        row.last_error = IN_DOUBT
        if row.sent_parts:
            _close(session, row, now)
        else:
            row.state = FAILED
        return row.state


def finish_delivery(db: Database, delivery_id: int, now: datetime) -> str:
    """Close a row with nothing (left) to send: sent when some part went out, else skipped
    (its stories were all withheld or removed before it went out). Returns the state."""
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        if row.sent_parts:
            _close(session, row, now)
        else:
            row.state = SKIPPED
        return row.state


def _close(session: Session, row: DeliveryRow, now: datetime) -> None:
    row.state, row.sent_at = SENT, now
    for article in session.scalars(select(ArticleRow).where(
            ArticleRow.story_id.in_(row.story_ids))):
        article.state = DELIVERED


def mark_edited(db: Database, delivery_id: int, message_id: str, now: datetime) -> None:
    """Close an update that edited its post in place: the message is the post's, already
    recorded with its stories, so nothing new is traced."""
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        row.sent_parts, row.message_ids = 1, [message_id]
        _close(session, row, now)


def mark_failure(db: Database, delivery_id: int, error: str, now: datetime, *, gone: bool,
                 max_attempts: int, wait: Callable[[int], timedelta]) -> str:
    """Record a failed attempt; returns the row's state after it.

    `gone`: the reader cannot be reached any more, so the row fails and the reader is
    deactivated. Otherwise the row fails after `max_attempts`, or waits `wait(attempts)`.
    """
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        row.attempts += 1
        row.last_error = error[:500]
        if gone:
            session.get_one(SubscriberRow, row.subscriber_id).active = False
            row.state = FAILED
        elif row.attempts >= max_attempts:
            row.state = FAILED
        else:
            row.next_attempt_at = now + wait(row.attempts)
        return row.state


def record_message(db: Database, chat_id: str, message_id: str,
                   story_ids: Sequence[int], part: int | None = None) -> None:
    """Remember what a message sent outside the outbox is about (a summary, the latest
    stories, an answer, `part` of a digest sent now), so a reply to it can be answered."""
    with db.session() as session:
        session.add(SentMessageRow(chat_id=chat_id, message_id=message_id,
                                   story_ids=list(story_ids), part=part))


@dataclass(frozen=True)
class SentMessage:
    """What a message is about: its stories in order, the number each bears in it (None
    when the parts before it cannot be found), and the languages of the digest it is a
    part of (None: not a digest delivered; the reader's languages)."""

    story_ids: tuple[int, ...]
    numbers: dict[int, int] | None
    languages: tuple[str, ...] | None = None


def sent_message(db: Database, chat_id: str, message_id: str | None) -> SentMessage | None:
    """The message `message_id` of this chat, or the last one with stories sent there when
    it is None; None when it is not known (not ours, or about no story)."""
    with db.session() as session:
        query = select(SentMessageRow).where(SentMessageRow.chat_id == chat_id)
        if message_id is not None:
            query = query.where(SentMessageRow.message_id == message_id)
        rows = session.scalars(query.order_by(SentMessageRow.id.desc()).limit(20)).all()
        row = next((r for r in rows if r.story_ids), None)
        if row is None:
            return None
        ids = tuple(int(i) for i in row.story_ids)
        earlier = _earlier_parts(session, row)
        numbers = None
        if earlier is not None:  # a story cut between two parts keeps its first number
            order = list(dict.fromkeys([*(int(i) for part in earlier for i in part), *ids]))
            numbers = {story: order.index(story) + 1 for story in ids}
        languages = None
        if row.delivery_id is not None:
            languages = tuple(session.get_one(DeliveryRow, row.delivery_id).languages)
        return SentMessage(ids, numbers, languages)


def _earlier_parts(session: Session, row: SentMessageRow) -> list[list[int]] | None:
    """The stories of the parts of the same digest sent before this message, in order ([]
    for a first part or a message of its own; None when they cannot be found)."""
    if not row.part:
        return []
    if row.delivery_id is not None:
        parts = session.scalars(
            select(SentMessageRow.story_ids).where(SentMessageRow.delivery_id == row.delivery_id,
                                                   SentMessageRow.part < row.part)
            .order_by(SentMessageRow.part)).all()
        return [list(ids) for ids in parts] if len(parts) == row.part else None
    # A digest sent now goes out part after part from one handler, and a chat's updates are
    # handled one at a time: its earlier parts are the chat's records just before this one.
    before = session.scalars(
        select(SentMessageRow).where(SentMessageRow.chat_id == row.chat_id,
                                     SentMessageRow.delivery_id.is_(None),
                                     SentMessageRow.id < row.id)
        .order_by(SentMessageRow.id.desc()).limit(row.part)).all()
    if [r.part for r in before] != list(range(row.part - 1, -1, -1)):
        return None
    return [list(r.story_ids) for r in reversed(before)]


def replied_stories(db: Database, chat_id: str, message_id: str | None) -> list[int]:
    """The stories of the message replied to, or of the last message with stories sent to
    this chat when the reply names none."""
    with db.session() as session:
        query = select(SentMessageRow).where(SentMessageRow.chat_id == chat_id)
        if message_id is not None:
            query = query.where(SentMessageRow.message_id == message_id)
        rows = session.scalars(query.order_by(SentMessageRow.id.desc()).limit(20)).all()
        return next(([int(i) for i in r.story_ids] for r in rows if r.story_ids), [])


def recent_story_ids(db: Database, chat_id: str, messages: int = 30) -> list[int]:
    """The stories of the last `messages` messages with stories sent to this chat (digest
    parts, briefs, answers), newest message first, each story once."""
    with db.session() as session:
        rows = session.scalars(
            select(SentMessageRow.story_ids).where(SentMessageRow.chat_id == chat_id)
            .order_by(SentMessageRow.id.desc()).limit(messages)).all()
    seen: dict[int, None] = {}  # insertion-ordered: newest message first, then its order
    for ids in rows:
        for story_id in ids or ():
            seen.setdefault(int(story_id), None)
    return list(seen)


def retell_message(db: Database, chat_id: str, message_id: str,
                   story_ids: Sequence[int]) -> None:
    """Say what a message is about now (a choice between stories became the answer about
    one of them), recording it if it was not."""
    with db.session() as session:
        row = session.scalars(select(SentMessageRow).where(
            SentMessageRow.chat_id == chat_id, SentMessageRow.message_id == message_id)).first()
        if row is None:
            session.add(SentMessageRow(chat_id=chat_id, message_id=message_id,
                                       story_ids=list(story_ids)))
        else:
            row.story_ids = list(story_ids)


def delivery_counts(db: Database, since: datetime) -> tuple[int, int, int]:
    """Deliveries sent since `since`, pending now, and failed (all time)."""
    with db.session() as session:
        def count(*where: object) -> int:
            query = select(func.count(DeliveryRow.id)).where(*where)  # type: ignore[arg-type]
            return int(session.scalar(query) or 0)

        return (count(DeliveryRow.state == SENT, DeliveryRow.sent_at >= since),
                count(DeliveryRow.state == PENDING), count(DeliveryRow.state == FAILED))


LIVE_POST, UPDATE = "live", "update"  # outbox kinds of live targets (briefing.service.live)


@dataclass(frozen=True)
class NewPost:
    """A live post or an update to queue: one story, in the target's languages."""

    subscriber_id: int
    key: str
    kind: str  # LIVE_POST or UPDATE
    day: date
    languages: tuple[str, ...]
    story_id: int
    story_version: int
    target_message: str | None = None  # an update: the post it edits or answers
    action: str | None = None  # an update: "edit" or "reply"


@dataclass(frozen=True)
class Posted:
    """A story posted live to a target: the version it showed last (post or update), the
    post's message and when it went out (None while it has not)."""

    story_id: int
    story_version: int
    message_id: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class LiveState:
    """What a target was posted live: every story, and how many posts in the last hour."""

    posted: dict[int, Posted]
    posts_last_hour: int


def live_state(db: Database, subscriber_id: int, now: datetime,
               since: datetime) -> LiveState:
    """The stories posted live to this target after `since` (with the newest version each
    showed), and its live posts queued in the hour before `now`."""
    # Read every delivery cycle: bounded by `since`, not by the target's whole history (an
    # older post is never posted again anyway: its outbox key is taken).
    with db.session() as session:
        rows = session.scalars(select(DeliveryRow).where(
            DeliveryRow.subscriber_id == subscriber_id,
            DeliveryRow.kind.in_([LIVE_POST, UPDATE]),
            DeliveryRow.created_at > since).order_by(DeliveryRow.id)).all()
        posted: dict[int, Posted] = {}
        recent = 0
        for row in rows:
            story = int(row.story_ids[0])
            if row.kind == LIVE_POST:
                recent += row.created_at > now - timedelta(hours=1)
                message = str(row.message_ids[0]) if row.message_ids else None
                sent_at = row.sent_at if row.state == SENT else None
                posted[story] = Posted(story, row.story_version or 0, message, sent_at)
            elif story in posted:  # an update: the post now shows that version
                first = posted[story]
                posted[story] = Posted(story, max(first.story_version, row.story_version or 0),
                                       first.message_id, first.sent_at)
        return LiveState(posted, recent)


def queue_posts(db: Database, posts: Sequence[NewPost]) -> int:
    """Queue live posts and updates in one transaction (a key already queued is left
    alone); returns how many were queued."""
    if not posts:
        return 0
    with db.session() as session:
        queued = 0
        for post in _unqueued(session, posts):
            session.add(DeliveryRow(
                key=post.key, subscriber_id=post.subscriber_id, kind=post.kind, day=post.day,
                languages=list(post.languages), story_ids=[post.story_id], state=PENDING,
                story_version=post.story_version, target_message=post.target_message,
                action=post.action))
            queued += 1
        return queued


def live_posted_since(db: Database, subscriber_id: int, since: datetime) -> set[int]:
    """The stories posted live to this target after `since`, or on their way (its digest
    leaves them out). A post that failed, or was closed in doubt after a crash (IN_DOUBT:
    it may not have gone out), leaves its story to the digest: a reader may see a story
    twice, never miss it."""
    with db.session() as session:
        return {int(ids[0]) for ids in session.scalars(select(DeliveryRow.story_ids).where(
            DeliveryRow.subscriber_id == subscriber_id, DeliveryRow.kind == LIVE_POST,
            DeliveryRow.state != FAILED, DeliveryRow.created_at > since))}

"""Tables of the store. Every schema change goes through an alembic migration."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from briefing.config import DEFAULT_DIGEST_TIME, DEFAULT_LANGUAGES, DEFAULT_TIMEZONE
from briefing.text.dates import as_utc

# States an article moves through; the service resumes each from where it stopped.
NEW, EXTRACTED, SUMMARISED, DELIVERED = "new", "extracted", "summarised", "delivered"
# States of a delivery in the outbox.
PENDING, SENT, FAILED = "pending", "sent", "failed"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        value = as_utc(value)
        if value is not None and dialect.name == "sqlite":
            return value.replace(tzinfo=None)  # stored as naive UTC text, sorts correctly
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


class Base(DeclarativeBase):
    """Declarative base: one metadata for the app and its migrations."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> datetime:
    from briefing.clock import utcnow

    return utcnow()


class FeedRow(Base):
    """An RSS/Atom feed we poll, with what conditional GET and backoff need."""

    __tablename__ = "feeds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class StoryRow(Base):
    """A cluster of articles about one event; `version` grows when a source joins."""

    __tablename__ = "stories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str | None] = mapped_column(String(1000))
    language: Mapped[str | None] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, default=1)
    summarised_version: Mapped[int] = mapped_column(Integer, default=0)
    first_published: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_published: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    # When the story last got a new brief: digests cover what changed since a reader's last one.
    briefed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the latest brief must not reach readers (no sentence, no point, too few quotes).
    withheld: Mapped[str | None] = mapped_column(Text)
    articles: Mapped[list[ArticleRow]] = relationship(back_populates="story",
                                                      order_by="ArticleRow.id")
    briefs: Mapped[list[BriefRow]] = relationship(back_populates="story")

    __table_args__ = (Index("ix_stories_pending", "summarised_version", "version"),
                      Index("ix_stories_last_published", "last_published"),
                      Index("ix_stories_briefed_at", "briefed_at"))


class ArticleRow(Base):
    """One article, stored once (content hash and canonical URL are unique)."""

    __tablename__ = "articles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str | None] = mapped_column(String(2000), unique=True)
    path: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(1000))
    outlet: Mapped[str | None] = mapped_column(String(300))
    published: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_text: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(10))
    text: Mapped[str | None] = mapped_column(Text)
    teaser: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default=NEW, index=True)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)

    # Digests of readers who follow some feeds check the feeds of recent stories'
    # articles; led by story_id, the plan stays on the recent stories.
    __table_args__ = (Index("ix_articles_story_feed", "story_id", "feed_id"),)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    story: Mapped[StoryRow | None] = relationship(back_populates="articles")


class BriefRow(Base):
    """The checked brief of a story in one language, for one version of the story."""

    __tablename__ = "briefs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"))
    language: Mapped[str] = mapped_column(String(10))
    story_version: Mapped[int] = mapped_column(Integer)
    headline: Mapped[str] = mapped_column(Text)
    points: Mapped[list[Any]] = mapped_column(JSON)
    quotes: Mapped[list[Any]] = mapped_column(JSON)
    # Set when headline and points are not in `language` (an untranslated offline brief).
    original_language: Mapped[str | None] = mapped_column(String(10))
    engine: Mapped[str] = mapped_column(String(30))
    model: Mapped[str | None] = mapped_column(String(200))
    usage: Mapped[dict[str, Any]] = mapped_column(JSON)
    citations: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    story: Mapped[StoryRow] = relationship(back_populates="briefs")

    __table_args__ = (UniqueConstraint("story_id", "language", name="uq_brief_story_language"),)


class BriefHistoryRow(Base):
    """One version of a story's brief in one language, and the sources it stood on
    (migration 0008): how a story grew, for `/story N`."""

    __tablename__ = "brief_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"))
    story_version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(10))
    headline: Mapped[str] = mapped_column(Text)
    points: Mapped[list[Any]] = mapped_column(JSON)  # the points' text
    sources: Mapped[list[Any]] = mapped_column(JSON)  # the sources' names, in article order
    withheld: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)

    __table_args__ = (UniqueConstraint("story_id", "story_version", "language",
                                       name="uq_brief_history_version"),)


class SubscriberRow(Base):
    """A target: where to deliver (a private chat, a group, a forum topic, a channel), in
    which languages, at what local time, with which keyword filters (migration 0007)."""

    __tablename__ = "subscribers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The target's address: the chat id, and ":<thread id>" after it for a forum topic.
    chat_id: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="private", server_default="private")
    thread_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    title: Mapped[str | None] = mapped_column(String(300))
    filters_include: Mapped[list[Any]] = mapped_column(JSON, default=list,
                                                       server_default=text("'[]'"))
    filters_exclude: Mapped[list[Any]] = mapped_column(JSON, default=list,
                                                       server_default=text("'[]'"))
    # "digest" (daily) or "live" (posted once confirmed, then updated): migration 0009.
    schedule: Mapped[str] = mapped_column(String(10), default="digest",
                                          server_default="digest")
    name: Mapped[str | None] = mapped_column(String(300))
    languages: Mapped[str] = mapped_column(String(10), default=DEFAULT_LANGUAGES)
    digest_time: Mapped[str] = mapped_column(String(5), default=DEFAULT_DIGEST_TIME)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    # The reader's Telegram language (fr or en) when last seen: a digest's header and buttons.
    interface_language: Mapped[str | None] = mapped_column(String(10))
    # [] every source; else feed ids and 0 (no feed), or [-1] nothing: store.subscribers
    feeds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class DeliveryRow(Base):
    """The outbox: one row per digest to send, keyed so that it is never sent twice.

    It holds what to send (the stories, the reader's languages, their local day), not the
    rendered text: the channel renders at delivery, so a queued digest shows the briefs and
    the rendering of the moment it goes out. `sent_parts` counts the parts already sent.
    """

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    kind: Mapped[str] = mapped_column(String(20))
    story_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)  # brief languages, in order
    day: Mapped[date] = mapped_column(Date)  # the reader's local date the digest is for
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_parts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    message_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    # Live posts and updates (migration 0009): the story version shown, and for an update
    # the message it edits or answers ("edit" / "reply").
    story_version: Mapped[int | None] = mapped_column(Integer)
    target_message: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str | None] = mapped_column(String(10))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)


class LLMCallRow(Base):
    """Every LLM call: cost accounting, and a cache so a paid answer is never bought twice."""

    __tablename__ = "llm_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(30))
    finish_reason: Mapped[str | None] = mapped_column(String(30))
    content: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class SentMessageRow(Base):
    """A message the bot sent, and the stories it is about: a reply to it is a question.

    A digest's message also names its outbox row and its part there; (delivery, part) is
    unique, so a part is recorded once.
    """

    __tablename__ = "sent_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(100))
    story_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    part: Mapped[int | None] = mapped_column(Integer)  # index in the delivery, from 0
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)

    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_sent_chat_message"),
                      Index("ix_sent_delivery_part", "delivery_id", "part", unique=True),
                      Index("ix_sent_chat_created", "chat_id", "created_at"))


class LeaseRow(Base):
    """A claim on one piece of shared work (a feed to poll, a story to brief, an outbox row,
    the Telegram poller...), held by one worker until it lets go or `expires_at` passes.

    Several `briefing run` processes share one store: each claims what it works on, so that
    no two do the same work, and a worker that dies loses its claims when they expire (its
    heartbeat renews them while it lives)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(300), primary_key=True)  # "feed:12", "story:7"
    holder: Mapped[str] = mapped_column(String(200))  # the worker's id
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_leases_holder", "holder"),)


class WorkerRow(Base):
    """A `briefing run` process, as `briefing status` shows it: seen alive at `seen_at`
    (its heartbeat), gone when `stopped_at` is set or it has not been seen for a while."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class TelegramUpdateRow(Base):
    """A Telegram update already taken in by a worker: an update is handled once, whichever
    worker polls or receives it, and the highest id is the `getUpdates` offset a new poller
    starts from."""

    __tablename__ = "telegram_updates"
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    worker: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SendPaceRow(Base):
    """The next free send slot of a lane (the bot's 30 a second, the paid lane) or of one
    chat, in seconds since the epoch: shared by every worker, so Telegram's limits hold for
    the whole fleet, not for each process."""

    __tablename__ = "send_pace"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # "lane:free", "chat:42"
    next_at: Mapped[float] = mapped_column(Float(precision=53))

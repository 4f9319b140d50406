"""The store on both backends: migrations, constraints, JSON, datetimes, sessions.

Every test taking `db` runs twice: on a SQLite file and on a database of its own
on the throwaway PostgreSQL cluster of the session (see tests/pg.py).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, MetaData, String, delete, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from briefing.config import StoreSettings
from briefing.store.db import MIGRATIONS, Database, open_database
from briefing.store.models import (
    ArticleRow,
    Base,
    BriefRow,
    DeliveryRow,
    FeedRow,
    StoryRow,
    SubscriberRow,
)

TABLES = set(Base.metadata.tables)


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _versions(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return list(connection.scalars(text("SELECT version_num FROM alembic_version")))


def _count(db: Database, model: type[Base]) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _schema_differences(db: Database, metadata: MetaData) -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


# --- Migrations ---------------------------------------------------------------------------


def test_migrations_create_every_table(db: Database) -> None:
    assert TABLES  # the models define tables at all
    tables = set(inspect(db.engine).get_table_names())
    assert tables == TABLES | {"alembic_version"}


def test_alembic_version_is_at_head(db: Database) -> None:
    assert _versions(db) == [_head()]


def test_migrations_are_idempotent(db: Database, store_url: str) -> None:
    with db.session() as session:
        session.add(FeedRow(url="https://example.org/feed.xml"))
    for _ in range(2):  # reopening applies nothing more and keeps the data
        again = open_database(StoreSettings(url=store_url))
        try:
            assert set(inspect(again.engine).get_table_names()) == TABLES | {"alembic_version"}
            assert _versions(again) == [_head()]
            assert _count(again, FeedRow) == 1
        finally:
            again.close()


def test_migrations_match_the_models(db: Database) -> None:
    """A model change without its migration fails here."""
    assert _schema_differences(db, Base.metadata) == []


def test_the_schema_comparison_sees_drift(db: Database) -> None:
    """The comparison above is not blind: a column or index the migrations lack shows up."""
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    feeds = drifted.tables["feeds"]
    feeds.append_column(Column("language", String(10), nullable=True))
    Index("ix_feeds_title", feeds.c.title)
    kinds = {diff[0] for diff in _schema_differences(db, drifted) if isinstance(diff, tuple)}
    assert {"add_column", "add_index"} <= kinds


# --- SQLite settings ----------------------------------------------------------------------


def test_sqlite_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "briefing.db"
    db = open_database(StoreSettings(url=f"sqlite:///{path}"))
    try:
        # Two connections at once: the pragmas hold for every pooled connection, not just one.
        with db.engine.connect() as first, db.engine.connect() as second:
            for connection in (first, second):
                assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
                assert connection.scalar(text("PRAGMA foreign_keys")) == 1
                assert connection.scalar(text("PRAGMA busy_timeout")) == 10000
        with pytest.raises(IntegrityError, match="FOREIGN KEY"), db.session() as session:
            session.add(ArticleRow(content_hash="h", story_id=999))
    finally:
        db.close()
    with sqlite3.connect(path) as raw:  # WAL is recorded in the file itself
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_store_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    db = open_database(StoreSettings(data_dir=str(tmp_path / "data")))
    try:
        assert db.engine.dialect.name == "sqlite"
        assert _versions(db) == [_head()]
    finally:
        db.close()
    assert (tmp_path / "data" / "briefing.db").is_file()


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(ArticleRow(content_hash="h", story_id=12345))
    assert _count(db, ArticleRow) == 0


# --- Uniqueness ---------------------------------------------------------------------------

Ids = dict[str, int]
Factory = Callable[[Ids, str], Base]


def _article_with_hash(_ids: Ids, value: str) -> Base:
    return ArticleRow(content_hash=value, url=None)


def _article_with_url(_ids: Ids, value: str) -> Base:
    return ArticleRow(content_hash=uuid.uuid4().hex, url=value)


def _delivery(ids: Ids, value: str) -> Base:
    return DeliveryRow(key=value, subscriber_id=ids["subscriber"], kind="digest",
                       day=date(2026, 1, 1))


def _brief(ids: Ids, value: str) -> Base:
    return BriefRow(story_id=ids["story"], language=value, story_version=1, headline="h",
                 points=[], quotes=[], engine="extractive", usage={}, citations={})


def _feed(_ids: Ids, value: str) -> Base:
    return FeedRow(url=value)


def _subscriber(_ids: Ids, value: str) -> Base:
    return SubscriberRow(chat_id=value)


UNIQUE_CASES: list[tuple[Factory, str, str]] = [
    (_article_with_hash, "a" * 64, "b" * 64),
    (_article_with_url, "https://example.org/a", "https://example.org/b"),
    (_delivery, "digest:1:2026-01-01", "digest:1:2026-01-02"),
    (_brief, "fr", "en"),  # with the same story: (story_id, language) is unique
    (_feed, "https://example.org/a.xml", "https://example.org/b.xml"),
    (_subscriber, "1001", "1002"),
]
UNIQUE_IDS = ["article content_hash", "article url", "delivery key",
              "brief story+language", "feed url", "subscriber chat_id"]


def _prerequisites(db: Database) -> Ids:
    with db.session() as session:
        story, subscriber = StoryRow(title="s"), SubscriberRow(chat_id="prerequisite")
        session.add_all([story, subscriber])
        session.flush()
        return {"story": story.id, "subscriber": subscriber.id}


@pytest.mark.parametrize(("make", "value", "other"), UNIQUE_CASES, ids=UNIQUE_IDS)
def test_unique_columns_refuse_a_duplicate(
    db: Database, make: Factory, value: str, other: str
) -> None:
    ids = _prerequisites(db)
    model = type(make(ids, value))
    before = _count(db, model)
    for distinct in (value, other):  # rows that differ in the unique value are accepted...
        with db.session() as session:
            session.add(make(ids, distinct))
    with pytest.raises(IntegrityError) as error, db.session() as session:
        session.add(make(ids, value))  # ... and the duplicate is refused,
    assert "unique" in str(error.value.orig).lower()  # for uniqueness, not something else
    assert _count(db, model) == before + 2


def test_articles_without_url_are_not_duplicates(db: Database) -> None:
    with db.session() as session:
        session.add_all([ArticleRow(content_hash="a" * 64), ArticleRow(content_hash="b" * 64)])
    assert _count(db, ArticleRow) == 2


# --- Values round-trip --------------------------------------------------------------------


def test_json_columns_round_trip(db: Database) -> None:
    points = ["L'Assemblée a voté « à l'unanimité » le budget de Noël.", "Ça coûte 3 M€."]
    quotes: list[Any] = [
        {"text": "« Nous irons jusqu'au bout »", "source": "S1", "start": 12, "end": 41},
        {"text": "Ünïcödé — 東京 🙂", "source": "S2", "start": 0, "end": 17},
    ]
    usage: dict[str, Any] = {"prompt_tokens": 1234, "completion_tokens": 56, "calls": 2,
                             "cost": 0.0125, "cached": None, "retried": True,
                             "per_call": [{"prompt_tokens": 1000}, {"prompt_tokens": 234}]}
    citations: dict[str, Any] = {"S1": {"outlet": "Le Monde", "url": "https://example.org/é"}}
    signature: dict[str, Any] = {"minhash": [1, 2, 2**40], "entities": ["Élysée"], "n": 3}
    with db.session() as session:
        story = StoryRow(title="Budget")
        session.add(story)
        session.flush()
        session.add(BriefRow(story_id=story.id, language="fr", story_version=1, headline="Budget",
                          points=points, quotes=quotes, engine="llm", usage=usage,
                          citations=citations))
        session.add(ArticleRow(content_hash="a" * 64, signature=signature, story_id=story.id))
        session.add(SubscriberRow(chat_id="42"))
    with db.session() as session:  # a new session: values come from the database
        brief = session.scalars(select(BriefRow)).one()
        assert (brief.points, brief.quotes) == (points, quotes)
        assert (brief.usage, brief.citations) == (usage, citations)
        assert session.scalars(select(ArticleRow.signature)).one() == signature
        subscriber = session.scalars(select(SubscriberRow)).one()
        assert subscriber.feeds == []  # the list default
        assert (subscriber.languages, subscriber.digest_time) == ("both", "07:30")


UTC_NOON = datetime(2026, 7, 1, 12, 0, 0, 123456, tzinfo=UTC)
INSTANTS = [
    UTC_NOON,
    UTC_NOON.astimezone(timezone(timedelta(hours=2))),  # 14:00+02:00, the same instant
    UTC_NOON.astimezone(timezone(timedelta(hours=-5))),  # 07:00-05:00, the same instant
]


@pytest.mark.parametrize("instant", INSTANTS, ids=["utc", "plus2", "minus5"])
def test_aware_datetimes_round_trip(db: Database, instant: datetime) -> None:
    with db.session() as session:
        session.add(FeedRow(url="https://example.org/f.xml", next_poll_at=instant))
    with db.session() as session:
        feed = session.scalars(select(FeedRow)).one()
        assert feed.next_poll_at is not None
        assert feed.next_poll_at.tzinfo is not None, "came back naive"
        assert feed.next_poll_at == UTC_NOON  # the same instant, microseconds included
        assert feed.next_poll_at.utcoffset() == timedelta(0)  # and in UTC
        assert feed.created_at.tzinfo is not None  # the default (utcnow) too
        assert abs(datetime.now(UTC) - feed.created_at) < timedelta(minutes=5)


def test_datetime_comparisons_in_sql_follow_the_instant(db: Database) -> None:
    """Filters and ordering compare instants, whatever offset the values were given in."""
    plus2, minus5 = timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))
    with db.session() as session:
        session.add_all([
            FeedRow(url="noon", next_poll_at=UTC_NOON),
            FeedRow(url="11:30", next_poll_at=datetime(2026, 7, 1, 13, 30, tzinfo=plus2)),
            FeedRow(url="15:00", next_poll_at=datetime(2026, 7, 1, 10, 0, tzinfo=minus5)),
        ])
    cutoff = datetime(2026, 7, 1, 14, 15, tzinfo=plus2)  # 12:15 UTC
    with db.session() as session:
        ordered = session.scalars(select(FeedRow.url).order_by(FeedRow.next_poll_at)).all()
        due = session.scalars(
            select(FeedRow.url).where(FeedRow.next_poll_at <= cutoff).order_by(FeedRow.next_poll_at)
        ).all()
    assert ordered == ["11:30", "noon", "15:00"]
    assert due == ["11:30", "noon"]


# --- Sessions and deletes -----------------------------------------------------------------


class Boom(Exception):
    """An error raised in the middle of a unit of work."""


def test_session_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(Boom), db.session() as session:
        session.add(FeedRow(url="https://example.org/lost.xml"))
        session.flush()  # the row reached the database inside the transaction
        raise Boom
    assert _count(db, FeedRow) == 0
    with db.session() as session:  # the same URL is free again, and success commits
        session.add(FeedRow(url="https://example.org/lost.xml"))
    with db.session() as session:
        assert session.scalars(select(FeedRow.url)).all() == ["https://example.org/lost.xml"]


def test_deleting_a_feed_keeps_its_articles(db: Database) -> None:
    with db.session() as session:
        feed, other = FeedRow(url="https://example.org/a.xml"), FeedRow(url="https://example.org/b.xml")
        session.add_all([feed, other])
        session.flush()
        session.add_all([ArticleRow(content_hash="a" * 64, feed_id=feed.id),
                         ArticleRow(content_hash="b" * 64, feed_id=other.id)])
        feed_id, other_id = feed.id, other.id
    with db.session() as session:  # in SQL, so the database (ON DELETE SET NULL) does it
        session.execute(delete(FeedRow).where(FeedRow.id == feed_id))
    with db.session() as session:
        rows = session.execute(select(ArticleRow.content_hash, ArticleRow.feed_id)
                               .order_by(ArticleRow.content_hash)).all()
    assert [tuple(row) for row in rows] == [("a" * 64, None), ("b" * 64, other_id)]

"""Targets: subscribers became targets (migration 0007) without losing a setting or a
delivery; a forum topic is a target of its own."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from briefing.store.db import Database, make_engine
from briefing.store.subscribers import CHANNEL, address, find, upsert
from tests.service.test_outbox import migrate

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_migration_0007_keeps_every_reader_and_delivery(store_url: str) -> None:
    migrate(store_url, "0006")
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO subscribers (id, chat_id, name, languages, digest_time, timezone,"
                " feeds, active, created_at, interface_language) VALUES (7, '1001', 'Ana',"
                " 'fr', '06:45', 'Europe/Paris', '[3, 0]', :t, :now, 'fr')"),
                {"t": True, "now": NOW})
            conn.execute(sa.text(
                "INSERT INTO deliveries (id, key, subscriber_id, kind, story_ids, languages,"
                " day, state, attempts, sent_parts, message_ids, created_at) VALUES (1,"
                " 'digest:7:2026-12-02', 7, 'digest', '[1, 2]', '[\"fr\"]', :day,"
                " 'pending', 0, 0, '[]', :now)"), {"day": date(2026, 12, 2), "now": NOW})
    finally:
        engine.dispose()
    migrate(store_url, "head")
    db = Database(make_engine(store_url))
    try:
        ana = find(db, "1001")
        assert ana is not None
        assert (ana.id, ana.name, ana.languages, ana.digest_time, ana.timezone, ana.feeds,
                ana.active, ana.interface_language) == (
            7, "Ana", "fr", "06:45", "Europe/Paris", (3, 0), True, "fr")
        assert (ana.kind, ana.thread_id, ana.chat, ana.include, ana.exclude) == (
            "private", 0, "1001", (), ())
        with db.reading() as conn:
            assert conn.execute(sa.text("SELECT subscriber_id, state FROM deliveries")).all() == [
                (7, "pending")]
    finally:
        db.engine.dispose()
    migrate(store_url, "0006", down=True)
    engine = make_engine(store_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("subscribers")}
        assert not {"kind", "thread_id", "title", "filters_include"} & columns
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT chat_id FROM subscribers")).all() == [("1001",)]
    finally:
        engine.dispose()


def test_two_topics_of_one_group_are_two_targets(db: Database) -> None:
    group = "-1001234567890"
    sport, _ = upsert(db, address(group, 42), kind="supergroup", title="Rédaction")
    economy, created = upsert(db, address(group, 7), kind="supergroup", languages="en")
    assert created and sport.id != economy.id
    assert (sport.chat_id, sport.chat, sport.thread_id) == (f"{group}:42", group, 42)
    assert (economy.chat, economy.thread_id, economy.languages) == (group, 7, "en")
    channel, _ = upsert(db, "-1009876543210", kind=CHANNEL, title="Le Fil")
    assert (channel.chat, channel.thread_id, channel.kind, channel.title) == (
        "-1009876543210", 0, "channel", "Le Fil")
    with pytest.raises(ValueError, match="unknown target kind"):
        upsert(db, "5", kind="forum")


def test_live_state_reads_only_the_posts_after_its_bound(db: Database) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from briefing.store.deliveries import LIVE_POST, NewPost, live_state, queue_posts
    from briefing.store.models import DeliveryRow, StoryRow

    target, _ = upsert(db, "-1007001", kind=CHANNEL)
    with db.session() as session:
        ids = []
        for title in ("ancienne", "récente"):
            story = StoryRow(title=title)
            session.add(story)
            session.flush()
            ids.append(story.id)
    queue_posts(db, [NewPost(target.id, f"live:{target.id}:{i}", LIVE_POST, date(2026, 12, 2),
                             ("fr",), i, 1) for i in ids])
    with db.session() as session:
        old = session.scalars(select(DeliveryRow.id).order_by(DeliveryRow.id)).first()
        session.execute(update(DeliveryRow).where(DeliveryRow.id == old)
                        .values(created_at=NOW - timedelta(days=30)))
    state = live_state(db, target.id, NOW, NOW - timedelta(days=7))
    assert set(state.posted) == {ids[1]}
    assert set(live_state(db, target.id, NOW, NOW - timedelta(days=60)).posted) == set(ids)

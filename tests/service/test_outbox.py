"""The outbox: what to send is queued, the channel renders it at delivery; parts go out in
order, resume after failures and crashes, and are never repeated."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from briefing.config import StoreSettings
from briefing.render.file_channel import FileChannel
from briefing.render.telegram import telegram_parts
from briefing.service.digests import Digest, Part, schedule_digests
from briefing.service.outbox import Gone, Moved, RetryLater, deliver_pending, remaining
from briefing.service.subscribers import subscribe
from briefing.store.db import MIGRATIONS, Database, make_engine, open_database
from briefing.store.deliveries import NewDigest, queue_digests
from briefing.store.models import (
    ArticleRow,
    BriefRow,
    DeliveryRow,
    SentMessageRow,
    StoryRow,
    SubscriberRow,
    UTCDateTime,
)
from tests.conftest import service_settings
from tests.fakes.telegram_html import parse_html, utf16_len
from tests.service.test_digests import add_story

NOW = datetime(2026, 1, 15, 7, 0, tzinfo=UTC)
DAY = date(2026, 1, 15)


class FlakyChannel(FileChannel):
    """A file channel whose sends fail as scripted (our own channel interface)."""

    def __init__(self, path: Path, failures: dict[str, BaseException]) -> None:
        super().__init__(path)
        self.failures = failures
        self.attempts: list[str] = []

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        self.attempts.append(key)
        failure = self.failures.pop(key, None)
        if failure is not None:
            raise failure
        return await super().send(chat_id, text, key=key)


class HtmlFileChannel(FileChannel):
    """The file channel with another renderer: Telegram HTML split at `limit`."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(path)
        self.limit = limit

    def render(self, digest: Digest) -> list[Part]:
        return telegram_parts(digest, self.limit)


class Killed(BaseException):
    """The process dies (nothing in the service catches a BaseException)."""


class DiesAfterSending(FileChannel):
    """Writes the part with this key, then dies before the outbox can record it."""

    def __init__(self, path: Path, fatal: str) -> None:
        super().__init__(path)
        self.fatal = fatal

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        message_id = await super().send(chat_id, text, key=key)
        if key == self.fatal:
            raise Killed(key)
        return message_id


def queue(db: Database, stories: int, chat: str = "42") -> tuple[int, list[int]]:
    """A reader and a pending digest of `stories` stories (header + one part each in the
    file channel); returns the row id and the story ids."""
    sub_id = subscribe(db, chat)[0].id
    ids = [add_story(db, f"story{chat}-{i}", 1, NOW - timedelta(hours=1 + i))
           for i in range(stories)]
    queue_digests(db, [NewDigest(sub_id, f"digest:{sub_id}:{DAY}", DAY, ("fr",), tuple(ids))],
                  NOW)
    with db.session() as session:
        return session.scalars(select(DeliveryRow.id)).all()[-1], ids


def key_of(db: Database, delivery_id: int) -> str:
    with db.session() as session:
        return session.get_one(DeliveryRow, delivery_id).key


def written(path: Path) -> list[str]:
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


def texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def test_parts_are_sent_in_order_and_marked_sent(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    _, ids = queue(db, 2)
    out = tmp_path / "out.jsonl"
    report = asyncio.run(deliver_pending(db, FileChannel(out), NOW, settings))
    assert report.sent == 1
    assert [k.rsplit("#", 1)[1] for k in written(out)] == ["0", "1", "2"]
    assert texts(out)[0] == "Briefing — 2026-01-15" and "story42-0 (fr)" in texts(out)[1]
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        assert (row.state, row.sent_parts, len(row.message_ids)) == ("sent", 3, 3)
        traced = session.scalars(select(SentMessageRow).order_by(SentMessageRow.id)).all()
        assert [(m.chat_id, m.part, m.story_ids) for m in traced] == [
            ("42", 0, []), ("42", 1, [ids[0]]), ("42", 2, [ids[1]])]
        assert set(session.scalars(select(ArticleRow.state))) == {"delivered"}
    assert asyncio.run(deliver_pending(db, FileChannel(out), NOW, settings)).sent == 0


def test_a_failure_mid_way_resumes_at_the_failed_part_without_repeats(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    delivery_id, _ = queue(db, 2)
    out = tmp_path / "out.jsonl"
    key = key_of(db, delivery_id)
    channel = FlakyChannel(out, {f"{key}#1": RetryLater("429", retry_after=120)})
    report = asyncio.run(deliver_pending(db, channel, NOW, settings))
    assert (report.sent, report.retried) == (0, 1)
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        assert row.sent_parts == 1 and row.attempts == 1
        assert row.next_attempt_at == NOW + timedelta(seconds=120)
    early = asyncio.run(deliver_pending(db, channel, NOW + timedelta(seconds=60), settings))
    assert early.sent == 0
    asyncio.run(deliver_pending(db, channel, NOW + timedelta(seconds=121), settings))
    assert written(out) == [f"{key}#0", f"{key}#1", f"{key}#2"]
    assert channel.attempts == [f"{key}#0", f"{key}#1", f"{key}#1", f"{key}#2"]


def test_a_crash_after_part_two_of_three_resumes_at_part_three_and_repeats_nothing(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """Killed after part #1 went out but before the outbox recorded it: the restart renders
    again, resends #1 under the same key (the file channel drops it) and goes on."""
    settings = service_settings(store_url, tmp_path)
    delivery_id, _ = queue(db, 2)
    out = tmp_path / "out.jsonl"
    key = key_of(db, delivery_id)
    with pytest.raises(Killed):
        asyncio.run(deliver_pending(db, DiesAfterSending(out, f"{key}#1"), NOW, settings))
    with db.session() as session:
        assert session.get_one(DeliveryRow, delivery_id).sent_parts == 1
    restarted = FlakyChannel(out, {})
    assert asyncio.run(deliver_pending(db, restarted, NOW, settings)).sent == 1
    assert restarted.attempts == [f"{key}#1", f"{key}#2"]  # part #0 is never sent again
    assert written(out) == [f"{key}#0", f"{key}#1", f"{key}#2"]
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        assert (row.state, row.sent_parts) == ("sent", 3)


def test_a_queued_digest_is_rendered_when_it_goes_out(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """The row holds stories, languages and day, not text: a renderer change and a brief
    changed after queueing both show in what goes out."""
    settings = service_settings(store_url, tmp_path)
    ids = [add_story(db, f"news{i}", 1, NOW - timedelta(hours=2 + i)) for i in range(3)]
    subscribe(db, "42", "07:30", "Europe/Paris", "en")
    assert schedule_digests(db, NOW + timedelta(minutes=35), settings) == 1  # 08:35 in Paris
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        assert (row.story_ids, row.languages, row.day) == (ids, ["en"], DAY)
        assert not hasattr(row, "payload")
        brief = session.scalars(select(BriefRow).where(BriefRow.story_id == ids[0],
                                                       BriefRow.language == "en")).one()
        brief.headline = "news0, summarised again after the digest was queued"
    out = tmp_path / "out.jsonl"
    report = asyncio.run(deliver_pending(db, HtmlFileChannel(out, limit=120), NOW, settings))
    assert report.sent == 1
    sent = texts(out)
    # Telegram HTML, in English, the reader's day written their way.
    assert sent[0].startswith("<b>Your briefing for 15 January</b>")
    assert "news0, summarised again after the digest was queued" in "\n".join(sent)
    assert len(sent) == 4  # the small limit: header and each story apart (4,096 packs them)
    for text in sent:
        plain, _entities = parse_html(text)
        assert utf16_len(plain) <= 120


def test_a_story_withheld_after_queueing_is_left_out_and_an_empty_digest_is_skipped(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    first, ids = queue(db, 2)
    second, others = queue(db, 1, chat="43")
    with db.session() as session:
        for story_id in (ids[0], others[0]):
            session.get_one(StoryRow, story_id).withheld = "fewer than 2 checked quotes"
    out = tmp_path / "out.jsonl"
    assert asyncio.run(deliver_pending(db, FileChannel(out), NOW, settings)).sent == 1
    assert len(texts(out)) == 2 and "story42-1" in texts(out)[1]
    with db.session() as session:
        assert session.get_one(DeliveryRow, first).state == "sent"
        assert session.get_one(DeliveryRow, second).state == "skipped"


def test_a_rendering_that_changed_mid_delivery_resumes_by_story(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """Header and story 1 went out; then story 1 is withheld, so a fresh rendering no longer
    starts like the parts sent: what is left is sent by story, nothing twice or dropped."""
    settings = service_settings(store_url, tmp_path)
    delivery_id, ids = queue(db, 3)
    out = tmp_path / "out.jsonl"
    key = key_of(db, delivery_id)
    channel = FlakyChannel(out, {f"{key}#2": RetryLater("network down")})
    asyncio.run(deliver_pending(db, channel, NOW, settings))
    with db.session() as session:
        session.get_one(StoryRow, ids[0]).withheld = "no point survived the checks"
    asyncio.run(deliver_pending(db, channel, NOW + timedelta(hours=1), settings))
    assert written(out) == [f"{key}#0", f"{key}#1", f"{key}#2", f"{key}#3"]
    assert ["story42-0" in t for t in texts(out)] == [False, True, False, False]
    assert ["story42-2" in t for t in texts(out)] == [False, False, False, True]
    with db.session() as session:
        parts = session.scalars(select(SentMessageRow.story_ids).order_by(SentMessageRow.part))
        assert list(parts) == [[], [ids[0]], [ids[1]], [ids[2]]]


def test_remaining_parts_follow_the_index_or_else_the_stories() -> None:
    parts = [Part("h"), Part("a", (1,)), Part("b", (2,)), Part("c", (3,))]
    assert remaining(parts, 0, []) == parts
    assert remaining(parts, 2, [(), (1,)]) == parts[2:]  # the same rendering: by index
    assert remaining(parts, 2, []) == parts[2:]  # parts sent before they were recorded
    packed = [Part("h"), Part("ab", (1, 2)), Part("c", (3,))]
    assert remaining(packed, 3, [(), (1,), (2,)]) == [packed[2]]  # by story, header not again
    assert remaining(parts, 2, [(), (1, 2)]) == parts[3:]


def test_a_reader_who_is_gone_is_deactivated(db: Database, store_url: str, tmp_path: Path) -> None:
    settings = service_settings(store_url, tmp_path)
    delivery_id, _ = queue(db, 1)
    key = key_of(db, delivery_id)
    channel = FlakyChannel(tmp_path / "out.jsonl", {f"{key}#0": Gone("blocked by the user")})
    report = asyncio.run(deliver_pending(db, channel, NOW, settings))
    assert report.gone == ["42"] and report.failed == 1
    with db.session() as session:
        assert session.get_one(DeliveryRow, delivery_id).state == "failed"
        assert session.scalars(select(SubscriberRow.active)).one() is False


def test_attempts_are_bounded(db: Database, store_url: str, tmp_path: Path) -> None:
    settings = service_settings(store_url, tmp_path, delivery_max_attempts=2)
    delivery_id, _ = queue(db, 1)
    key = key_of(db, delivery_id)
    failures: dict[str, BaseException] = {f"{key}#0": OSError("network down")}
    channel = FlakyChannel(tmp_path / "out.jsonl", failures)
    asyncio.run(deliver_pending(db, channel, NOW, settings))
    failures[f"{key}#0"] = OSError("network still down")
    asyncio.run(deliver_pending(db, channel, NOW + timedelta(hours=2), settings))
    with db.session() as session:
        row = session.get_one(DeliveryRow, delivery_id)
        assert (row.state, row.attempts) == ("failed", 2)
        assert "still down" in (row.last_error or "")


def test_file_channel_never_writes_a_part_twice(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    asyncio.run(FileChannel(out).send("1", "bonjour", key="k#0"))
    asyncio.run(FileChannel(out).send("1", "bonjour", key="k#0"))  # after a restart
    assert written(out) == ["k#0"]


# --- Migration 0005: from rendered parts to what to send ---------------------------------

OLD_DELIVERIES = sa.table(
    "deliveries", sa.column("id", sa.Integer()), sa.column("key", sa.String()),
    sa.column("subscriber_id", sa.Integer()), sa.column("kind", sa.String()),
    sa.column("story_ids", sa.JSON()), sa.column("payload", sa.JSON()),
    sa.column("state", sa.String()), sa.column("attempts", sa.Integer()),
    sa.column("sent_parts", sa.Integer()), sa.column("message_ids", sa.JSON()),
    sa.column("created_at", UTCDateTime()))
OLD_SUBSCRIBERS = sa.table(
    "subscribers", sa.column("id", sa.Integer()), sa.column("chat_id", sa.String()),
    sa.column("languages", sa.String()), sa.column("digest_time", sa.String()),
    sa.column("timezone", sa.String()), sa.column("feeds", sa.JSON()),
    sa.column("active", sa.Boolean()), sa.column("created_at", UTCDateTime()))
OLD_SENT = sa.table(
    "sent_messages", sa.column("chat_id", sa.String()), sa.column("message_id", sa.String()),
    sa.column("story_ids", sa.JSON()), sa.column("delivery_id", sa.Integer()),
    sa.column("created_at", UTCDateTime()))


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_migration_0005_keeps_pending_html_rows_deliverable(
    store_url: str, tmp_path: Path
) -> None:
    """A store at 0004 with a digest rendered at queue time, its header already sent:
    after 0005 the row knows its day and languages, and delivery renders it afresh and goes
    on after the header."""
    migrate(store_url, "0004")
    engine = make_engine(store_url)
    with engine.begin() as connection:
        connection.execute(OLD_SUBSCRIBERS.insert().values(
            id=1, chat_id="42", languages="en", digest_time="07:30", timezone="UTC", feeds=[],
            active=True, created_at=NOW))
        old_html = [{"text": "<b>Your briefing for 15/01</b>", "stories": []},
                    {"text": "<b>1.</b> old one", "stories": [1]},
                    {"text": "<b>2.</b> old two", "stories": [2]}]
        connection.execute(OLD_DELIVERIES.insert().values(
            id=1, key="digest:1:2026-01-15", subscriber_id=1, kind="digest", story_ids=[1, 2],
            payload=old_html, state="pending", attempts=1, sent_parts=1, message_ids=["m0"],
            created_at=NOW))
        connection.execute(OLD_DELIVERIES.insert().values(
            id=2, key="digest:1:2026-01-14", subscriber_id=1, kind="digest", story_ids=[],
            payload=[], state="skipped", attempts=0, sent_parts=0, message_ids=[],
            created_at=NOW - timedelta(days=1)))
        connection.execute(OLD_SENT.insert().values(
            chat_id="42", message_id="m0", story_ids=[], delivery_id=1, created_at=NOW))
    engine.dispose()

    db = open_database(StoreSettings(url=store_url))  # upgrades to head, as the service does
    try:
        with db.session() as session:
            rows = session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)).all()
            assert [(r.day, r.languages, r.state) for r in rows] == [
                (DAY, ["en"], "pending"), (date(2026, 1, 14), ["en"], "skipped")]
            assert session.scalars(select(SentMessageRow.part)).all() == [0]
        assert [add_story(db, f"later{i}", 1, NOW - timedelta(hours=1)) for i in (1, 2)] == [1, 2]
        out = tmp_path / "out.jsonl"
        settings = service_settings(store_url, tmp_path)
        assert asyncio.run(deliver_pending(db, FileChannel(out), NOW, settings)).sent == 1
        assert written(out) == ["digest:1:2026-01-15#1", "digest:1:2026-01-15#2"]
        assert "later1 (en)" in texts(out)[0] and "later2 (en)" in texts(out)[1]
        with db.session() as session:
            assert session.get_one(DeliveryRow, 1).state == "sent"
    finally:
        db.close()


def test_migration_0005_downgrades_with_pending_rows_marked_failed(store_url: str) -> None:
    db = open_database(StoreSettings(url=store_url))
    try:
        queue(db, 1)
    finally:
        db.close()
    migrate(store_url, "0004", down=True)
    engine = make_engine(store_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(sa.select(OLD_DELIVERIES.c.payload, OLD_DELIVERIES.c.state)
                                     ).one()
            assert (row.payload, row.state) == ([], "failed")
            columns = {c["name"] for c in sa.inspect(connection).get_columns("deliveries")}
            assert "day" not in columns and "languages" not in columns
    finally:
        engine.dispose()
    migrate(store_url, "head")  # and back up again


class MovedOnce(FileChannel):
    """A group that became a supergroup: a send to its old id is refused with the new one
    (as Telegram does with `migrate_to_chat_id`), then parts go to the new id."""

    def __init__(self, path: Path, old: str, new: str) -> None:
        super().__init__(path)
        self.old, self.new = old, new

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        if chat_id.split(":")[0] == self.old:
            raise Moved(self.new)
        return await super().send(chat_id, text, key=key)


def test_a_digest_to_a_group_that_moved_follows_it_to_the_new_id(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    from briefing.store.subscribers import find

    settings = service_settings(store_url, tmp_path)
    queue(db, 2, chat="-4001")
    out = tmp_path / "out.jsonl"
    report = asyncio.run(deliver_pending(db, MovedOnce(out, "-4001", "-1004001"), NOW, settings))
    assert report.sent == 1 and report.failed == 0
    assert {json.loads(line)["chat_id"] for line in out.read_text().splitlines()} == {"-1004001"}
    assert find(db, "-4001") is None
    moved = find(db, "-1004001")
    assert moved is not None and moved.kind == "supergroup" and moved.active
    with db.session() as session:
        assert set(session.scalars(select(SentMessageRow.chat_id))) == {"-1004001"}

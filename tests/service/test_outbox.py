"""The outbox: parts sent in order, resumed after failures, never repeated."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from briefing.service.outbox import FileChannel, Gone, RetryLater, deliver_pending
from briefing.service.subscribers import add_subscriber
from briefing.store.db import Database
from briefing.store.models import DeliveryRow, SentMessageRow, SubscriberRow
from tests.conftest import service_settings

NOW = datetime(2026, 1, 15, 7, 0, tzinfo=UTC)


class FlakyChannel(FileChannel):
    """A file channel whose sends fail as scripted (our own channel interface)."""

    def __init__(self, path: Path, failures: dict[str, Exception]) -> None:
        super().__init__(path)
        self.failures = failures
        self.attempts: list[str] = []

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        self.attempts.append(key)
        failure = self.failures.pop(key, None)
        if failure is not None:
            raise failure
        return await super().send(chat_id, text, key=key)


def queue(db: Database, parts: list[str], chat: str = "42") -> int:
    sub_id = add_subscriber(db, chat)
    with db.session() as session:
        row = DeliveryRow(key=f"digest:{sub_id}:2026-01-15", subscriber_id=sub_id, kind="digest",
                       payload=[{"text": p, "stories": [i]} for i, p in enumerate(parts)],
                       story_ids=[])
        session.add(row)
        session.flush()
        return row.id


def written(path: Path) -> list[str]:
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


def test_parts_are_sent_in_order_and_marked_sent(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    queue(db, ["titre", "histoire 1", "histoire 2"])
    out = tmp_path / "out.jsonl"
    report = asyncio.run(deliver_pending(db, FileChannel(out), NOW, settings))
    assert report.sent == 1
    assert [k.rsplit("#", 1)[1] for k in written(out)] == ["0", "1", "2"]
    with db.session() as session:
        row = session.scalars(select(DeliveryRow)).one()
        assert (row.state, row.sent_parts, len(row.message_ids)) == ("sent", 3, 3)
        traced = session.scalars(select(SentMessageRow).order_by(SentMessageRow.id)).all()
        assert [(m.chat_id, m.story_ids) for m in traced] == [("42", [0]), ("42", [1]), ("42", [2])]
    assert asyncio.run(deliver_pending(db, FileChannel(out), NOW, settings)).sent == 0


def test_a_failure_mid_way_resumes_at_the_failed_part_without_repeats(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    delivery_id = queue(db, ["a", "b", "c"])
    out = tmp_path / "out.jsonl"
    with db.session() as session:
        key = session.get_one(DeliveryRow, delivery_id).key
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


def test_a_reader_who_is_gone_is_deactivated(db: Database, store_url: str, tmp_path: Path) -> None:
    settings = service_settings(store_url, tmp_path)
    delivery_id = queue(db, ["a"])
    with db.session() as session:
        key = session.get_one(DeliveryRow, delivery_id).key
    channel = FlakyChannel(tmp_path / "out.jsonl", {f"{key}#0": Gone("blocked by the user")})
    report = asyncio.run(deliver_pending(db, channel, NOW, settings))
    assert report.gone == ["42"] and report.failed == 1
    with db.session() as session:
        assert session.get_one(DeliveryRow, delivery_id).state == "failed"
        assert session.scalars(select(SubscriberRow.active)).one() is False


def test_attempts_are_bounded(db: Database, store_url: str, tmp_path: Path) -> None:
    settings = service_settings(store_url, tmp_path, delivery_max_attempts=2)
    delivery_id = queue(db, ["a"])
    with db.session() as session:
        key = session.get_one(DeliveryRow, delivery_id).key
    failures: dict[str, Exception] = {f"{key}#0": OSError("network down")}
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

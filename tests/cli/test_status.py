"""`briefing status`: the fleet on one screen, and as JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from briefing.config import StoreSettings
from briefing.store.db import open_database
from briefing.store.deliveries import NewDigest, queue_digests
from briefing.store.feeds import add_feed
from briefing.store.leases import claim, worker_seen
from briefing.store.subscribers import upsert
from tests.conftest import invoke


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    monkeypatch.setenv("BRIEFING_DB_URL", url)
    return url


def fill(url: str) -> None:
    """Two workers, one holding three feeds, one gone quiet; a holder without a heartbeat
    (a one-off command) holding a story; two feeds, none polled yet; two digests queued."""
    now = datetime.now(UTC)
    db = open_database(StoreSettings(url=url))
    try:
        worker_seen(db, "newsroom-1:41:ab12", "newsroom-1", 41, now)
        worker_seen(db, "newsroom-2:42:cd34", "newsroom-2", 42, now - timedelta(hours=1))
        claim(db, ["feed:1", "feed:2", "feed:3"], "newsroom-1:41:ab12", now,
              timedelta(seconds=60))
        claim(db, ["story:9"], "laptop:77:ef56", now, timedelta(seconds=60))
        add_feed(db, "https://example.org/a.xml", None)
        add_feed(db, "https://example.org/b.xml", None)
        readers = [upsert(db, chat)[0] for chat in ("100", "200")]
        queue_digests(db, [NewDigest(r.id, f"digest:{r.id}", date(2026, 12, 3), ("fr",),
                                     (1,)) for r in readers], now)
    finally:
        db.close()


def test_the_screen_names_the_workers_and_what_they_hold(store: str) -> None:
    fill(store)
    result = invoke("status")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "Workers: 1 alive" in out
    assert "newsroom-1:41:ab12" in result.stdout and "newsroom-2:42:cd34" in result.stdout
    assert "3 feed" in out and "gone quiet" in out
    assert "laptop:77:ef56" in out and "no heartbeat" in out and "1 story" in out
    assert "Feeds: 2 active, 2 due now, 0 failing" in out
    assert "Outbox: 2 waiting, 2 due now" in out and "0 given up" in out


def test_json_has_the_numbers(store: str) -> None:
    fill(store)
    result = invoke("status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    workers = {w["id"]: w for w in data["workers"]}
    assert workers["newsroom-1:41:ab12"]["holds"] == {"feed": 3}
    assert workers["newsroom-1:41:ab12"]["alive"] is True
    assert workers["newsroom-2:42:cd34"]["alive"] is False
    assert data["other_holders"] == [{"id": "laptop:77:ef56", "holds": {"story": 1}}]
    assert data["feeds"] == {"active": 2, "due": 2, "failing": 0}
    assert data["stories_pending"] == 0
    outbox = data["outbox"]
    assert (outbox["depth"], outbox["due"], outbox["failed"]) == (2, 2, 0)
    assert 0 <= outbox["oldest_due_seconds"] < 60  # queued just before the command ran
    datetime.fromisoformat(data["at"])


def test_an_empty_store_works(store: str) -> None:
    open_database(StoreSettings(url=store)).close()
    result = invoke("status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workers"] == [] and data["other_holders"] == [] and data["last_errors"] == []
    assert data["outbox"] == {"depth": 0, "due": 0, "oldest_due_seconds": 0.0, "failed": 0}
    screen = invoke("status")
    assert screen.exit_code == 0, screen.output
    assert "Workers: 0 alive" in screen.stdout and "Last errors" not in screen.stdout


def test_an_unreachable_store_is_one_line_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFING_DB_URL", "postgresql+psycopg://u:secret@127.0.0.1:1/x")
    result = invoke("status")
    assert result.exit_code == 3
    assert "secret" not in result.output and "cannot open the store" in result.output


def test_a_store_never_migrated_says_what_to_do(store: str) -> None:
    result = invoke("status")
    assert result.exit_code == 3
    assert "briefing db upgrade" in result.stderr and "Traceback" not in result.output

"""The watched folder: new files become articles once, bad files are reported, not stored."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from sqlalchemy import func, select

from briefing.service.folder import FolderWatcher
from briefing.store.db import Database
from briefing.store.models import ArticleRow, StoryRow
from tests.conftest import SEEDS


def counts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        return (session.scalar(select(func.count(ArticleRow.id))) or 0,
                session.scalar(select(func.count(StoryRow.id))) or 0)


def settle(path: Path) -> None:
    past = time.time() - 60
    os.utime(path, (past, past))


def copy_seeds(folder: Path) -> None:
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
        settle(folder / seed.name)


def test_seeds_become_two_articles_of_one_story(db: Database, tmp_path: Path) -> None:
    copy_seeds(tmp_path)
    report = FolderWatcher(tmp_path).ingest(db)
    assert (report.stored, report.duplicates, report.rejected) == (2, 0, [])
    assert counts(db) == (2, 1)
    with db.session() as session:
        second = session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()[1]
        assert second.published_text == "2020-02" and second.state == "extracted"
        assert "Mark Esper" in (second.text or "")


def test_nothing_is_stored_twice_across_passes_and_restarts(db: Database, tmp_path: Path) -> None:
    copy_seeds(tmp_path)
    watcher = FolderWatcher(tmp_path)
    watcher.ingest(db)
    again = watcher.ingest(db)
    assert (again.stored, again.duplicates) == (0, 0)  # unchanged files are not even read
    restarted = FolderWatcher(tmp_path).ingest(db)
    assert (restarted.stored, restarted.duplicates) == (0, 2)
    shutil.copy(SEEDS[0], tmp_path / "copy-of-seed.txt")
    settle(tmp_path / "copy-of-seed.txt")
    assert FolderWatcher(tmp_path).ingest(db).duplicates == 3
    assert counts(db) == (2, 1)


def test_bad_files_are_reported_and_skipped_until_they_change(
    db: Database, tmp_path: Path
) -> None:
    empty, binary = tmp_path / "empty.txt", tmp_path / "photo.html"
    empty.write_text("   \n")
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for path in (empty, binary):
        settle(path)
    watcher = FolderWatcher(tmp_path)
    report = watcher.ingest(db)
    assert len(report.rejected) == 2 and report.stored == 0
    assert "empty" in report.rejected[0] or "empty" in report.rejected[1]
    assert watcher.ingest(db).rejected == []  # reported once
    empty.write_text(SEEDS[0].read_text(encoding="utf-8"))
    settle(empty)
    assert watcher.ingest(db).stored == 1
    assert counts(db) == (1, 1)


def test_a_file_being_written_waits_for_the_next_pass(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "arriving.txt"
    path.write_text(SEEDS[0].read_text(encoding="utf-8")[:500])  # modified just now
    watcher = FolderWatcher(tmp_path, settle_seconds=30)
    report = watcher.ingest(db)
    assert (report.waiting, report.stored) == (1, 0)
    assert counts(db) == (0, 0)
    path.write_text(SEEDS[0].read_text(encoding="utf-8"))
    settle(path)
    assert watcher.ingest(db).stored == 1
    with db.session() as session:
        assert session.scalars(select(ArticleRow.text)).one() == SEEDS[0].read_text(
            encoding="utf-8").strip()


def test_a_file_larger_than_the_cap_is_refused_once_without_being_stored(
    db: Database, tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(SEEDS[0].read_bytes() * 10)
    settle(big)
    watcher = FolderWatcher(tmp_path, max_bytes=10_000)
    report = watcher.ingest(db)
    assert report.stored == 0
    assert report.rejected == [f"{big}: big.txt: larger than 10 kB; raise fetch.max_bytes"]
    assert watcher.ingest(db).rejected == []  # reported once, until it changes
    big.write_bytes(SEEDS[0].read_bytes())
    settle(big)
    assert watcher.ingest(db).stored == 1
    assert counts(db) == (1, 1)


def test_the_default_cap_is_the_fetch_setting(tmp_path: Path) -> None:
    assert FolderWatcher(tmp_path).max_bytes == 5_000_000

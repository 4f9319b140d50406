"""Service commands as a real process: ingest, stories, digest, feeds, subscribers, db."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import SEEDS
from tests.test_cli import one_line_error, run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
        os.utime(folder / seed.name, (time.time() - 60,) * 2)
    return tmp_path


def env(home: Path) -> dict[str, str]:
    return {"BRIEFING_DATA_DIR": str(home / "data"),
            "BRIEFING_ARTICLES_DIR": str(home / "articles")}


def test_ingest_then_stories_then_digest_preview(home: Path) -> None:
    proc = run("ingest", cwd=home, env=env(home))
    assert proc.returncode == 0, proc.stderr
    assert "folder: 2 stored" in proc.stdout and "summarised 1 stories" in proc.stdout
    again = run("ingest", cwd=home, env=env(home))
    assert "folder: 0 stored, 2 already known" in again.stdout
    stories = json.loads(run("stories", "--json", "--since", "7d", cwd=home, env=env(home)).stdout)
    assert len(stories) == 1 and stories[0]["sources"] == 2 and stories[0]["summarised"]
    preview = run("digest", "--lang", "fr", "--since", "7d", cwd=home, env=env(home))
    assert preview.returncode == 0, preview.stderr
    assert "[fr]" in preview.stdout and "[en]" not in preview.stdout and "«" in preview.stdout


def test_feeds_add_list_remove(home: Path) -> None:
    added = run("feeds", "add", "https://news.example/rss.xml", cwd=home,
                BRIEFING_DATA_DIR=str(home / "data"))
    # news.example does not resolve here: adding checks the address, so this is refused.
    assert added.returncode == 2 and "Traceback" not in added.stderr
    local = run("feeds", "add", "http://127.0.0.1:9/rss.xml", cwd=home,
                BRIEFING_DATA_DIR=str(home / "data"), BRIEFING_ALLOW_PRIVATE_URLS="1")
    assert local.returncode == 0 and "added feed 1" in local.stdout
    listed = run("feeds", "list", cwd=home, BRIEFING_DATA_DIR=str(home / "data"))
    assert "127.0.0.1:9/rss.xml" in listed.stdout
    duplicate = run("feeds", "add", "http://127.0.0.1:9/rss.xml", cwd=home,
                    BRIEFING_DATA_DIR=str(home / "data"), BRIEFING_ALLOW_PRIVATE_URLS="1")
    one_line_error(duplicate, 2, "already")
    removed = run("feeds", "remove", "1", cwd=home, BRIEFING_DATA_DIR=str(home / "data"))
    assert removed.returncode == 0
    one_line_error(run("feeds", "remove", "1", cwd=home, BRIEFING_DATA_DIR=str(home / "data")), 2,
                   "no feed")


def test_private_feed_urls_are_refused(home: Path) -> None:
    one_line_error(run("feeds", "add", "http://127.0.0.1:9/rss.xml", cwd=home,
                       BRIEFING_DATA_DIR=str(home / "data")), 2, "loopback")


def test_subscribers_and_bad_settings(home: Path) -> None:
    ok = run("subscribers", "add", "123", "--time", "6:05", "--timezone", "America/Montreal",
             cwd=home, BRIEFING_DATA_DIR=str(home / "data"))
    assert ok.returncode == 0 and "added subscriber 1" in ok.stdout
    one_line_error(run("subscribers", "add", "9", "--timezone", "Paris", cwd=home,
                       BRIEFING_DATA_DIR=str(home / "data")), 2, "Europe/Paris")
    one_line_error(run("digest", "--since", "forever", cwd=home,
                       BRIEFING_DATA_DIR=str(home / "data")), 2, "duration")


def test_db_upgrade(home: Path) -> None:
    proc = run("db", "upgrade", cwd=home, BRIEFING_DATA_DIR=str(home / "data"))
    assert proc.returncode == 0 and (home / "data" / "briefing.db").exists()

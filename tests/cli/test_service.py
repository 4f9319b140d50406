"""Service commands as a real process: ingest, stories, digest, feeds, subscribers, db."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import SEEDS
from tests.fakes.web_server import FakeWebServer
from tests.cli.test_summarize import one_line_error, run
from tests.service.test_ingest import NEWS, news_feed, news_item, news_page


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


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


def local_env(home: Path) -> dict[str, str]:
    """env, with feeds on 127.0.0.1 allowed (the local web server)."""
    return {**env(home), "BRIEFING_ALLOW_PRIVATE_URLS": "1"}


def feed(base: str) -> bytes:
    """A feed of two entries that carry their articles (no page to fetch)."""
    now = datetime.now(UTC)
    return news_feed(news_item(base, "tram", now - timedelta(hours=1), full=True),
                     news_item(base, "glacier", now - timedelta(hours=2), full=True))


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
    assert "[Français]" in preview.stdout and "[English" not in preview.stdout
    assert "«" in preview.stdout


def test_feeds_add_list_remove(home: Path, web: FakeWebServer) -> None:
    added = run("feeds", "add", "https://news.example/rss.xml", cwd=home,
                BRIEFING_DATA_DIR=str(home / "data"))
    # news.example does not resolve here: adding checks the address, so this is refused.
    assert added.returncode == 2 and "Traceback" not in added.stderr
    web.route("/rss.xml", feed(web.base_url), content_type="application/rss+xml")
    local = run("feeds", "add", web.url("/rss.xml"), cwd=home, env=local_env(home))
    assert local.returncode == 0, local.stderr
    assert "added feed 1" in local.stdout and "(Le Fil), 2 entries" in local.stdout
    assert local.stderr == ""  # nothing to warn about
    listed = run("feeds", "list", cwd=home, BRIEFING_DATA_DIR=str(home / "data"))
    assert "/rss.xml" in listed.stdout and "Le Fil" in listed.stdout
    duplicate = run("feeds", "add", web.url("/rss.xml"), cwd=home, env=local_env(home))
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


# --- feeds add: one check for every kind of failure ----------------------------------------

NOT_A_FEED = [
    ("/missing.xml", None, "404"),
    ("/page.html", news_page("tram"), "HTML page"),
    ("/data.json", b'{"items": []}', "not an RSS or Atom feed"),
    ("/empty.xml", b"", "empty"),
    ("/broken.xml", b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x',
     "no entry could be read"),
]


@pytest.mark.parametrize(("path", "body", "reason"), NOT_A_FEED)
def test_feeds_add_refuses_what_is_not_a_usable_feed(
    home: Path, web: FakeWebServer, path: str, body: bytes | None, reason: str
) -> None:
    if body is not None:
        web.route(path, body, content_type="text/html" if path.endswith(".html") else None)
    proc = run("feeds", "add", web.url(path), cwd=home, env=local_env(home))
    one_line_error(proc, 2, reason)
    listed = run("feeds", "list", cwd=home, BRIEFING_DATA_DIR=str(home / "data"))
    assert web.url(path) not in listed.stdout  # nothing stored


def test_feeds_add_refuses_a_feed_that_times_out(home: Path, web: FakeWebServer) -> None:
    web.route("/slow.xml", feed(web.base_url), content_type="application/rss+xml", delay=5)
    (home / "briefing.toml").write_text("[fetch]\ntimeout = 0.5\n", encoding="utf-8")
    started = time.monotonic()
    one_line_error(run("feeds", "add", web.url("/slow.xml"), cwd=home, env=local_env(home)),
                   2, "timed out")
    assert time.monotonic() - started < 4.5


def test_feeds_add_accepts_an_empty_feed_with_a_warning(home: Path, web: FakeWebServer) -> None:
    web.route("/quiet.xml", news_feed(), content_type="application/rss+xml")
    proc = run("feeds", "add", web.url("/quiet.xml"), cwd=home, env=local_env(home))
    assert proc.returncode == 0, proc.stderr
    assert "added feed 1" in proc.stdout and "0 entries" in proc.stdout
    assert proc.stderr.startswith("warning: ") and "no entries yet" in proc.stderr


# --- ingest is one pass now; stories and digests follow what arrived ----------------------


def test_ingest_polls_every_active_feed_now_with_a_conditional_get(
    home: Path, web: FakeWebServer
) -> None:
    web.route("/rss.xml", feed(web.base_url), content_type="application/rss+xml",
              headers={"ETag": '"v1"'})
    assert run("feeds", "add", web.url("/rss.xml"), cwd=home, env=local_env(home)).returncode == 0
    first = run("ingest", "--no-summarise", cwd=home, env=local_env(home))
    assert "feeds: 1 polled, 2 stored" in first.stdout, first.stdout + first.stderr
    # Polled a moment ago, so not due for poll_minutes: `ingest` polls it all the same.
    web.route("/rss.xml", b"", status=304, content_type=None, headers={"ETag": '"v1"'})
    second = run("ingest", "--no-summarise", cwd=home, env=local_env(home))
    assert "feeds: 1 polled, 0 stored, 0 failed" in second.stdout, second.stdout + second.stderr
    polls = [headers for path, headers in web.requests if path == "/rss.xml"]
    assert len(polls) == 3  # feeds add, then each ingest
    # The check's ETag is not kept (the first poll must get the entries); the next is conditional.
    assert "if-none-match" not in polls[1] and polls[2].get("if-none-match") == '"v1"'


def test_recent_entries_naming_old_years_are_listed_and_in_the_next_digest(
    home: Path, web: FakeWebServer
) -> None:
    from briefing.config import StoreSettings
    from briefing.service.digests import schedule_digests
    from briefing.store.db import open_database
    from briefing.store.models import DeliveryRow, StoryRow, SubscriberRow
    from tests.conftest import service_settings

    for seed in (home / "articles").iterdir():
        seed.unlink()  # only the feed's stories
    now = datetime.now(UTC)
    today = now.date().isoformat()
    web.route("/rss.xml", news_feed(
        news_item(web.base_url, "tram", now - timedelta(hours=3), full=True),
        news_item(web.base_url, "glacier", now - timedelta(hours=2), full=False),
        news_item(web.base_url, "rail", None, full=False)), content_type="application/rss+xml")
    web.route("/glacier", news_page("glacier"))  # no date metadata; "octobre 2016" in its text
    web.route("/rail", news_page(
        "rail", f"<meta property='article:published_time' content='{today}'>"))
    assert run("feeds", "add", web.url("/rss.xml"), cwd=home, env=local_env(home)).returncode == 0
    db = open_database(StoreSettings(data_dir=str(home / "data")))
    next_digest = now + timedelta(hours=1)
    with db.session() as session:
        session.add(SubscriberRow(chat_id="42", timezone="UTC", languages="fr",
                               digest_time=next_digest.strftime("%H:%M"),
                               last_digest_at=now - timedelta(minutes=1)))
    ingest = run("ingest", cwd=home, env=local_env(home))
    assert "3 stored" in ingest.stdout and "summarised 3 stories" in ingest.stdout, ingest.stdout
    listed = json.loads(run("stories", "--since", "24h", "--json", cwd=home,
                            env=env(home)).stdout)
    assert sorted(s["title"] for s in listed) == sorted(title for title, _ in NEWS.values())
    shown = {s["title"]: s["last_published"] for s in listed}
    assert shown[NEWS["rail"][0]] == today  # a date-only date stays a date
    assert shown[NEWS["glacier"][0]].startswith(
        (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))  # the feed's date
    settings = service_settings(db.engine.url.render_as_string(hide_password=False),
                                home / "articles")
    try:
        assert schedule_digests(db, next_digest, settings) == 1
        with db.session() as session:
            delivered = session.scalars(select(DeliveryRow.story_ids)).one()
            # A story whose brief is withheld is still listed, with the reason.
            session.get_one(StoryRow, listed[0]["id"]).withheld = "fewer than 2 checked quotes"
    finally:
        db.close()
    assert sorted(delivered) == sorted(s["id"] for s in listed)
    again = json.loads(run("stories", "--json", cwd=home, env=env(home)).stdout)
    assert [s["withheld"] for s in again] == ["fewer than 2 checked quotes", None, None]

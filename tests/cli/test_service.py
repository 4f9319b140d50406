"""Service commands: ingest, stories, digest, feeds, subscribers, db in-process; `run` and a
closed pipe as real processes."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from briefing.cli.common import Verbosity
from briefing.cli.service import cycle_lines
from briefing.service.runner import CycleReport
from tests.conftest import (
    CLEAN_ENV,
    NEWS,
    SEEDS,
    invoke,
    news_feed,
    news_item,
    news_page,
    one_line_error,
)
from tests.fakes.web_server import FakeWebServer


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


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
    first = invoke("ingest", env=env(home))
    assert first.exit_code == 0, first.stderr
    assert "folder: 2 stored" in first.stdout and "summarised 1 stories" in first.stdout
    again = invoke("ingest", env=env(home))
    assert "folder: 0 stored, 2 already known" in again.stdout
    listed = invoke("stories", "--json", "--since", "7d", env=env(home))
    stories = json.loads(listed.stdout)
    assert len(stories) == 1 and stories[0]["state"] == "briefed"
    preview = invoke("digest", "--lang", "fr", "--since", "7d", env=env(home))
    assert preview.exit_code == 0, preview.stderr
    assert "[Français]" in preview.stdout and "[English" not in preview.stdout
    assert "«" in preview.stdout


def test_stories_json_carries_headlines_sources_state_and_version(home: Path) -> None:
    assert invoke("ingest", env=env(home)).exit_code == 0
    story = json.loads(invoke("stories", "--json", "--since", "7d", env=env(home)).stdout)[0]
    assert set(story["headlines"]) == {"fr", "en"} and all(story["headlines"].values())
    folder = home / "articles"
    assert sorted(Path(s["path"]).name for s in story["sources"]) == sorted(
        p.name for p in SEEDS)
    assert all(s["url"] is None and {"title", "outlet", "published"} <= set(s)
               for s in story["sources"])
    assert {s["published"] for s in story["sources"]} >= {"2020-02"}  # the seed's date token
    assert all(Path(s["path"]).parent.resolve() == folder.resolve() for s in story["sources"])
    # The second seed joined the first one's story: its brief covers version 2.
    assert story["version"] == 2 and story["state"] == "briefed" and story["withheld"] is None


def test_the_table_shows_the_headline_of_a_folder_story_without_a_title(home: Path) -> None:
    assert invoke("ingest", env=env(home)).exit_code == 0
    story = json.loads(invoke("stories", "--json", "--since", "7d", env=env(home)).stdout)[0]
    assert story["title"] is None  # the seeds hold no title line
    table = invoke("stories", "--since", "7d", env={**env(home), "COLUMNS": "600"})
    assert table.exit_code == 0, table.stderr
    assert story["headlines"]["fr"] in table.stdout


def test_a_pending_story_is_listed_as_pending(home: Path) -> None:
    assert invoke("ingest", "--no-summarise", env=env(home)).exit_code == 0
    story = json.loads(invoke("stories", "--json", "--since", "7d", env=env(home)).stdout)[0]
    assert story["state"] == "pending" and story["headlines"] == {}
    table = invoke("stories", "--since", "7d", env=env(home))
    # No title and no brief yet: the table names the story by its first file.
    assert "pending" in table.stdout and SEEDS[0].name in table.stdout


def test_a_digest_with_nothing_new_is_one_line(home: Path) -> None:
    result = invoke("digest", "--since", "1h", env=env(home))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    assert result.stdout.startswith("nothing new since ") and "Briefing" not in result.stdout


def test_a_readers_digest_preview_is_in_their_languages(home: Path) -> None:
    assert invoke("ingest", env=env(home)).exit_code == 0
    assert invoke("subscribers", "add", "123", "--lang", "en", env=env(home)).exit_code == 0
    preview = invoke("digest", "--subscriber", "1", "--since", "7d", env=env(home))
    assert preview.exit_code == 0, preview.stderr
    assert "[English" in preview.stdout and "[Français]" not in preview.stdout
    one_line_error(invoke("digest", "--subscriber", "99", env=env(home)), 2, "no subscriber 99")


def test_a_rejected_file_is_reported_once_per_change(home: Path) -> None:
    bad = home / "articles" / "broken.txt"
    bad.write_bytes(b"")
    first = invoke("ingest", "--no-summarise", env=env(home))
    assert "1 rejected" in first.stdout
    assert first.stderr.count("skipped") == 1 and "broken.txt: " in first.stderr
    assert "empty" in first.stderr
    second = invoke("ingest", "--no-summarise", env=env(home))
    assert "0 rejected" in second.stdout and "broken.txt" not in second.stderr
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))  # changed, and still not an article
    third = invoke("ingest", "--no-summarise", env=env(home))
    assert "1 rejected" in third.stdout and "binary" in third.stderr
    assert "broken.txt" not in invoke("ingest", "--no-summarise", env=env(home)).stderr
    bad.write_text(NEWS["rail"][1], encoding="utf-8")  # mended: stored like any other file
    os.utime(bad, (time.time() - 60,) * 2)
    mended = invoke("ingest", "--no-summarise", env=env(home))
    assert "folder: 1 stored" in mended.stdout and mended.stderr == ""


def test_feeds_add_list_remove(home: Path, web: FakeWebServer) -> None:
    added = invoke("feeds", "add", "https://news.example/rss.xml", env=env(home))
    # news.example does not resolve here: adding checks the address, so this is refused.
    one_line_error(added, 2)
    web.route("/rss.xml", feed(web.base_url), content_type="application/rss+xml")
    local = invoke("feeds", "add", web.url("/rss.xml"), env=local_env(home))
    assert local.exit_code == 0, local.stderr
    assert "added feed 1" in local.stdout and "(Le Fil), 2 entries" in local.stdout
    assert local.stderr == ""  # nothing to warn about
    listed = invoke("feeds", "list", env=env(home))
    assert "/rss.xml" in listed.stdout and "Le Fil" in listed.stdout
    one_line_error(invoke("feeds", "add", web.url("/rss.xml"), env=local_env(home)), 2,
                   "already")
    assert invoke("feeds", "remove", "1", env=env(home)).exit_code == 0
    one_line_error(invoke("feeds", "remove", "1", env=env(home)), 2, "no feed")


def test_private_feed_urls_are_refused(home: Path) -> None:
    one_line_error(invoke("feeds", "add", "http://127.0.0.1:9/rss.xml", env=env(home)), 2,
                   "loopback")


@pytest.mark.parametrize("chat_id", ["123456789", "-1001234567890", "@le_fil_info"])
def test_subscribers_take_telegram_chat_ids(home: Path, chat_id: str) -> None:
    result = invoke("subscribers", "add", chat_id, env=env(home))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"added subscriber 1 ({chat_id})"


@pytest.mark.parametrize("chat_id", ["alice", "12a4", "@abc", "@1channel", "0", "--", "1 2"])
def test_subscribers_refuse_what_is_not_a_chat_id(home: Path, chat_id: str) -> None:
    one_line_error(invoke("subscribers", "add", "--", chat_id, env=env(home)), 2, "chat id")
    # Nothing was stored: the next reader is the first one.
    assert invoke("subscribers", "add", "777", env=env(home)).stdout.strip() == (
        "added subscriber 1 (777)")


def test_adding_a_known_reader_says_updated(home: Path) -> None:
    ok = invoke("subscribers", "add", "123", "--time", "6:05", "--timezone",
                "America/Montreal", env=env(home))
    assert ok.exit_code == 0 and ok.stdout.strip() == "added subscriber 1 (123)"
    again = invoke("subscribers", "add", "123", "--time", "7:00", env=env(home))
    assert again.exit_code == 0 and again.stdout.strip() == "updated subscriber 1 (123)"
    other = invoke("subscribers", "add", "456", env=env(home))
    assert other.stdout.strip() == "added subscriber 2 (456)"


def test_bad_subscriber_settings_and_durations_are_one_line(home: Path) -> None:
    one_line_error(invoke("subscribers", "add", "9", "--timezone", "Paris", env=env(home)), 2,
                   "Europe/Paris")
    one_line_error(invoke("digest", "--since", "forever", env=env(home)), 2, "duration")


def test_db_upgrade(home: Path) -> None:
    result = invoke("db", "upgrade", env=env(home))
    assert result.exit_code == 0 and (home / "data" / "briefing.db").exists()


# --- a closed pipe ends the command quietly -------------------------------------------------


def test_a_closed_pipe_ends_the_command_quietly(home: Path) -> None:
    assert invoke("ingest", env=env(home)).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "briefing", "stories", "--since", "7d"], cwd=home,
        env={**CLEAN_ENV, **env(home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes (`| head -0`)
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert code in (0, 141) and stderr == ""


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
    one_line_error(invoke("feeds", "add", web.url(path), env=local_env(home)), 2, reason)
    listed = invoke("feeds", "list", env=env(home))
    assert listed.exit_code == 0 and web.url(path) not in listed.stdout  # nothing stored


def test_feeds_add_refuses_a_feed_that_times_out(home: Path, web: FakeWebServer) -> None:
    web.route("/slow.xml", feed(web.base_url), content_type="application/rss+xml", delay=5)
    (home / "briefing.toml").write_text("[fetch]\ntimeout = 0.5\n", encoding="utf-8")
    started = time.monotonic()
    one_line_error(invoke("feeds", "add", web.url("/slow.xml"), env=local_env(home)),
                   2, "timed out")
    assert time.monotonic() - started < 4.5


def test_feeds_add_accepts_an_empty_feed_with_a_warning(home: Path, web: FakeWebServer) -> None:
    web.route("/quiet.xml", news_feed(), content_type="application/rss+xml")
    result = invoke("feeds", "add", web.url("/quiet.xml"), env=local_env(home))
    assert result.exit_code == 0, result.stderr
    assert "added feed 1" in result.stdout and "0 entries" in result.stdout
    assert result.stderr.startswith("warning: ") and "no entries yet" in result.stderr


# --- ingest is one pass now; stories and digests follow what arrived ----------------------


def test_ingest_polls_every_active_feed_now_with_a_conditional_get(
    home: Path, web: FakeWebServer
) -> None:
    web.route("/rss.xml", feed(web.base_url), content_type="application/rss+xml",
              headers={"ETag": '"v1"'})
    assert invoke("feeds", "add", web.url("/rss.xml"), env=local_env(home)).exit_code == 0
    first = invoke("ingest", "--no-summarise", env=local_env(home))
    assert "feeds: 1 polled, 2 stored" in first.stdout, first.stdout + first.stderr
    # Polled a moment ago, so not due for poll_minutes: `ingest` polls it all the same.
    web.route("/rss.xml", b"", status=304, content_type=None, headers={"ETag": '"v1"'})
    second = invoke("ingest", "--no-summarise", env=local_env(home))
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
    assert invoke("feeds", "add", web.url("/rss.xml"), env=local_env(home)).exit_code == 0
    db = open_database(StoreSettings(data_dir=str(home / "data")))
    next_digest = now + timedelta(hours=1)
    with db.session() as session:
        session.add(SubscriberRow(chat_id="42", timezone="UTC", languages="fr",
                                  digest_time=next_digest.strftime("%H:%M"),
                                  last_digest_at=now - timedelta(minutes=1)))
    ingest = invoke("ingest", env=local_env(home))
    assert "3 stored" in ingest.stdout and "summarised 3 stories" in ingest.stdout, ingest.stdout
    listed = json.loads(invoke("stories", "--since", "24h", "--json", env=env(home)).stdout)
    assert sorted(s["title"] for s in listed) == sorted(title for title, _ in NEWS.values())
    shown = {s["title"]: s["last_published"] for s in listed}
    assert shown[NEWS["rail"][0]] == today  # a date-only date stays a date
    assert shown[NEWS["glacier"][0]].startswith(
        (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))  # the feed's date
    sources = {s["title"]: s["sources"][0] for s in listed}
    assert sources[NEWS["rail"][0]]["url"] == f"{web.base_url}/rail"
    assert sources[NEWS["rail"][0]]["published"] == today and sources[NEWS["rail"][0]][
        "path"] is None
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
    again = json.loads(invoke("stories", "--json", env=env(home)).stdout)
    assert [s["withheld"] for s in again] == ["fewer than 2 checked quotes", None, None]
    assert [s["state"] for s in again] == ["withheld", "briefed", "briefed"]
    table = invoke("stories", env=env(home))
    assert "withheld: fewer than 2 checked quotes" in table.stdout


# --- briefing run: what it runs, then how each cycle went ----------------------------------


def test_a_cycle_is_one_line_and_verbose_adds_the_details() -> None:
    report = CycleReport(ingested=3, duplicates=2, briefed=(7, 9), waiting=1, delivered=4,
                         errors=("https://a.example/rss: HTTP 500",))
    at = datetime(2026, 3, 2, 8, 15, 30, tzinfo=UTC)
    assert cycle_lines(report, at, Verbosity.NORMAL) == [
        "08:15:30 cycle: 3 ingested, 2 briefed (1 waiting), 4 delivered, 1 error"]
    assert cycle_lines(report, at, Verbosity.VERBOSE) == [
        "08:15:30 cycle: 3 ingested (2 already known), 2 briefed (1 waiting), 4 delivered, "
        "1 error",
        "  briefed story 7", "  briefed story 9", "  error: https://a.example/rss: HTTP 500"]
    assert cycle_lines(report, at, Verbosity.QUIET) == []
    assert cycle_lines(CycleReport(), at, Verbosity.NORMAL) == [
        "08:15:30 cycle: 0 ingested, 0 briefed, 0 delivered, 0 errors"]


class Lines:
    """A process's stderr read line by line in a thread, so waiting for a line can time out."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        stream = proc.stderr

        def read() -> None:
            for line in stream:
                self._queue.put(line.decode())

        threading.Thread(target=read, daemon=True).start()

    def until(self, text: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            try:
                self.seen.append(self._queue.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"no {text!r} within {timeout}s; stderr so far: {self.seen}")
        return self.seen


def start_run(home: Path, *options: str, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "briefing", *options, "run"], cwd=home,
        env={**CLEAN_ENV, **env(home), "BRIEFING_SERVICE__POLL_MINUTES": "60", **extra},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_run_says_what_it_runs_without_the_password_then_each_cycle(
    home: Path, store_url: str
) -> None:
    url = make_url(store_url)
    if url.get_backend_name() == "postgresql":  # trust authentication: any password is let in
        url = url.set(password="hunter2secret")
    proc = start_run(home, BRIEFING_DB_URL=url.render_as_string(hide_password=False))
    try:
        lines = Lines(proc).until(" cycle: ")
    finally:
        code = stop(proc)
    start = "\n".join(lines[:5])
    assert "hunter2secret" not in "".join(lines)
    assert f"store {url.get_backend_name()}" in start and str(url.database) in start
    if url.password:
        assert f"{url.username}:***@" in start
    assert f"watched folder {home / 'articles'}; 0 active feeds" in start
    assert "engine extractive (offline)" in start
    assert f"deliveries to file {home / 'data' / 'deliveries.jsonl'}" in start
    assert "every 60 min" in start
    cycle = next(line for line in lines if " cycle: " in line)
    assert "cycle: 2 ingested, 1 briefed, 0 delivered, 0 errors" in cycle, cycle
    assert code == 0


def test_run_quiet_says_nothing_while_it_works(home: Path) -> None:
    from briefing.config import StoreSettings
    from briefing.store.db import open_database
    from briefing.store.models import StoryRow

    proc = start_run(home, "-q")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the first cycle has briefed the seeds' story
            time.sleep(0.5)
            if not (home / "data" / "briefing.db").exists():
                continue
            db = open_database(StoreSettings(data_dir=str(home / "data")), migrate=False)
            try:
                with db.session() as session:
                    briefed = session.scalar(select(func.count(StoryRow.id))
                                             .where(StoryRow.summarised_version > 0))
            except Exception:  # the service is still creating its tables
                briefed = 0
            finally:
                db.close()
            if briefed:
                break
        else:
            pytest.fail("the service briefed nothing within 60 s")
    finally:
        code = stop(proc)
    assert proc.stderr is not None and proc.stderr.read() == b"" and code == 0

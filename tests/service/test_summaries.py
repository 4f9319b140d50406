"""Summarising stored stories: briefs saved with offsets, updates, LLM outages, no paid repeats."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from briefing.clock import utcnow
from briefing.config import Settings
from briefing.service.folder import FolderWatcher
from briefing.service.summaries import summarise_pending
from briefing.store.db import Database
from briefing.store.digests import briefed_since
from briefing.store.models import ArticleRow, BriefRow, StoryRow
from briefing.store.stories import pending_story_ids
from tests.conftest import SEEDS, service_settings
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply


def ingest_seeds(db: Database, folder: Path) -> None:
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
        past = time.time() - 60
        os.utime(folder / seed.name, (past, past))
    FolderWatcher(folder).ingest(db)


def llm(settings: Settings, fake: FakeOpenAI) -> Settings:
    update_llm = {"base_url": fake.base_url, "model": "fake-model", "timeout": 2.0,
                  "max_retries": 0}
    return settings.model_copy(update={"llm": settings.llm.model_copy(update=update_llm)})


def test_offline_briefs_are_saved_with_checked_offsets(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    ingest_seeds(db, tmp_path)
    report = summarise_pending(db, settings)
    assert len(report.summarised) == 1 and not report.failed
    assert pending_story_ids(db) == []
    with db.session() as session:
        story = session.scalars(select(StoryRow)).one()
        texts = {f"S{i}": a.text or "" for i, a in enumerate(story.articles, start=1)}
        briefs = {b.language: b for b in story.briefs}
        assert set(briefs) == {"fr", "en"}
        assert {q["source"] for q in briefs["fr"].quotes} == {"S1", "S2"}
        for quote in briefs["fr"].quotes:
            assert texts[quote["source"]][quote["start"]:quote["end"]] == quote["text"]
        assert all(a.state == "summarised" for a in story.articles)
        assert briefs["fr"].engine == "extractive" and briefs["fr"].story_version == 2
        for point in briefs["fr"].points:  # each point with the sentences it rests on
            assert point["support"]
            for cited in point["support"]:
                assert texts[cited["source"]][cited["start"]:cited["end"]] == cited["text"]
    # What a digest reads back is the checked point, support and all.
    (briefed,) = briefed_since(db, datetime(2000, 1, 1, tzinfo=UTC), ("fr",), (), 10)
    (brief,) = briefed.briefs
    assert brief.points and all(p.support for p in brief.points)
    assert [p.text for p in brief.points] == [p["text"] for p in briefs["fr"].points]


def test_a_story_that_gains_a_source_is_summarised_again(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    shutil.copy(SEEDS[0], tmp_path / SEEDS[0].name)
    os.utime(tmp_path / SEEDS[0].name, (time.time() - 60,) * 2)
    watcher = FolderWatcher(tmp_path)
    watcher.ingest(db)
    summarise_pending(db, settings)
    shutil.copy(SEEDS[1], tmp_path / SEEDS[1].name)
    os.utime(tmp_path / SEEDS[1].name, (time.time() - 60,) * 2)
    watcher.ingest(db)
    assert len(pending_story_ids(db)) == 1
    # The re-brief waits until no source has joined for the quiet period (test_rebrief.py).
    assert summarise_pending(db, settings).deferred == pending_story_ids(db)
    quiet = timedelta(minutes=settings.service.rebrief_quiet_minutes)
    summarise_pending(db, settings, clock=lambda: utcnow() + quiet)
    with db.session() as session:
        story = session.scalars(select(StoryRow)).one()
        assert (story.version, story.summarised_version) == (2, 2)
        assert {b.story_version for b in story.briefs} == {2}
        assert len(session.scalars(select(BriefRow)).all()) == 2  # updated, not duplicated


def test_llm_down_for_a_cycle_leaves_stories_pending_then_they_are_summarised(
    db: Database, store_url: str, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings = llm(service_settings(store_url, tmp_path), fake_openai)
    ingest_seeds(db, tmp_path)
    fake_openai.default = Reply.error(503, "overloaded", type="server_error")
    report = summarise_pending(db, settings)
    assert not report.summarised and len(report.failed) == 1
    assert len(pending_story_ids(db)) == 1
    fake_openai.default = lambda req: Reply.content(good_answer(req))
    report = summarise_pending(db, settings)
    assert len(report.summarised) == 1 and pending_story_ids(db) == []
    with db.session() as session:
        assert {b.engine for b in session.scalars(select(BriefRow))} == {"llm"}


def test_offline_fallback_when_configured(
    db: Database, store_url: str, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings = llm(service_settings(store_url, tmp_path, offline_fallback=True), fake_openai)
    ingest_seeds(db, tmp_path)
    fake_openai.default = Reply.error(503, "overloaded", type="server_error")
    assert len(summarise_pending(db, settings).summarised) == 1
    with db.session() as session:
        assert {b.engine for b in session.scalars(select(BriefRow))} == {"extractive"}


def test_a_paid_answer_is_never_bought_twice(
    db: Database, store_url: str, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings = llm(service_settings(store_url, tmp_path), fake_openai)
    ingest_seeds(db, tmp_path)
    fake_openai.default = lambda req: Reply.content(good_answer(req))
    summarise_pending(db, settings)
    calls = fake_openai.calls
    assert calls >= 1
    with db.session() as session:  # as if the process died after the call, before saving
        session.execute(update(StoryRow).values(summarised_version=0))
        session.execute(update(ArticleRow).values(state="extracted"))
    assert len(summarise_pending(db, settings).summarised) == 1
    assert fake_openai.calls == calls


def test_a_new_brief_records_when_it_was_made_and_that_it_may_be_read(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    first = datetime(2024, 3, 1, 6, 20, tzinfo=UTC)
    ingest_seeds(db, tmp_path)
    summarise_pending(db, settings, clock=lambda: first)
    with db.session() as session:
        story = session.scalars(select(StoryRow)).one()
        assert (story.briefed_at, story.withheld) == (first, None)
        story_id = story.id
    # A new brief (here: forced by a lost save) moves briefed_at; none keeps it still.
    later = datetime(2024, 3, 1, 9, 45, tzinfo=UTC)
    summarise_pending(db, settings, clock=lambda: later)
    with db.session() as session:
        assert session.get_one(StoryRow, story_id).briefed_at == first
        session.execute(update(StoryRow).values(summarised_version=0))
    summarise_pending(db, settings, clock=lambda: later)
    with db.session() as session:
        assert session.get_one(StoryRow, story_id).briefed_at == later


def test_a_brief_that_must_not_reach_readers_is_stored_with_the_reason(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = service_settings(store_url, tmp_path)
    path = tmp_path / "no-punctuation.txt"
    path.write_text("le gouvernement a annoncé une nouvelle loi sur les retraites " * 2000)
    os.utime(path, (time.time() - 60,) * 2)
    assert FolderWatcher(tmp_path).ingest(db).stored == 1
    assert len(summarise_pending(db, settings).summarised) == 1
    with db.session() as session:
        story = session.scalars(select(StoryRow)).one()
        assert story.withheld is not None and "no sentence" in story.withheld
        assert story.briefed_at is not None
        assert story.summarised_version == story.version  # handled, not retried forever

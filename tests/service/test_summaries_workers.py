"""Several workers summarising one PostgreSQL store at once: every story briefed and saved
once, and no paid LLM call made twice, whether the workers share out the stories or ask
for the very same request at the same moment."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Mapper

from briefing.briefs.engines.select import Engine, select_engine
from briefing.briefs.models import Feedback, Proposal
from briefing.config import Settings, StoreSettings, load_settings
from briefing.service.fleet import Fleet, new_worker
from briefing.service.summaries import SummaryReport, summarise_pending
from briefing.sources.models import Document, Story
from briefing.store.articles import NewArticle, add_article
from briefing.store.db import Database, open_database
from briefing.store.llm_calls import CallLog
from briefing.store.models import BriefHistoryRow, LLMCallRow, StoryRow
from briefing.store.stories import pending_story_ids
from briefing.stories.signature import signature
from tests.conftest import NEWS
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest, Reply
from tests.pg import fresh_database

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
STORIES = 18  # five chunks of 2 x concurrency: more than one chunk per worker
WORKERS = 3
CONCURRENCY = 2
DELAY = 0.2  # seconds the fake LLM takes per answer: calls overlap across workers


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[str]:
    """A database of its own on the session's PostgreSQL cluster (skips without one)."""
    with fresh_database(pg_url) as url:
        yield url


@pytest.fixture
def slow_fake() -> Iterator[FakeOpenAI]:
    """The fake LLM answering every request with a valid brief after DELAY seconds."""
    with FakeOpenAI(default=lambda request: Reply.content(good_answer(request),
                                                          delay=DELAY)) as fake:
        yield fake


def settings_for(fake: FakeOpenAI, url: str) -> Settings:
    """The LLM engine at the fake (no retry: a retry would be a second call), the store at
    `url`, no offline fallback (a failed call leaves the story pending)."""
    settings = load_settings(env={"OPENAI_BASE_URL": fake.base_url, "BRIEFING_MODEL": "fake-model",
                                  "OPENAI_API_KEY": "sk-test-not-a-real-key"})
    return settings.model_copy(update={
        "llm": settings.llm.model_copy(update={"engine": "llm", "timeout": 10.0,
                                               "max_retries": 0}),
        "store": StoreSettings(url=url),
        "service": settings.service.model_copy(update={"summarise_concurrency": CONCURRENCY,
                                                       "offline_fallback": False}),
    })


def dispatch(number: int) -> str:
    """The text of story `number`: a lead of its own, then one of the three news texts (so
    no two stories send the same request)."""
    _title, body = list(NEWS.values())[number % len(NEWS)]
    return (f"L'agence Dépêche{number} rapporte que {100 + number} dossiers ont été ouverts "
            f"cette semaine dans la région. {body}")


def store_stories(db: Database, count: int) -> list[int]:
    """`count` pending stories of one article each (a story of its own, whatever the
    clustering would say: their shared body would join them)."""
    for number in range(count):
        text = dispatch(number)
        title = f"Dépêche {number}"
        add_article(db, NewArticle(
            content_hash=f"workers-{number}", text=text, language="fr", title=title,
            outlet=f"agence{number}.example", published=NOW,
            published_text=NOW.isoformat(), signature=signature(text, title, "fr", NOW),
            url=f"https://agence{number}.example/{number}"), lambda _candidates: None, NOW)
    stories = pending_story_ids(db)
    assert len(stories) == count
    return stories


def request_text(request: RecordedRequest) -> str:
    """A chat request's identity: its JSON, keys sorted."""
    return json.dumps(request.json, sort_keys=True, ensure_ascii=False)


class CountingEngine:
    """The worker's engine, counting the stories it is asked to brief (by their first
    source's text)."""

    def __init__(self, engine: Engine, asked: Counter[str], lock: threading.Lock) -> None:
        self.engine, self.asked, self.lock = engine, asked, lock
        self.name = engine.name

    def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
        """Count, then ask the real engine."""
        with self.lock:
            self.asked[story.sources[0].text] += 1
        return self.engine.propose(story, feedback)


@pytest.fixture
def history_writes() -> Iterator[Counter[tuple[str, int, int, str]]]:
    """Every insert and update of a brief history row the ORM flushes, by (insert or
    update, story, version, language): a story saved twice updates its row."""
    writes: Counter[tuple[str, int, int, str]] = Counter()
    lock = threading.Lock()

    def listener(kind: str) -> Any:
        def record(_mapper: Mapper[Any], _connection: Any, row: BriefHistoryRow) -> None:
            with lock:
                writes[(kind, row.story_id, row.story_version, row.language)] += 1
        return record

    inserted, updated = listener("insert"), listener("update")
    event.listen(BriefHistoryRow, "after_insert", inserted)
    event.listen(BriefHistoryRow, "after_update", updated)
    try:
        yield writes
    finally:
        event.remove(BriefHistoryRow, "after_insert", inserted)
        event.remove(BriefHistoryRow, "after_update", updated)


def test_three_workers_brief_every_story_once_and_pay_for_no_call_twice(
    pg_store: str, slow_fake: FakeOpenAI,
    history_writes: Counter[tuple[str, int, int, str]],
) -> None:
    settings = settings_for(slow_fake, pg_store)
    setup = open_database(settings.store)
    stories = store_stories(setup, STORIES)
    asked: Counter[str] = Counter()
    lock = threading.Lock()
    reports: dict[str, list[SummaryReport]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def worker() -> None:
        # A worker of its own: its own connections, fleet, call log and engine.
        db = open_database(settings.store)
        fleet = Fleet(db, new_worker())
        mine: list[SummaryReport] = reports.setdefault(fleet.worker.id, [])

        def engine() -> Engine:
            real = select_engine(settings, cache=CallLog(db, holder=fleet.worker.id,
                                                         poll_seconds=0.02))
            return CountingEngine(real, asked, lock)

        try:
            start.wait(timeout=30)
            for _ in range(50):  # passes until no story is pending (others hold some)
                mine.append(summarise_pending(db, settings, engine, fleet=fleet))
                if not pending_story_ids(db):
                    break
                time.sleep(0.05)
            fleet.stop()
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    every = [r for rs in reports.values() for r in rs]
    assert not any(r.failed for r in every)
    briefed = sorted(story for r in every for story in r.summarised)
    assert briefed == sorted(stories)  # each story briefed once, by one worker
    by_worker = [sum(len(r.summarised) for r in rs) for rs in reports.values()]
    assert sum(n > 0 for n in by_worker) >= 2, by_worker  # the workers shared the stories
    # The engine was asked for each story once: no worker briefed one another held.
    assert sorted(asked.values()) == [1] * STORIES
    assert pending_story_ids(setup) == []

    # Saved once: one history row per story and language, inserted and never rewritten.
    languages = settings.brief.languages
    assert sorted(history_writes.items()) == sorted(
        (("insert", story, 1, lang), 1) for story in stories for lang in languages)
    with setup.session() as session:
        rows = session.execute(select(BriefHistoryRow.story_id, BriefHistoryRow.story_version,
                                      BriefHistoryRow.language)).all()
        assert sorted(rows) == sorted((s, 1, lang) for s in stories for lang in languages)
        assert set(session.scalars(select(StoryRow.summarised_version))) == {1}
        logged = list(session.scalars(select(LLMCallRow.request_hash)))
    # The fake was asked each distinct request once, one per story, each logged once.
    requests = Counter(request_text(r) for r in slow_fake.chat_requests)
    assert len(requests) == STORIES
    assert set(requests.values()) == {1}
    assert len(logged) == len(set(logged)) == STORIES
    setup.close()


def test_two_workers_asking_the_same_request_at_once_pay_for_one_call(
    pg_store: str, slow_fake: FakeOpenAI
) -> None:
    settings = settings_for(slow_fake, pg_store)
    setup = open_database(settings.store)  # migrated once, before the workers open it
    # One story, as two workers read it (one taking it over from a worker gone quiet, say).
    story = Story((Document("S1", dispatch(0), "fr", title="Dépêche 0"),))
    start = threading.Barrier(2)
    proposals: dict[str, Proposal] = {}
    errors: list[BaseException] = []

    def worker(holder: str) -> None:
        db = open_database(settings.store, migrate=False)
        try:
            engine = select_engine(settings, cache=CallLog(db, holder=holder,
                                                           poll_seconds=0.02))
            start.wait(timeout=30)
            proposals[holder] = engine.propose(story)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(f"host:1:w{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert slow_fake.calls == 1  # one paid call; the other worker waited for its answer
    assert set(proposals) == {"host:1:w1", "host:1:w2"}
    first, second = proposals.values()
    assert first.briefs == second.briefs and first.briefs  # both got the answer
    with setup.session() as session:
        assert len(list(session.scalars(select(LLMCallRow.id)))) == 1
    setup.close()

"""`briefing run` as a real process, killed with SIGKILL mid-work and restarted.

After the restarts: no article lost, no LLM call that had succeeded made again
(the fake server records every request), every digest part delivered exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from briefing.config import StoreSettings
from briefing.store.db import Database, open_database
from briefing.store.models import (
    ArticleRow,
    DeliveryRow,
    SentMessageRow,
    StoryRow,
    SubscriberRow,
)
from tests.conftest import SEEDS
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply

OTHER_STORIES = [
    "Le conseil municipal de Tours a voté mardi un budget de 12 millions d'euros pour "
    "rénover six écoles du centre-ville. « Nous voulons que chaque enfant ait une classe "
    "chauffée », a déclaré la maire Claire Martin devant les élus réunis en séance.",
    "La compagnie ferroviaire Trenitalia lancera en juin une ligne entre Lyon et Turin avec "
    "quatre allers-retours quotidiens. « C'est une étape pour le rail européen », a estimé "
    "son directeur Marco Bellini lors d'une conférence de presse à Milan.",
    "Des chercheurs de l'université de Grenoble ont observé un glacier alpin reculer de 38 "
    "mètres en un an. « Ce rythme dépasse nos pires scénarios », explique la glaciologue "
    "Anne Dubois, qui mesure le front de glace depuis quinze ans.",
]


def write_articles(folder: Path) -> int:
    folder.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
    for i, text in enumerate(OTHER_STORIES):
        (folder / f"story-{i}.txt").write_text(text, encoding="utf-8")
    past = time.time() - 60
    for path in folder.iterdir():
        os.utime(path, (past, past))
    return len(SEEDS) + len(OTHER_STORIES)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    now = datetime.now(UTC) - timedelta(minutes=1)
    (tmp_path / "briefing.toml").write_text(
        "[service]\npoll_minutes = 0.05\nsummarise_concurrency = 1\ndeliver_seconds = 0.5\n"
        "digest_max_stories = 8\n", encoding="utf-8")
    write_articles(tmp_path / "articles")
    db = open_database(StoreSettings(data_dir=str(tmp_path / "data")))
    with db.session() as session:  # a reader whose digest is due right now
        session.add(SubscriberRow(chat_id="42", timezone="UTC", digest_time=now.strftime("%H:%M")))
    db.close()
    return tmp_path


@pytest.fixture
def slow_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=lambda req: Reply.content(good_answer(req)).with_delay(0.6)) as fake:
        yield fake


def start(workdir: Path, fake: FakeOpenAI) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BRIEFING_"))}
    env.update(OPENAI_BASE_URL=fake.base_url, BRIEFING_MODEL="fake-model",
               BRIEFING_DATA_DIR=str(workdir / "data"),
               BRIEFING_ARTICLES_DIR=str(workdir / "articles"))
    return subprocess.Popen(
        [sys.executable, "-m", "briefing", "run", "--deliver-to", str(workdir / "out.jsonl")],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def store_state(workdir: Path) -> tuple[int, int, int, int]:
    """(articles, stories, stories summarised, digest deliveries sent)."""
    db = open_database(StoreSettings(data_dir=str(workdir / "data")), migrate=False)
    try:
        with db.session() as session:
            articles = session.scalar(select(func.count(ArticleRow.id))) or 0
            stories = session.scalar(select(func.count(StoryRow.id))) or 0
            done = session.scalar(select(func.count(StoryRow.id)).where(
                StoryRow.summarised_version >= StoryRow.version, StoryRow.version > 0)) or 0
            sent = session.scalar(select(func.count(DeliveryRow.id)).where(
                DeliveryRow.state == "sent")) or 0
            return articles, stories, done, sent
    finally:
        db.close()


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_sigkill_mid_summaries_loses_nothing_and_repeats_no_paid_call(
    workdir: Path, slow_llm: FakeOpenAI
) -> None:
    process = start(workdir, slow_llm)
    try:
        wait_for(lambda: slow_llm.calls >= 2)  # summaries under way, one call in flight
        kill(process)
        assert store_state(workdir)[2] < 4  # killed before it finished
        process = start(workdir, slow_llm)
        wait_for(lambda: store_state(workdir)[2] == 4 and store_state(workdir)[3] == 1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    articles, stories, done, _sent = store_state(workdir)
    assert (articles, stories, done) == (5, 4, 4)
    bodies = Counter(json.dumps(r.json, sort_keys=True) for r in slow_llm.requests)
    repeated = [n for n in bodies.values() if n > 1]
    assert sum(n - 1 for n in repeated) <= 1  # only the call in flight at the kill


def test_sigkill_during_delivery_never_duplicates_or_drops_a_part(
    workdir: Path, slow_llm: FakeOpenAI
) -> None:
    slow_llm.default = lambda req: Reply.content(good_answer(req))
    out = workdir / "out.jsonl"
    process = start(workdir, slow_llm)
    try:
        for delay in (0.8, 1.2, 1.6):  # kill at several moments of the first minutes' work
            time.sleep(delay)
            kill(process)
            process = start(workdir, slow_llm)
        wait_for(lambda: store_state(workdir)[3] == 1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    keys = [json.loads(line)["key"] for line in out.read_text().splitlines()]
    assert len(keys) == len(set(keys))
    db = open_database(StoreSettings(data_dir=str(workdir / "data")), migrate=False)
    with db.session() as session:
        row = session.scalars(select(DeliveryRow).where(DeliveryRow.state == "sent")).one()
        assert keys == [f"{row.key}#{i}" for i in range(row.sent_parts)]
        assert len(row.story_ids) == 4 and row.sent_parts == 1 + 4  # header, then each story
        recorded = session.scalars(select(SentMessageRow.part).where(
            SentMessageRow.delivery_id == row.id).order_by(SentMessageRow.part)).all()
        assert recorded == list(range(row.sent_parts))  # each part recorded once, in order
    db.close()


# --- one cycle, in process: what it reports --------------------------------------------


def test_a_cycle_reports_what_it_did_and_a_rejected_file_once(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    import asyncio

    from briefing.render.file_channel import FileChannel
    from briefing.service.runner import CycleReport, Service
    from tests.conftest import service_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
    (folder / "broken.txt").write_bytes(b"\xff\xfe\x00\xd8" * 8)  # no text in any encoding
    settled = time.time() - 60  # written a minute ago: the watcher takes them at once
    for path in folder.iterdir():
        os.utime(path, (settled, settled))
    settings = service_settings(store_url, folder)
    settings = settings.model_copy(update={"store": settings.store.model_copy(
        update={"data_dir": str(tmp_path / "data")})})
    (tmp_path / "data").mkdir()
    seen: list[CycleReport] = []

    async def two_cycles() -> tuple[CycleReport, CycleReport]:
        service = Service(settings, db, FileChannel(tmp_path / "out.jsonl"),
                          on_cycle=seen.append)
        first = await service.cycle()
        # A new process (a restart) does not report the same rejected file again.
        again = Service(settings, db, FileChannel(tmp_path / "out.jsonl"))
        return first, await again.cycle()

    first, second = asyncio.run(two_cycles())
    assert seen == [first]
    assert (first.ingested, len(first.briefed), first.waiting) == (2, 1, 0)
    assert len(first.errors) == 1 and "broken.txt" in first.errors[0]
    assert second.ingested == 0 and second.errors == ()

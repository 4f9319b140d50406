"""Shared fixtures: seed articles, the shared corpus, and the fake OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from briefing.config import Settings, load_settings
from briefing.sources.load import load_story
from briefing.sources.models import Document, Story
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"
SEEDS = [FIXTURES / "000_42c6c87a2fe0d3f2.txt", FIXTURES / "001_e65f6cd78ecb6eaa.txt"]


def shared_path(*parts: str) -> Path:
    """A path in ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} is not present next to the project")
    return path


def orangesum() -> list[dict[str, Any]]:
    """The 20 OrangeSum articles of the shared corpus (skips when absent)."""
    path = shared_path("corpus", "orangesum", "test-first20.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def text_story(*texts: str, language: str = "fr") -> Story:
    """A story made of plain texts, ids S1, S2, ..."""
    docs = [Document(f"S{i}", t, language) for i, t in enumerate(texts, 1)]
    return Story(tuple(docs))


@pytest.fixture
def offline_settings() -> Settings:
    """Settings with no LLM configured, whatever the environment says."""
    return load_settings(env={})


@pytest.fixture(scope="session")
def seed_story() -> Story:
    """The two seed articles as one story."""
    return load_story([str(p) for p in SEEDS], load_settings(env={}).fetch)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server on 127.0.0.1, stopped after the test."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm_settings(fake_openai: FakeOpenAI) -> Settings:
    """Settings pointing the LLM engine at the fake server, with fast timeouts."""
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "BRIEFING_MODEL": "fake-model",
           "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    settings = load_settings(env=env)
    llm = settings.llm.model_copy(update={"timeout": 2.0, "max_retries": 2})
    return settings.model_copy(update={"llm": llm})


# --- The store on both backends: SQLite file, and a throwaway PostgreSQL (tests/pg.py). ---

from briefing.config import StoreSettings  # noqa: E402
from briefing.store.db import Database, open_database  # noqa: E402
from tests.pg import fresh_database, session_cluster_url  # noqa: E402


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a database on a PostgreSQL cluster started once per session (skips if unavailable)."""
    with session_cluster_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store: a SQLite file in tmp_path, or a database of its own on the cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'briefing.db'}"
        return
    with fresh_database(request.getfixturevalue("pg_url")) as url:
        yield url


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    """The store opened (and migrated) on `store_url`, closed after the test."""
    database = open_database(StoreSettings(url=store_url))
    try:
        yield database
    finally:
        database.close()


def service_settings(store_url: str, folder: Path, **service: object) -> Settings:
    """Offline settings for the service on `store_url`, watching `folder`."""
    settings = load_settings(env={})
    return settings.model_copy(update={
        "store": StoreSettings(url=store_url),
        "sources": settings.sources.model_copy(update={"folder": str(folder)}),
        "service": settings.service.model_copy(update=service),
    })

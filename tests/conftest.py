"""Shared fixtures and helpers: each test in a directory and environment of its own, seed
articles, the shared corpus, the fake OpenAI server, the command line run in-process and as
a process, the store on both backends, and feed entries for ingestion tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from briefing.config import Settings, load_settings
from briefing.sources.feeds.parse import TEASER_WORDS
from briefing.sources.load import load_story
from briefing.sources.models import Document, Story
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"
SEEDS = [FIXTURES / "000_42c6c87a2fe0d3f2.txt", FIXTURES / "001_e65f6cd78ecb6eaa.txt"]
# Variables that change what briefing does: a developer's key, model or data folder.
OUR_VARIABLES = ("OPENAI_", "BRIEFING_", "TELEGRAM_")
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(OUR_VARIABLES)}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test runs in its own empty directory with none of our variables set, so neither
    a `./briefing.toml` nor a developer's environment can change what it sees."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(OUR_VARIABLES):
            monkeypatch.delenv(name)


# --- the command line ---------------------------------------------------------------------


def invoke(*args: str, stdin: bytes | str | None = None,
           env: Mapping[str, str] | None = None) -> Result:
    """`briefing ARGS` in this process (stdout and stderr apart), with `env` set meanwhile."""
    from briefing.cli.app import app

    # A wide terminal, so that rich tables keep each row on one line.
    return CliRunner().invoke(app, list(args), input=stdin,
                              env={"COLUMNS": "200", **(env or {})})


def run(*args: str, cwd: Path, stdin: bytes = b"", env: Mapping[str, str] | None = None,
        **extra: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m briefing ARGS` in `cwd` with a clean environment plus `env` and `extra`."""
    proc = subprocess.run(
        [sys.executable, "-m", "briefing", *args], cwd=cwd, input=stdin,
        env={**CLEAN_ENV, **(env or {}), **extra}, capture_output=True, timeout=120, check=False,
    )
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       proc.stdout.decode(), proc.stderr.decode())


def one_line_error(proc: subprocess.CompletedProcess[str] | Result, code: int,
                   *words: str) -> None:
    """Assert the command failed with `code` and one `error: ...` line holding `words`."""
    code_seen = proc.returncode if isinstance(proc, subprocess.CompletedProcess) else (
        proc.exit_code)
    assert code_seen == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


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


# --- feed entries: three articles that name old years in passing ---------------------------

# Each briefs offline with two quotes.
NEWS = {
    "tram": ("Le tramway de Tours repart",
             "Le chantier du tramway de Tours a repris lundi après huit mois d'arrêt, a annoncé "
             "la métropole. Lancé en octobre 2016, le projet devait relier la gare au campus des "
             "Deux-Lions en 2019. « Nous avons enfin trouvé un accord avec l'entreprise de génie "
             "civil », a déclaré le président de la métropole, Frédéric Augis, lors d'une "
             "conférence de presse. Les travaux coûteront 48 millions d'euros de plus que prévu, "
             "selon le dernier budget voté en 1998 pour la première ligne et révisé depuis. "
             "L'opposition dénonce un dérapage. « Les habitants paient deux fois le retard de ce "
             "chantier », a estimé la conseillère Claire Martin. La mise en service est "
             "désormais attendue pour l'automne 2027."),
    "glacier": ("Le glacier d'Argentière recule de 38 mètres",
                "Des chercheurs de l'université de Grenoble ont mesuré un recul de 38 mètres du "
                "glacier d'Argentière en un an. Les relevés, commencés en octobre 2016, montrent "
                "une accélération nette depuis trois étés. « Ce rythme dépasse nos pires "
                "scénarios », explique la glaciologue Anne Dubois, qui mesure le front de glace "
                "depuis quinze ans. L'équipe a installé douze balises GPS sur la langue du "
                "glacier. « Nous perdons l'équivalent d'un immeuble de dix étages chaque "
                "saison », ajoute son collègue Marc Rivière. Les résultats seront publiés dans "
                "la revue Nature Geoscience au printemps."),
    "rail": ("Une ligne directe Lyon-Turin en juin",
             "La compagnie ferroviaire Trenitalia lancera en juin une ligne directe entre Lyon et "
             "Turin, avec quatre allers-retours quotidiens. Le tunnel, en travaux depuis octobre "
             "2016, ne sera pas prêt avant 2032, et les trains emprunteront l'ancienne ligne du "
             "Fréjus. « C'est une étape pour le rail européen », a estimé son directeur Marco "
             "Bellini lors d'une conférence de presse à Milan. Les billets seront vendus à "
             "partir de 29 euros. « Nous visons un million de voyageurs la première année », "
             "a-t-il ajouté. La SNCF, concurrente sur cet axe, n'a pas souhaité réagir."),
}


def news_page(key: str, head: str = "") -> bytes:
    """The article's page: a title of its own (with the site's name), `head` as metadata."""
    title, text = NEWS[key]
    return (f"<html><head><title>{title} | Le Fil</title>{head}</head><body><article>"
            f"<h1>{title}</h1><p>{text}</p></article></body></html>").encode()


def news_item(base: str, key: str, published: datetime | None, *, full: bool,
              title: str | None = None) -> str:
    """An RSS item: the whole article in its description (`full`), else a one-line teaser."""
    body = NEWS[key][1] * (1 + TEASER_WORDS // 100) if full else "Le point sur l'affaire."
    date = f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>" if published else ""
    return (f"<item><title>{title or NEWS[key][0]}</title><link>{base}/{key}</link>"
            f"<guid>{key}</guid>{date}<description>{body}</description></item>")


def news_feed(*items: str) -> bytes:
    """An RSS document named "Le Fil" holding `items`."""
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Le Fil</title>{''.join(items)}</channel></rss>").encode()

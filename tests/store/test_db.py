"""Opening the store: a bad data directory or database file is a configuration error;
migrations run once however many workers open it at once; a SQLite file serves one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from briefing.config import StoreSettings, load_settings
from briefing.errors import ConfigError
from briefing.store.db import Database, open_database
from tests.conftest import CLEAN_ENV
from tests.pg import fresh_database


def test_a_data_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        open_database(load_settings(env={"BRIEFING_DATA_DIR": str(data)}).store)


def test_a_database_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "briefing.db").write_bytes(b"these are notes, not a SQLite database\n" * 50)
    with pytest.raises(ConfigError, match="not a usable database: file is not a database"):
        open_database(load_settings(env={"BRIEFING_DATA_DIR": str(tmp_path)}).store)


def test_an_unreachable_database_server_is_named_without_its_password() -> None:
    url = "postgresql+psycopg://reader:hunter2secret@127.0.0.1:1/briefing"
    with pytest.raises(ConfigError, match="cannot open the store") as info:
        open_database(load_settings(env={"BRIEFING_DB_URL": url}).store)
    assert "hunter2secret" not in str(info.value)


@pytest.mark.parametrize(
    ("setup", "env", "args"),
    [
        ("data-file", {}, ["stories"]),
        ("junk-db", {}, ["stories"]),
        ("none", {"BRIEFING_LLM_TIMEOUT": "-3"}, ["summarize", "x.txt"]),
        ("none", {"BRIEFING_ALLOW_PRIVATE_URLS": "perhaps"}, ["stories"]),
        ("config-dir", {}, ["summarize", "--config", "conf", "x.txt"]),
        ("bad-config", {}, ["summarize", "--config", "conf.toml", "x.txt"]),
    ],
)
def test_configuration_problems_exit_3_with_one_line(
    tmp_path: Path, setup: str, env: dict[str, str], args: list[str]
) -> None:
    data = tmp_path / "data"
    if setup == "data-file":
        data.write_text("x")
    elif setup == "junk-db":
        data.mkdir()
        (data / "briefing.db").write_bytes(b"junk" * 1000)
    elif setup == "config-dir":
        (tmp_path / "conf").mkdir()
    elif setup == "bad-config":
        (tmp_path / "conf.toml").write_text("[brief]\nmin_quotes = 9\n")
    (tmp_path / "x.txt").write_text("Un article. " * 30, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "briefing", *args], cwd=tmp_path, capture_output=True, text=True,
        env={**CLEAN_ENV, "BRIEFING_DATA_DIR": str(data), **env}, timeout=120, check=False,
    )
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_workers_opening_an_empty_postgresql_store_at_once_migrate_it_once(pg_url: str) -> None:
    with fresh_database(pg_url) as url:
        # Four worker processes start together on a new database: without the migration
        # lock, two would each create the tables and one would fail on "already exists".
        opening = ("from briefing.config import StoreSettings; "
                   "from briefing.store.db import open_database; "
                   f"open_database(StoreSettings(url={url!r})).close()")
        procs = [subprocess.Popen([sys.executable, "-c", opening], env=CLEAN_ENV,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        errors = [proc.communicate(timeout=120)[1] for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * 4, errors
        db = open_database(StoreSettings(url=url), migrate=False)
        try:
            assert db.schema_is_current()
            with db.engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            assert len(versions) == 1
        finally:
            db.close()


def test_a_store_behind_this_release_is_not_current(db: Database) -> None:
    assert db.schema_is_current()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    assert not db.schema_is_current()


def test_a_sqlite_file_is_held_by_one_process_at_a_time(tmp_path: Path) -> None:
    settings = StoreSettings(url=f"sqlite:///{tmp_path / 'one.db'}")
    first, second = open_database(settings), open_database(settings)
    try:
        with first.only_process(), \
                pytest.raises(ConfigError, match="another `briefing run` is using"), \
                second.only_process():
            pass
        with second.only_process():  # let go at the end of the first block
            pass
    finally:
        first.close()
        second.close()


def test_postgresql_is_shared_by_any_number_of_processes(pg_url: str) -> None:
    with fresh_database(pg_url) as url:
        first, second = (open_database(StoreSettings(url=url)) for _ in range(2))
        try:
            assert first.shared
            with first.only_process(), second.only_process():
                pass
        finally:
            first.close()
            second.close()

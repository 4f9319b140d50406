"""Opening the store: a bad data directory or database file is a configuration error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from briefing.config import load_settings
from briefing.errors import ConfigError
from briefing.store.db import open_database
from tests.conftest import CLEAN_ENV


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

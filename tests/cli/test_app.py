"""What every command shares: --version, -v / -q, and help that documents every command and
option without type placeholders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import typer

from briefing.cli.app import app
from tests.conftest import invoke

# Typer's type column: <bool>, <str>, <int>, <path>, <float>, <list[str]> ...
PLACEHOLDER = re.compile(r"<[a-z][a-z_\[\], |]*>")


def command_paths() -> Iterator[tuple[list[str], Any]]:
    """Every command and group of the app, with the words that reach it."""
    todo: list[tuple[list[str], Any]] = [([], typer.main.get_command(app))]
    while todo:
        path, command = todo.pop()
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            todo.append(([*path, name], sub))


PATHS = [path for path, _ in command_paths()]


def test_the_walk_finds_the_commands() -> None:
    # A broken walk would pass every check below: make sure it reaches nested commands.
    assert {"summarize", "run"} <= {p[0] for p in PATHS if p}
    assert ["feeds", "add"] in PATHS and ["llm", "check"] in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "briefing")
def test_help_shows_no_type_placeholders(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.stderr
    assert "--help" in result.stdout and "Show this message and exit." in result.stdout
    assert PLACEHOLDER.findall(result.stdout) == []


def test_every_command_and_option_says_what_it_is_for() -> None:
    missing = []
    for path, command in command_paths():
        name = " ".join(["briefing", *path])
        if not (command.help or "").strip():
            missing.append(name)
        missing += [f"{name} {param.name}" for param in command.params
                    if not (getattr(param, "help", None) or "").strip()]
    assert missing == []


def test_version_comes_from_the_package() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"briefing {version('briefing')}\n"


def test_verbose_and_quiet_are_accepted_but_not_together() -> None:
    assert invoke("-q", "db", "upgrade").exit_code == 0
    assert invoke("-v", "db", "upgrade").exit_code == 0
    both = invoke("-v", "-q", "db", "upgrade")
    assert both.exit_code == 2 and "not both" in both.stderr

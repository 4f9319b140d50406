"""Prompt templates are files, filled strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefing.config import PROMPTS_DIR
from briefing.errors import PromptError
from briefing.llm.prompts import render_prompt


def test_filling_a_template(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("Bonjour $name, voici $$5.")
    assert render_prompt(tmp_path, "hello", name="Claire") == "Bonjour Claire, voici $5."


def test_values_are_not_reinterpreted(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("<source>$body</source>")
    assert render_prompt(tmp_path, "t", body="$name ${x}") == "<source>$name ${x}</source>"


def test_missing_and_unexpected_variables_fail_loudly(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("$a and $b")
    with pytest.raises(PromptError, match=r"missing \['b'\]"):
        render_prompt(tmp_path, "t", a=1)
    with pytest.raises(PromptError, match=r"unexpected \['c'\]"):
        render_prompt(tmp_path, "t", a=1, b=2, c=3)


def test_missing_template_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="not found"):
        render_prompt(tmp_path, "nope")


def test_shipped_prompts_keep_the_article_out_of_the_instructions() -> None:
    system = (PROMPTS_DIR / "brief_system.txt").read_text()
    user = (PROMPTS_DIR / "brief_user.txt").read_text()
    assert "$sources" not in system and "$sources" in user
    assert user.rstrip().endswith("$sources")  # the article comes last, after static text

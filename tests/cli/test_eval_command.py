"""`briefing eval` without its extra: one line saying how to install it, exit 3."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import SEEDS, invoke, one_line_error

HINT = "install briefing[eval]: pip install 'briefing[eval]'"


def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"id": f"seed-{i}", "text": p.read_text(encoding="utf-8"), "language": "fr",
             "reference_abstract": "Amazon conteste le contrat JEDI."}
            for i, p in enumerate(SEEDS)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("module", ["rouge_score", "nltk"])
def test_eval_without_its_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    result = invoke("eval", str(corpus(tmp_path)), "--engine", "extractive", "--json")
    one_line_error(result, 3, module, HINT)
    assert result.stdout == ""


def test_the_chart_library_is_needed_only_for_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    path = corpus(tmp_path)
    report = invoke("eval", str(path), "--engine", "extractive", "--out",
                    str(tmp_path / "report.md"))
    one_line_error(report, 3, "matplotlib", HINT)
    assert not (tmp_path / "report.md").exists()
    figures = invoke("eval", str(path), "--engine", "extractive", "--json")
    assert figures.exit_code == 0, figures.stderr
    assert json.loads(figures.stdout)["overall"]["evaluated"] == 2

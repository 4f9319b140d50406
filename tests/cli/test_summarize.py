"""`briefing summarize` and `briefing extract`: output, exit codes, one-line errors.

In-process through Typer's runner; as a real process where the exit code itself or the
process (stdin from a device, an address-space limit, `<(...)`) is what is tested.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLEAN_ENV, FIXTURES, SEEDS, invoke, one_line_error, run
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.web_server import FakeWebServer


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


def test_json_output_is_one_object_with_offsets_into_the_extracted_text() -> None:
    result = invoke("summarize", "--json", *map(str, SEEDS))
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)  # fails unless exactly one JSON document
    assert data["engine"] == "extractive" and data["model"] is None
    assert set(data["usage"]) == {"calls", "prompt_tokens", "completion_tokens", "cached_tokens"}
    assert {"proposed", "verified", "repaired", "rejected"} <= set(data["citations"])
    sources = {s["id"]: s for s in data["story"]["sources"]}
    assert sources["S2"]["published"] == "2020-02" and sources["S1"]["language"] == "fr"
    extracted = {sid: invoke("extract", s["path"]).stdout[:-1] for sid, s in sources.items()}
    for brief in (data["briefs"]["fr"], data["briefs"]["en"]):
        assert brief["headline"] and brief["quotes"]
        for quote in brief["quotes"]:
            assert extracted[quote["source"]][quote["start"] : quote["end"]] == quote["text"]
        assert brief["points"]
        for point in brief["points"]:  # objects: the text and the sentences it rests on
            assert point["text"] and point["support"]
            for cited in point["support"]:
                assert set(cited) == {"source", "sentence", "start", "end", "text"}
                assert extracted[cited["source"]][cited["start"] : cited["end"]] == cited["text"]
    c = data["citations"]
    assert c["points_supported"] == c["points_proposed"] > 0 and c["points_dropped"] == 0
    assert data["rejected_points"] == []


def test_human_output_shows_both_briefs_and_which_engine_ran() -> None:
    result = invoke("summarize", *map(str, SEEDS))
    assert result.exit_code == 0, result.stderr
    assert "Français" in result.stdout and "English" in result.stdout
    assert "engine: extractive (offline)" in result.stdout
    assert "Translation needs an LLM" in result.stdout


def test_extract_drops_the_date_line_and_keeps_every_character() -> None:
    result = invoke("extract", str(SEEDS[1]))
    original = SEEDS[1].read_text(encoding="utf-8")
    assert result.exit_code == 0
    assert result.stdout.startswith("Amazon Web Services a déclaré lundi qu’il")
    assert result.stdout.strip() in original


def test_stdin_is_a_source() -> None:
    result = invoke("summarize", "--json", "-", stdin=SEEDS[0].read_bytes())
    assert result.exit_code == 0, result.stderr
    source = json.loads(result.stdout)["story"]["sources"][0]
    assert source["path"] == "-" and source["language"] == "fr"


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.txt", b"", ["empty"]),
        ("blank.txt", b"   \n\t \n", ["empty"]),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + bytes(200), ["binary"]),
        ("nul.txt", b"texte\x00\x01\x02" * 40, ["binary"]),
        ("bytes.txt", b"\x81\x8d\x8f\x90\x9d" * 50, ["undecodable"]),
        ("page.html", b"<html><body><nav>Menu</nav></body></html>", ["no article text"]),
        ("doc.pdf", b"%PDF-1.7", ["unsupported file type"]),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path, name: str, content: bytes,
                                            words: list[str]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    one_line_error(invoke("summarize", str(path)), 2, *words)


def test_missing_file_and_directory_exit_2(tmp_path: Path) -> None:
    one_line_error(invoke("summarize", str(tmp_path / "nope.txt")), 2, "no such file")
    one_line_error(invoke("extract", str(tmp_path)), 2, "directory")


def test_a_real_process_exits_2_on_bad_input_and_3_on_bad_configuration(
    tmp_path: Path,
) -> None:
    # The exit code the shell sees, not the runner's: the console script's own path.
    one_line_error(run("summarize", str(tmp_path / "nope.txt"), cwd=tmp_path), 2,
                   "no such file")
    (tmp_path / "briefing.toml").write_text('[llm]\napi_key = "sk-should-not-be-here"\n')
    proc = run("summarize", str(SEEDS[0]), cwd=tmp_path)
    one_line_error(proc, 3, "environment")
    assert "sk-should-not-be-here" not in proc.stderr


def test_url_source_through_a_local_server(web: FakeWebServer) -> None:
    web.route("/article", (FIXTURES / "nationalgeographic.co.uk.goats.html").read_bytes())
    result = invoke("summarize", "--json", web.url("/article"),
                    env={"BRIEFING_ALLOW_PRIVATE_URLS": "1"})
    assert result.exit_code == 0, result.stderr
    source = json.loads(result.stdout)["story"]["sources"][0]
    assert source["url"] == web.url("/article") and source["language"] == "en"
    assert source["title"]


def test_private_urls_are_refused_by_default(web: FakeWebServer) -> None:
    web.route("/article", b"<html><body><p>secret</p></body></html>")
    one_line_error(invoke("summarize", web.url("/article")), 2, "loopback")
    assert web.requests == []


def test_failing_url_exits_2(web: FakeWebServer) -> None:
    one_line_error(invoke("summarize", web.url("/missing"),
                          env={"BRIEFING_ALLOW_PRIVATE_URLS": "1"}), 2, "404")


def test_llm_engine_runs_when_a_base_url_is_configured() -> None:
    with FakeOpenAI(default=lambda req: Reply.content(good_answer(req))) as fake:
        result = invoke("summarize", "--json", *map(str, SEEDS),
                        env={"OPENAI_BASE_URL": fake.base_url, "BRIEFING_MODEL": "fake-model"})
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"] == "llm" and data["model"] == "fake-model"
    assert data["usage"]["calls"] == fake.calls == 1
    assert data["citations"]["rejected"] == 0


def test_config_file_in_the_current_directory_sets_limits(tmp_path: Path) -> None:
    (tmp_path / "briefing.toml").write_text("[brief]\nmax_points = 1\n")  # ./briefing.toml
    result = invoke("summarize", "--json", *map(str, SEEDS))
    briefs = json.loads(result.stdout)["briefs"].values()
    assert all(len(b["points"]) <= 1 for b in briefs)
    assert any(len(b["points"]) == 1 for b in briefs)


def test_a_config_file_holding_a_secret_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "conf.toml"
    config.write_text('[llm]\napi_key = "sk-should-not-be-here"\n')
    result = invoke("summarize", "--config", str(config), str(SEEDS[0]))
    one_line_error(result, 3, "environment")
    assert "sk-should-not-be-here" not in result.stderr + result.stdout


def test_unknown_engine_is_a_usage_error() -> None:
    one_line_error(invoke("summarize", "--engine", "magic", str(SEEDS[0])), 2,
                   "--engine must be auto, llm or extractive")


# --- inputs read within bounds ---------------------------------------------------------


def _address_space_limit() -> None:
    """Run in the child: 1 GiB of address space, so reading without a bound fails fast."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run_with_stdin_file(*args: str, cwd: Path, stdin: Path) -> subprocess.CompletedProcess[str]:
    with stdin.open("rb") as source:
        proc = subprocess.run(
            [sys.executable, "-m", "briefing", *args], cwd=cwd, stdin=source, env=CLEAN_ENV,
            capture_output=True, timeout=60, check=False, preexec_fn=_address_space_limit,
        )
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       proc.stdout.decode(), proc.stderr.decode())


def test_stdin_from_dev_zero_stops_at_the_cap_with_exit_2(tmp_path: Path) -> None:
    proc = run_with_stdin_file("summarize", "-", cwd=tmp_path, stdin=Path("/dev/zero"))
    one_line_error(proc, 2)
    assert proc.stderr.strip() == "error: stdin: larger than 5 MB; raise fetch.max_bytes"


def test_the_cap_follows_fetch_max_bytes(tmp_path: Path) -> None:
    (tmp_path / "briefing.toml").write_text("[fetch]\nmax_bytes = 1000\n")
    result = invoke("summarize", "-", stdin=SEEDS[0].read_bytes())
    assert result.stderr.strip() == "error: stdin: larger than 1 kB; raise fetch.max_bytes"
    one_line_error(invoke("extract", str(SEEDS[0])), 2, "larger than 1 kB")


def test_a_device_named_as_a_file_is_refused(tmp_path: Path) -> None:
    proc = run_with_stdin_file("summarize", "/dev/zero", cwd=tmp_path, stdin=Path("/dev/null"))
    one_line_error(proc, 2, "/dev/zero: is a character device, not an article file")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for <(...)")
def test_process_substitution_is_a_source(tmp_path: Path) -> None:
    command = f'"{sys.executable}" -m briefing summarize --json <(cat "{SEEDS[0]}")'
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=CLEAN_ENV,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    source = json.loads(proc.stdout)["story"]["sources"][0]
    assert source["path"].startswith("/dev/fd/") and source["language"] == "fr"


def test_notes_say_how_the_text_was_read_and_why_a_brief_is_withheld(tmp_path: Path) -> None:
    # Damaged UTF-8 (a stray cp1252 apostrophe) and no sentence at all (no end punctuation).
    path = tmp_path / "raw.txt"
    path.write_bytes("le conseil municipal a voté le budget de la ville ".encode() * 50
                     + b"l\x92opposition proteste")
    result = invoke("summarize", "--json", str(path))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["notes"][0] == f"{path}: 1 invalid UTF-8 byte sequence replaced with U+FFFD"
    assert "no sentence" in data["withheld"]
    assert data["notes"][-1] == f"withheld from readers: {data['withheld']}"
    human = invoke("summarize", str(path))
    assert human.exit_code == 0 and "note: withheld from readers: " in human.stdout

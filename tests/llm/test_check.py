"""`briefing llm check`, in-process with typer's CliRunner, against the fake OpenAI server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import briefing.cli.llm  # noqa: F401 - registers `briefing llm` on the app
from briefing.cli.app import app
from briefing.llm.formats import CAPABILITIES
from tests.fakes.openai_server import FakeOpenAI, Reply

KEY = "sk-check-secret-not-real"
# The environment a user might have, cleared so only each test's settings count.
CLEARED: dict[str, str | None] = {name: None for name in (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "BRIEFING_MODEL", "BRIEFING_ENGINE",
    "BRIEFING_LLM_TIMEOUT", "BRIEFING_CONTEXT_TOKENS", "BRIEFING_CONFIG")}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no ./briefing.toml from the working directory
    CAPABILITIES.clear()
    yield
    CAPABILITIES.clear()


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=["fake-model"], default=Reply.content('{"ok": true}')) as fake:
        yield fake


def check(*args: str, **env: str) -> tuple[int, list[str]]:
    """Run `briefing llm check ARGS`; the exit code and the output lines."""
    result = CliRunner().invoke(app, ["llm", "check", *args], env={**CLEARED, **env})
    output = result.output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    return result.exit_code, output.strip().splitlines()


def line(lines: list[str], start: str) -> str:
    """The one output line that starts with `start` (after the status column)."""
    found = [li for li in lines if li[5:].startswith(start)]
    assert len(found) == 1, lines
    return found[0]


def test_a_capable_server_is_usable_with_json_schema(server: FakeOpenAI) -> None:
    server.props = {"default_generation_settings": {"n_ctx": 32768}}
    code, lines = check("--base-url", server.base_url, "--model", "fake-model")
    assert code == 0, lines
    assert line(lines, "reachable").startswith("ok")
    assert line(lines, "model fake-model is listed").startswith("ok")
    assert line(lines, "context size: 32768 tokens (llama.cpp GET /props n_ctx)").startswith("ok")
    for fmt in ("json_schema", "json_object+schema", "json_object", "plain"):
        assert line(lines, f"{fmt}: supported (").startswith("ok")
    assert line(lines, "usable: briefs will ask for json_schema").startswith("ok")
    tiny = server.chat_requests[0].json
    assert tiny["max_tokens"] <= 100 and tiny["model"] == "fake-model"
    assert server.format_counts() == {"json_schema": 1, "json_object+schema": 1,
                                      "json_object": 1, "plain": 1}


def test_llama_cpp_python_is_usable_with_json_object_and_its_500_is_asked_once(
    server: FakeOpenAI,
) -> None:
    server.formats = {"json_object+schema", "json_object", "plain"}
    server.rejection = "llama_cpp_python"
    code, lines = check("--base-url", server.base_url, "--model", "fake-model")
    assert code == 0, lines
    rejected = line(lines, "json_schema: not supported")
    assert rejected.startswith("info") and "500" in rejected
    assert line(lines, "usable: briefs will ask for json_object+schema").startswith("ok")
    assert server.format_counts()["json_schema"] == 1  # no SDK retry of the 500


def test_a_context_smaller_than_the_setting_is_a_configuration_failure(
    server: FakeOpenAI,
) -> None:
    server.props = {"default_generation_settings": {"n_ctx": 4096}}
    code, lines = check("--base-url", server.base_url, "--model", "fake-model",
                        BRIEFING_CONTEXT_TOKENS="16000")
    assert code == 3, lines
    found = line(lines, "context size: 4096 tokens")
    assert found.startswith("fail") and "BRIEFING_CONTEXT_TOKENS=4096" in found


def test_vllm_max_model_len_is_the_context_size(server: FakeOpenAI) -> None:
    server.model_info = {"fake-model": {"max_model_len": 8192}}
    code, lines = check("--base-url", server.base_url, "--model", "fake-model",
                        BRIEFING_CONTEXT_TOKENS="8000")
    assert code == 0, lines
    assert "context size: 8192 tokens (GET /models max_model_len)" in line(lines, "context")


@pytest.mark.parametrize(("shown", "expected"), [
    ({"parameters": "temperature 0.7\nnum_ctx 8192",
      "model_info": {"llama.context_length": 131072}},
     "context size: 8192 tokens (Ollama /api/show num_ctx)"),
    ({"parameters": "", "model_info": {"llama.context_length": 131072}},
     "context size: 131072 tokens the model was trained for (Ollama /api/show "
     "llama.context_length)"),
])
def test_ollama_context_comes_from_api_show(
    server: FakeOpenAI, shown: dict[str, object], expected: str
) -> None:
    server.ollama_show = shown
    code, lines = check("--base-url", server.base_url, "--model", "fake-model",
                        BRIEFING_CONTEXT_TOKENS="8000")
    assert code == 0, lines
    assert expected in line(lines, "context")


def test_an_unreported_context_says_what_is_assumed(server: FakeOpenAI) -> None:
    code, lines = check("--base-url", server.base_url, "--model", "fake-model")
    assert code == 0
    assert line(lines, "context size: not reported").startswith("info")
    assert "16000" in line(lines, "context size")


def test_a_model_not_listed_is_a_warning_when_the_server_answers_anyway(
    server: FakeOpenAI,
) -> None:
    code, lines = check("--base-url", server.base_url, "--model", "llama3.1:8b")
    assert code == 0, lines
    assert line(lines, "model llama3.1:8b is not listed").startswith("warn")
    assert "fake-model" in line(lines, "model llama3.1:8b")


def test_a_model_the_server_does_not_serve_is_not_usable(server: FakeOpenAI) -> None:
    server.default = Reply.error(404, "The model `nope` does not exist.", code="model_not_found")
    code, lines = check("--base-url", server.base_url, "--model", "nope")
    assert code == 2, lines
    assert line(lines, "json_schema: the server answered 404").startswith("fail")
    assert server.calls == 1  # not a format problem: no further formats tried
    assert line(lines, "not usable").startswith("fail")


def test_an_unreachable_server_is_one_failure_line() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, lines = check("--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m")
    assert code == 2
    assert [li[:4] for li in lines] == ["info", "fail"]
    assert lines[-1].endswith(f"cannot reach http://127.0.0.1:{port}/v1")


def test_no_server_configured_is_a_configuration_error() -> None:
    code, lines = check()
    assert code == 3 and len(lines) == 1 and lines[0].startswith("fail no LLM server")


def test_the_api_key_is_never_printed(server: FakeOpenAI) -> None:
    code, lines = check("--model", "fake-model", OPENAI_BASE_URL=server.base_url,
                        OPENAI_API_KEY=KEY)
    assert code == 0 and "API key set" in lines[0]
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    server.default = Reply.error(401, f"Incorrect API key provided: {KEY}.",
                                 type="invalid_api_key")
    code, lines = check("--model", "fake-model", OPENAI_BASE_URL=server.base_url,
                        OPENAI_API_KEY=KEY)
    assert code == 3
    assert "refused the API key (401)" in line(lines, "json_schema")
    server.default = Reply.error(400, f"Bad request from key {KEY}")
    code, lines = check("--model", "fake-model", OPENAI_BASE_URL=server.base_url,
                        OPENAI_API_KEY=KEY)
    assert code == 2 and "***" in line(lines, "json_schema")
    assert all(KEY not in li for li in lines)


def test_a_bad_config_file_is_one_line_and_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[llm\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["llm", "check", "--config", str(bad)], env=CLEARED)
    assert result.exit_code == 3
    assert result.output.strip().startswith("error: ") and len(result.output.splitlines()) == 1

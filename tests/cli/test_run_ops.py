"""`briefing run` as an operator sees it, as real processes: one process per SQLite file,
and the `--http` endpoint (health, readiness, Prometheus metrics)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.cli.test_service import Lines, env, stop
from tests.conftest import CLEAN_ENV, one_line_error, run
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(home: Path, *run_options: str, **extra: str) -> subprocess.Popen[bytes]:
    """`briefing run RUN_OPTIONS` in `home`, polling once an hour (one cycle at start)."""
    return subprocess.Popen(
        [sys.executable, "-m", "briefing", "run", *run_options], cwd=home,
        env={**CLEAN_ENV, **env(home), "BRIEFING_SERVICE__POLL_MINUTES": "60", **extra},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(metrics: str, name: str) -> float:
    """The value of one sample (`name` with its labels as written) of the exposition text."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_a_second_run_on_the_same_sqlite_file_is_refused_in_one_line(home: Path) -> None:
    first = start(home)
    try:
        Lines(first).until(" cycle: ")
        second = run("run", cwd=home, env=env(home))
    finally:
        code = stop(first)
    one_line_error(second, 3, "another `briefing run` is using", str(home / "data"),
                   "PostgreSQL")
    assert code == 0


def test_a_run_killed_outright_leaves_no_lock_behind(home: Path) -> None:
    first = start(home)
    Lines(first).until(" cycle: ")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    again = start(home)
    try:
        lines = Lines(again).until(" cycle: ")
    finally:
        code = stop(again)
    assert not any("another `briefing run`" in line for line in lines)
    assert code == 0


def test_http_serves_health_readiness_and_the_cycles_metrics(home: Path) -> None:
    port = free_port()
    proc = start(home, "--http", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    try:
        Lines(proc).until(" cycle: ")
        health = get(f"{base}/healthz")
        ready = get(f"{base}/readyz")
        status, metrics = get(f"{base}/metrics")
    finally:
        code = stop(proc)
    assert health == (200, '{"status": "alive"}\n')
    assert ready[0] == 200
    checks = json.loads(ready[1])["checks"]
    # Offline and without a bot: the store is the one thing to be ready.
    assert [(c["name"], c["ok"]) for c in checks] == [("database", True)]
    assert status == 200
    # The two seed articles came from the folder and make one story (see test_service).
    assert sample(metrics, 'briefing_articles_ingested_total{source="folder"}') == 2
    assert sample(metrics, 'briefing_articles_ingested_total{source="feed"}') == 0
    assert sample(metrics, 'briefing_stories_briefed_total{outcome="briefed"}') == 1
    # The offline engine quotes the articles' own sentences: each is found as written.
    assert sample(metrics, 'briefing_checks_total{item="quote",result="verified"}') >= 1
    assert sample(metrics, 'briefing_checks_total{item="quote",result="rejected"}') == 0
    assert sample(metrics, "briefing_outbox_depth") == 0  # no reader yet
    assert "briefing_llm_call_seconds_bucket" in metrics
    assert code == 0


def test_http_with_no_address_to_bind_is_a_configuration_error(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run("run", "--http", f"127.0.0.1:{port}", cwd=home, env=env(home))
    # What it would run is said first; then the one error line, and the exit code.
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: --http: cannot listen on http://127.0.0.1:{port}: Address already in use")


def test_http_wants_host_and_port(home: Path) -> None:
    proc = run("run", "--http", "8080", cwd=home, env=env(home))
    one_line_error(proc, 2, "HOST:PORT")


def test_readiness_asks_the_llm_server_and_telegram(home: Path) -> None:
    port = free_port()
    with FakeTelegram() as tg, FakeOpenAI(models=["fake-model"]) as llm:
        proc = start(home, "--http", f"127.0.0.1:{port}",
                     TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_BASE_URL=tg.base_url,
                     OPENAI_BASE_URL=llm.base_url, BRIEFING_MODEL="fake-model",
                     OPENAI_API_KEY="sk-test-not-a-real-key")
        try:
            Lines(proc).until(" cycle: ")
            status, body = get(f"http://127.0.0.1:{port}/readyz")
            models_asked = [r for r in llm.requests if r.path.endswith("/models")]
            get_me = len(tg.requests_for("getMe"))
        finally:
            code = stop(proc)
    checks = {c["name"]: c for c in json.loads(body)["checks"]}
    assert status == 200, body
    assert set(checks) == {"database", "llm", "telegram"}
    assert all(c["ok"] for c in checks.values())
    assert "model fake-model is listed" in checks["llm"]["detail"]
    assert "output format json_schema" in checks["llm"]["detail"]
    assert checks["telegram"]["detail"].startswith("getMe ok: @")
    assert models_asked and get_me >= 1
    assert "sk-test-not-a-real-key" not in body and tg.token not in body
    assert code == 0


def test_readiness_fails_while_the_llm_server_is_unreachable(home: Path) -> None:
    port = free_port()
    proc = start(home, "--http", f"127.0.0.1:{port}",
                 OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
                 BRIEFING_MODEL="fake-model", BRIEFING_SERVICE__OFFLINE_FALLBACK="true")
    try:
        Lines(proc).until(" cycle: ", timeout=120)
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        health = get(f"http://127.0.0.1:{port}/healthz")[0]
    finally:
        code = stop(proc)
    checks = {c["name"]: c for c in json.loads(body)["checks"]}
    assert status == 503 and health == 200
    assert checks["database"]["ok"] and not checks["llm"]["ok"]
    assert "cannot reach" in checks["llm"]["detail"]
    assert code == 0

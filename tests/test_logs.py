"""Secrets never reach the logs, whoever logs them; `--log-format json` writes one JSON
object per record."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from briefing.config import load_settings
from briefing.logs import (
    JsonFormatter,
    LogFormat,
    RedactSecrets,
    redact,
    secrets_of,
    setup_logging,
)
from tests.conftest import invoke


def test_tokens_and_keys_are_redacted_from_every_logger() -> None:
    settings = load_settings(env={"TELEGRAM_BOT_TOKEN": "123456:SECRET-token-value",
                                  "OPENAI_API_KEY": "sk-test-abcdef123456"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    logger = logging.getLogger("httpx.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("HTTP Request: POST %s", "https://api.telegram.org/bot123456:SECRET-token-value"
                    "/getUpdates")
        logger.info("key=%s", "sk-test-abcdef123456")
        try:
            raise RuntimeError("failed with sk-test-abcdef123456")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "SECRET-token-value" not in output and "sk-test-abcdef123456" not in output
    assert output.count("***") >= 3 and "getUpdates" in output


# --- JSON lines (`--log-format json`) ------------------------------------------------------

TOKEN, KEY = "123456:SECRET-token-value", "sk-test-abcdef123456"
ISO_UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's capture handlers, as a fresh `briefing` process
    finds it (setup_logging leaves a root that has handlers alone); restored afterwards.

    A context manager, not a fixture: pytest adds its handlers after the fixtures ran."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield root
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, root.level = handlers, level


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone 5.5 hours off UTC, so that a local time cannot pass for UTC."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def json_lines(output: str) -> list[dict[str, Any]]:
    """Each line of `output` as a JSON object (fails on a line that is not one)."""
    records = [json.loads(line) for line in output.splitlines()]
    assert all(isinstance(r, dict) for r in records)
    return records


def log_through_setup(monkeypatch: pytest.MonkeyPatch, log_format: LogFormat,
                      env: dict[str, str]) -> str:
    """Configure logging as the CLI does (setup_logging, then redact), log a message, a
    secret in the message, in the args and in a traceback, and return what stderr got."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with bare_root():
        setup_logging(False, log_format)
        redact(load_settings(env=env))
        logger = logging.getLogger("briefing.test_logs")
        logger.warning("first line\nsecond line")
        logger.warning("HTTP Request: POST https://api.telegram.org/bot%s/getUpdates", TOKEN)
        logger.error(f"key={KEY} refused")
        try:
            raise RuntimeError(f"failed with {KEY}")
        except RuntimeError:
            logger.exception("boom")
    return stream.getvalue()


def test_json_mode_writes_one_object_per_record(monkeypatch: pytest.MonkeyPatch) -> None:
    output = log_through_setup(monkeypatch, LogFormat.JSON, env={})
    records = json_lines(output)
    # Four records, four lines: the message's own newline is escaped inside the JSON.
    assert len(records) == 4
    assert records[0]["message"] == "first line\nsecond line"
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert record["logger"] == "briefing.test_logs"
        assert ISO_UTC_MS.match(record["time"]), record["time"]
    assert [r["level"] for r in records] == ["WARNING", "WARNING", "ERROR", "ERROR"]
    assert "exc" not in records[0] and "worker" not in records[0]
    assert records[3]["message"] == "boom"
    assert records[3]["exc"].startswith("Traceback (most recent call last):")
    assert "RuntimeError" in records[3]["exc"]


def test_json_time_is_utc_with_milliseconds(far_from_utc: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    before = datetime.now(UTC)
    output = log_through_setup(monkeypatch, LogFormat.JSON, env={})
    after = datetime.now(UTC)
    for record in json_lines(output):
        when = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        # Truncated to the millisecond, so up to 1 ms before `before`.
        assert before - timedelta(milliseconds=1) <= when <= after


def test_json_mode_redacts_secrets_in_message_args_and_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    output = log_through_setup(monkeypatch, LogFormat.JSON,
                               env={"TELEGRAM_BOT_TOKEN": TOKEN, "OPENAI_API_KEY": KEY})
    assert TOKEN not in output and KEY not in output
    assert "SECRET-token-value" not in output and "abcdef123456" not in output
    records = json_lines(output)
    assert records[1]["message"] == "HTTP Request: POST https://api.telegram.org/bot***/getUpdates"
    assert records[2]["message"] == "key=*** refused"
    assert "RuntimeError: failed with ***" in records[3]["exc"]


def test_the_worker_attribute_is_a_key_when_a_record_has_one() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("briefing.test_logs.worker")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("claimed %d feeds", 3, extra={"worker": "host-a:41:9f2c"})
        logger.info("no worker here")
    finally:
        logger.removeHandler(handler)
    with_worker, without = json_lines(stream.getvalue())
    assert with_worker["worker"] == "host-a:41:9f2c"
    assert with_worker["message"] == "claimed 3 feeds"
    assert "worker" not in without


def test_text_mode_keeps_its_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    output = log_through_setup(monkeypatch, LogFormat.TEXT,
                               env={"OPENAI_API_KEY": KEY})
    lines = output.splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING briefing\.test_logs: "
                    r"first line$", lines[0]), lines[0]
    assert lines[1] == "second line"
    assert "key=*** refused" in output and KEY not in output
    assert "Traceback (most recent call last):" in output and not output.startswith("{")


# --- the --log-format option ----------------------------------------------------------------


def stderr_handler(root: logging.Logger) -> logging.Handler:
    """The one handler the CLI installed on an empty root."""
    assert len(root.handlers) == 1, root.handlers
    return root.handlers[0]


def test_the_cli_option_writes_json_log_lines() -> None:
    with bare_root() as root:
        result = invoke("-v", "--log-format", "json", "db", "upgrade")
        formatter = stderr_handler(root).formatter
    assert result.exit_code == 0, result.stderr
    assert isinstance(formatter, JsonFormatter)
    records = json_lines(result.stderr)
    assert records, "-v db upgrade logs the migrations it runs"
    assert any(r["logger"].startswith("alembic") for r in records)
    assert all(ISO_UTC_MS.match(r["time"]) for r in records)


def test_the_cli_option_is_read_from_the_environment() -> None:
    with bare_root():
        result = invoke("-v", "db", "upgrade", env={"BRIEFING_LOG_FORMAT": "json"})
    assert result.exit_code == 0, result.stderr
    assert json_lines(result.stderr)


def test_the_cli_default_is_text() -> None:
    with bare_root() as root:
        result = invoke("-v", "db", "upgrade")
        formatter = stderr_handler(root).formatter
    assert result.exit_code == 0, result.stderr
    assert formatter is not None and not isinstance(formatter, JsonFormatter)
    first = result.stderr.splitlines()[0]
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|DEBUG) alembic", first), first


def test_the_cli_json_handler_redacts() -> None:
    # The CLI sets up logging before a command loads its settings and installs the filter:
    # the handler it leaves must both write JSON and redact.
    stream = io.StringIO()
    with bare_root() as root:
        result = invoke("--log-format", "json", "db", "upgrade",
                        env={"TELEGRAM_BOT_TOKEN": TOKEN})
        handler = stderr_handler(root)
        assert isinstance(handler, logging.StreamHandler)
        # The runner's stderr is closed once the command returned (setStream would flush it).
        handler.stream = stream
        logging.getLogger("httpx").warning("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    assert result.exit_code == 0, result.stderr
    (record,) = json_lines(stream.getvalue())
    assert record["message"] == "GET https://api.telegram.org/bot***/getMe"


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_bad_log_format_is_a_usage_error(how: str) -> None:
    if how == "option":
        result = invoke("--log-format", "xml", "db", "upgrade")
    else:
        result = invoke("db", "upgrade", env={"BRIEFING_LOG_FORMAT": "xml"})
    assert result.exit_code == 2
    assert "--log-format" in result.stderr and "xml" in result.stderr

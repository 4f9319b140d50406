"""Logging setup, with secrets redacted from every record.

Libraries log request URLs (the Telegram Bot API puts the bot token in the
path); a filter on the handlers replaces every configured secret with `***`,
whatever logger emitted it.

Two formats: `text`, one human line per record, and `json`, one JSON object per
line for log collectors (`briefing --log-format json run`). The filter runs on
the handler before either formatter sees the record, so both print redacted text.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from enum import StrEnum
from typing import Any

from briefing.config import Settings

NOISY = ("httpx", "httpcore", "openai", "trafilatura", "apscheduler.executors.default")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(StrEnum):
    """How each log record is written on stderr."""

    TEXT = "text"
    JSON = "json"


class RedactSecrets(logging.Filter):
    """Replaces each secret in a record's message (and its arguments) by ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if not self.secrets:
            return True
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text: render the traceback now, then redact it.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time, level, logger, message, and `exc`
    (the traceback) and `worker` when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON object (newlines inside values are escaped)."""
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The traceback is rendered once into exc_text, as the base class does: a
        # RedactSecrets filter that ran first has already rendered and redacted it there,
        # and must not be bypassed by formatting exc_info again.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        worker = getattr(record, "worker", None)
        if worker is not None:
            entry["worker"] = worker
        # default=str: an `extra` value JSON cannot hold (a datetime, an id object) is
        # written as text rather than losing the whole record to a TypeError.
        return json.dumps(entry, ensure_ascii=False, default=str)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO 8601 in UTC with milliseconds (2026-12-02T21:43:00.123Z), whatever the
        host's time zone: collectors from several hosts sort on it."""
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret the settings hold."""
    values = [settings.llm.api_key, settings.telegram.token]
    return [v.get_secret_value() for v in values if v is not None]


def setup_logging(verbose: bool, log_format: LogFormat = LogFormat.TEXT) -> None:
    """One stderr handler; third-party chatter kept at WARNING unless asked for.

    Like `logging.basicConfig`, does nothing to a root logger that already has handlers
    (an embedding program's, or pytest's), whichever the format.
    """
    level = logging.DEBUG if verbose else logging.WARNING
    if log_format is LogFormat.JSON:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format=TEXT_FORMAT, stream=sys.stderr)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def redact(settings: Settings) -> None:
    """Install the secret filter on every root handler."""
    redactor = RedactSecrets(secrets_of(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)

"""Logging setup, with secrets redacted from every record.

Libraries log request URLs (the Telegram Bot API puts the bot token in the
path); a filter on the handlers replaces every configured secret with `***`,
whatever logger emitted it.
"""

from __future__ import annotations

import logging
import sys

from briefing.config import Settings

NOISY = ("httpx", "httpcore", "openai", "trafilatura", "apscheduler.executors.default")


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


def secrets_of(settings: Settings) -> list[str]:
    """Every secret the settings hold."""
    values = [settings.llm.api_key, settings.telegram.token]
    return [v.get_secret_value() for v in values if v is not None]


def setup_logging(verbose: bool) -> None:
    """One stderr handler; third-party chatter kept at WARNING unless asked for."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def redact(settings: Settings) -> None:
    """Install the secret filter on every root handler."""
    redactor = RedactSecrets(secrets_of(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)

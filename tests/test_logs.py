"""Secrets never reach the logs, whoever logs them."""

from __future__ import annotations

import io
import logging

from briefing.config import load_settings
from briefing.logs import RedactSecrets, secrets_of


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

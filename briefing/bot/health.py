"""The bot's readiness probe for `briefing run --http`: Telegram answers `getMe`."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)


def telegram_ready(bot: Bot, loop: asyncio.AbstractEventLoop,
                   timeout: float = 5.0) -> tuple[bool, str]:
    """Whether Telegram answers `getMe` for this bot's token, asked from another thread
    (the HTTP server's) on the bot's own event loop. The line names the bot, never the
    token."""
    future = asyncio.run_coroutine_threadsafe(bot.get_me(), loop)
    try:
        me = future.result(timeout)
    except TimeoutError:
        future.cancel()
        return False, f"getMe: no answer within {timeout:g} s"
    except TelegramError as exc:
        log.debug("readiness: getMe failed", exc_info=True)
        return False, f"getMe failed: {type(exc).__name__}"
    return True, f"getMe ok: @{me.username}"

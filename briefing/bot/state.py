"""What every handler needs: settings, store, quotas; kept in `application.bot_data`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from briefing.bot.limits import Quota
from briefing.bot.texts import ui_language
from briefing.clock import utcnow
from briefing.config import Settings
from briefing.store.db import Database

KEY = "briefing"


@dataclass
class BotState:
    """Shared state of the bot."""

    settings: Settings
    db: Database
    summaries: Quota
    questions: Quota
    extra: dict[str, Any] = field(default_factory=dict)
    # Every handler reads the time here, so tests can set it.
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def create(cls, settings: Settings, db: Database) -> BotState:
        """State with fresh quotas from the settings."""
        tg = settings.telegram
        return cls(settings, db, Quota(tg.summaries_per_hour, tg.summaries_per_day),
                   Quota(tg.questions_per_hour, tg.questions_per_day))


def state_of(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    """The bot's shared state."""
    state: BotState = context.application.bot_data[KEY]
    return state


def lang_of(update: Update) -> str:
    """The reader's interface language (fr or en) from their Telegram settings."""
    user = update.effective_user
    return ui_language(user.language_code if user else None)


def chat_of(update: Update) -> str:
    """The chat id as the store keeps it."""
    chat = update.effective_chat
    return str(chat.id) if chat else ""

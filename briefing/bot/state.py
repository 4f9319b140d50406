"""What every handler needs: settings, store, quotas; kept in `application.bot_data`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram import Message, Update
from telegram.ext import ContextTypes

from briefing.bot.limits import Quota
from briefing.bot.texts import ui_language
from briefing.clock import utcnow
from briefing.config import Settings
from briefing.store.db import Database
from briefing.store.subscribers import address

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
    """The address of the target this update is about, as the store keeps it: the chat id,
    or `"<chat id>:<thread id>"` in a forum topic (each topic is a target of its own; the
    General topic is the chat itself)."""
    chat = update.effective_chat
    if chat is None:
        return ""
    thread = topic_of(update)
    return address(chat.id, thread or 0)


def topic_of(update: Update) -> int | None:
    """The forum topic (thread id) the update's message is in; None outside a topic (a
    thread of replies in a plain supergroup is no topic)."""
    message = update.effective_message
    if not isinstance(message, Message) or not message.is_topic_message:
        return None
    return message.message_thread_id


def topic_name(update: Update) -> str | None:
    """The name of the forum topic of the update's message, when the message says it: a
    message that replies to nothing in a topic quotes the topic's creation."""
    message = update.effective_message
    quoted = message.reply_to_message if isinstance(message, Message) else None
    created = quoted.forum_topic_created if quoted is not None else None
    return created.name if created is not None else None

"""`build_application(settings)`: the bot, its handlers, its gate and its error handler;
`running_bot`: the bot started, its updates coming in.

Updates come in by long polling, from one worker of the fleet at a time, or by a webhook
that every worker serves; either way each is handled once (`briefing.bot.polling`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from telegram import BotCommand, Message, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from briefing.bot import (
    admin,
    channels,
    commands,
    content,
    history,
    keywords,
    live,
    membership,
    opml,
    questions,
    tracing,
)
from briefing.bot.channel import BotRateLimiter, RateLimiter, TelegramChannel
from briefing.bot.polling import Leadership, install, intake_of, polling
from briefing.bot.state import KEY, BotState, lang_of, state_of, topic_name, topic_of
from briefing.bot.texts import command_menu, t
from briefing.config import Settings
from briefing.errors import ConfigError
from briefing.service.fleet import Worker, this_process
from briefing.service.targets import topic_opened
from briefing.store.db import Database, open_database
from briefing.store.subscribers import remember_interface

log = logging.getLogger(__name__)
LIMITER = "briefing.limiter"

COMMAND_HANDLERS = {
    "start": commands.start, "help": commands.help_command, "settings": commands.settings,
    "subscribe": commands.subscribe, "unsubscribe": commands.unsubscribe,
    "lang": commands.lang, "time": commands.time_command, "timezone": commands.timezone,
    "sources": commands.sources, "follow": commands.follow, "unfollow": commands.unfollow,
    "filters": keywords.filters_command, "story": history.story, "schedule": live.schedule,
    "digest": content.digest, "latest": content.latest, "summary": content.summary,
    "ask": questions.ask, "why": tracing.why, "addfeed": admin.addfeed,
    "removefeed": admin.removefeed, "stats": admin.stats,
    "channels": channels.channels_command,
}


class _ToBot(filters.MessageFilter):
    """A message replying to one of the bot's own."""

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        return (replied is not None and replied.from_user is not None
                and replied.from_user.id == message.get_bot().id)


TO_BOT = _ToBot(name="replies to the bot")
# What changes a chat's settings: in a group, only its administrators may (asked of
# Telegram each time, never taken from the message).
SETTINGS_COMMANDS = frozenset({"settings", "lang", "time", "timezone", "follow", "unfollow",
                               "filters", "schedule", "subscribe", "unsubscribe", "start"})


def _command(update: Update) -> str | None:
    message = update.effective_message
    text = message.text if message is not None else None
    if not text or not text.startswith("/"):
        return None
    return text.split()[0][1:].split("@", 1)[0].lower()


def _changes_settings(update: Update) -> bool:
    """Whether this update is a settings command or a tap on a settings panel."""
    return _command(update) in SETTINGS_COMMANDS or (
        update.callback_query is not None
        and re.match(commands.PATTERN, update.callback_query.data or "") is not None)


async def _may_change(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether this update may change its chat's settings: anyone in a private chat, an
    administrator in a group."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type == ChatType.PRIVATE or not _changes_settings(update):
        return True
    return user is not None and await membership.is_chat_admin(context.bot, chat.id, user.id)


async def _open_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A settings change allowed in a forum topic: the topic's first makes it a target of
    its own (`briefing.service.targets.topic_opened`), so the command changes the topic."""
    chat, thread = update.effective_chat, topic_of(update)
    if chat is None or thread is None or not _changes_settings(update):
        return
    title = " › ".join(part for part in (chat.title, topic_name(update)) if part) or None
    await asyncio.to_thread(topic_opened, state_of(context).db, str(chat.id), thread,
                            chat.type, title)


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Refuse politely anyone not on the allow-list, when there is one, and anyone but a
    group's administrators changing its settings; remember the language each reader
    speaks, for the digests sent to them later."""
    state = state_of(context)
    allow = state.settings.telegram.allow
    user = update.effective_user
    if not await _may_change(update, context):
        if update.callback_query is not None:  # a tap: said to the one who tapped
            await update.callback_query.answer(t("chat_admins_only", lang_of(update)))
        elif update.effective_message is not None:
            await update.effective_message.reply_text(t("chat_admins_only", lang_of(update)))
        raise ApplicationHandlerStop
    if not allow or (user is not None and user.id in allow):
        await _open_topic(update, context)
        await _remember_interface(state, update)
        return
    if update.effective_message is not None:
        await update.effective_message.reply_text(t("not_allowed", lang_of(update)))
    elif update.callback_query is not None:
        await update.callback_query.answer(t("not_allowed", lang_of(update)))
    raise ApplicationHandlerStop


async def _remember_interface(state: BotState, update: Update) -> None:
    # Written when it changes (known per chat in memory), not at every update.
    chat = update.effective_chat
    if chat is None or update.effective_user is None:
        return
    lang, seen = lang_of(update), state.extra.setdefault("interfaces", {})
    if seen.get(chat.id) != lang and await asyncio.to_thread(
            remember_interface, state.db, str(chat.id), lang):
        seen[chat.id] = lang  # a reader not stored yet (before /start) is tried again


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every unhandled error with its traceback; tell the reader something went wrong."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, t("error", lang_of(update)))
        except Exception:  # the reader may be unreachable: the log has the story
            log.debug("could not tell the reader about the error", exc_info=True)


async def register_commands(application: Application) -> None:  # type: ignore[type-arg]
    """Publish the command list (setMyCommands) in English and French."""
    english = [BotCommand(name, about) for name, about in command_menu("en")]
    french = [BotCommand(name, about) for name, about in command_menu("fr")]
    await application.bot.set_my_commands(english)
    await application.bot.set_my_commands(french, language_code="fr")


def build_application(settings: Settings, db: Database | None = None) -> Application:  # type: ignore[type-arg]
    """The bot application: token from TELEGRAM_BOT_TOKEN, API address from the settings."""
    token = settings.telegram.token
    if token is None:
        raise ConfigError("no bot token: set TELEGRAM_BOT_TOKEN")
    limiter = RateLimiter.from_settings(settings.telegram, db)  # shared on PostgreSQL
    application = (
        Application.builder().token(token.get_secret_value())
        .base_url(settings.telegram.base_url)
        .base_file_url(settings.telegram.base_url.replace("/bot", "/file/bot"))
        .rate_limiter(BotRateLimiter(limiter))
        .build()
    )
    application.bot_data[KEY] = BotState.create(settings, db or open_database(settings.store))
    application.bot_data[LIMITER] = limiter
    install(application, this_process())  # each update taken in once, before the gate
    application.add_handler(TypeHandler(Update, gate), group=-1)
    for name, handler in COMMAND_HANDLERS.items():
        application.add_handler(CommandHandler(name, handler))
    # The questions' buttons: the story the reader meant, or the help.
    application.add_handler(CallbackQueryHandler(questions.pick, pattern="^pick:"))
    # The buttons of digests, lists and briefs: pages, the stories left out, a story's own.
    for prefix, pressed in (("page", content.page_button), ("more", content.more_button),
                            ("story", content.story_button)):
        application.add_handler(CallbackQueryHandler(pressed, pattern=f"^{prefix}:"))
    application.add_handler(CallbackQueryHandler(commands.button, pattern=commands.PATTERN))
    # The answer to the panel's "Other…" comes first, only while the panel asks for it;
    # any command drops the question (group 1 runs after the command itself).
    awaiting = commands.AwaitingSetting(application.chat_data)
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & awaiting,
                                           commands.typed_setting))
    application.add_handler(MessageHandler(filters.COMMAND & awaiting,
                                           commands.cancel_typed_setting), group=1)
    # In a group the bot hears replies to its own messages and commands addressed to it
    # (`/ask@bot`, which CommandHandler checks), never the members' other chatter.
    application.add_handler(MessageHandler(
        filters.REPLY & filters.TEXT & ~filters.COMMAND & (filters.ChatType.PRIVATE | TO_BOT),
        questions.reply_question))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND
                                           & filters.ChatType.PRIVATE, questions.text_message))
    # A document that may be an OPML file: its feeds imported (bot.opml).
    application.add_handler(MessageHandler(opml.DOCUMENTS, opml.document))
    # A private message without text (a sticker, a photo): said what the bot can read.
    application.add_handler(MessageHandler(
        filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND & ~filters.StatusUpdate.ALL,
        questions.other_message))
    # Groups and channels: the bot's own membership, and a group that became a supergroup.
    application.add_handler(ChatMemberHandler(membership.my_chat_member,
                                              ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, membership.migrated))
    # Last: only a command no handler above took reaches it (in a group, a command for
    # another bot is none of ours).
    application.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE,
                                           questions.unknown_command))
    application.add_error_handler(on_error)
    return application


def channel_for(application: Application) -> TelegramChannel:  # type: ignore[type-arg]
    """The outbox channel sharing the bot's limiter, so replies and digests share one pace."""
    limiter: RateLimiter = application.bot_data[LIMITER]
    # A channel's posts link each story to a private chat with the bot (its username).
    return channels.DeepLinkChannel(application.bot, limiter, bot_paced=True)


@asynccontextmanager
async def running_bot(application: Application, settings: Settings,  # type: ignore[type-arg]
                      poll_interval: float = 0.0, poll_timeout: int = 10, *,
                      worker: Worker | None = None, leadership: Leadership | None = None,
                      webhook_listen: str = "0.0.0.0") -> AsyncIterator[None]:
    """Start the bot (commands registered, updates flowing) for the duration of the block.

    Long polling by default, by this worker while it holds the poller lease (`leadership`
    its timings); a webhook when `telegram.webhook_url` is set, served on `webhook_listen`
    and `telegram.webhook_port` at the URL's path. `worker` (this process by default) is
    who the store says took each update in.
    """
    worker = worker or this_process()
    intake_of(application).worker = worker.id
    state: BotState = application.bot_data[KEY]
    async with application:
        await register_commands(application)
        await asyncio.to_thread(content.warm_up)  # before any reader waits on it
        await application.start()
        try:
            if settings.telegram.webhook_url:
                async with _webhook(application, settings, webhook_listen):
                    yield
            else:
                async with polling(application, state.db, worker, leadership=leadership,
                                   poll_timeout=poll_timeout, poll_interval=poll_interval):
                    yield
        finally:
            await application.stop()


@asynccontextmanager
async def _webhook(application: Application, settings: Settings,  # type: ignore[type-arg]
                   listen: str) -> AsyncIterator[None]:
    """PTB's webhook server for the duration of the block (setWebhook at its start)."""
    url = settings.telegram.webhook_url
    assert url is not None
    updater = application.updater
    assert updater is not None
    await updater.start_webhook(listen=listen, port=settings.telegram.webhook_port,
                                url_path=urlsplit(url).path, webhook_url=url)
    try:
        yield
    finally:
        await updater.stop()

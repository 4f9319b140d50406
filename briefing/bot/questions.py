"""Follow-up questions: a reply to one of our messages, or `/ask`, answered from the
sources of the story it is about (`briefing.qa`), quotes checked like a brief's."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from briefing.bot.channel import send_html
from briefing.bot.content import URL, summarise_page
from briefing.bot.replies import llm_blocked, reply
from briefing.bot.state import BotState, chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.llm.client import LLMClient
from briefing.qa.answer import Answer, answer_question
from briefing.render.telegram import e, quote_block
from briefing.service.digests import SourceRef, source_refs
from briefing.store.deliveries import record_message, replied_stories
from briefing.store.llm_calls import CallLog
from briefing.store.stories import stories_as_one

log = logging.getLogger(__name__)


def render_answer(answer: Answer, story_sources: dict[str, SourceRef]) -> str:
    """An answer as Telegram HTML: the text, then its checked quotes."""
    text = answer.text if answer.supported else t("sources_do_not_say", answer.language)
    lines = [e(text)]
    for quote in answer.quotes:
        lines.append(quote_block(quote, story_sources.get(quote.source), answer.language))
    return "\n".join(lines)


def _answer(state: BotState, story_ids: list[int], question: str,
            lang: str) -> tuple[str, list[int]]:
    story = stories_as_one(state.db, story_ids)
    llm = None
    if state.settings.llm.configured and state.settings.llm.engine != "extractive":
        llm = LLMClient(state.settings, cache=CallLog(state.db))
    result = answer_question(story, question, state.settings, llm, default_language=lang)
    return render_answer(result, source_refs(story)), story_ids


async def _question(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str,
                    replied_to: int | None) -> None:
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    story_ids = await asyncio.to_thread(replied_stories, state.db, chat,
                                       None if replied_to is None else str(replied_to))
    if not story_ids:
        await reply(update, t("nothing_to_ask", lang))
        return
    user = update.effective_user
    blocked = await asyncio.to_thread(llm_blocked, state, user.id if user else 0, "question", lang)
    if blocked:
        await reply(update, blocked)
        return
    await context.bot.send_chat_action(chat, ChatAction.TYPING)
    text, ids = await asyncio.to_thread(_answer, state, story_ids, question, lang)
    assert update.effective_message
    message = await send_html(context.bot, chat, text,
                              reply_to=update.effective_message.message_id)
    await asyncio.to_thread(record_message, state.db, chat, str(message.message_id), ids)


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask question: about the last brief sent to this chat (or the message replied to)."""
    question = " ".join(context.args or []).strip()
    if not question:
        await reply(update, t("ask_usage", lang_of(update)))
        return
    message = update.effective_message
    replied = message.reply_to_message.message_id if message and message.reply_to_message else None
    await _question(update, context, question, replied)


async def reply_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply to one of our messages is a question about its stories."""
    message = update.effective_message
    assert message and message.text and message.reply_to_message
    if URL.match(message.text):
        await summarise_page(update, context, message.text.strip())
        return
    await _question(update, context, message.text, message.reply_to_message.message_id)

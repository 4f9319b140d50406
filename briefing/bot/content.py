"""Content commands: the digest now, the latest stories, page summaries, questions."""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from briefing.bot.channel import send_html
from briefing.bot.limits import within_budget
from briefing.bot.state import BotState, chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.errors import BadInput
from briefing.llm.client import LLMClient
from briefing.qa.answer import Answer, answer_question
from briefing.render.telegram import Block, e, quote_block, split_messages, story_blocks
from briefing.service import on_demand
from briefing.service.digests import SourceRef, source_refs
from briefing.store.deliveries import record_message, replied_stories
from briefing.store.llm_calls import CallLog
from briefing.store.stories import stories_as_one, withheld_reason

log = logging.getLogger(__name__)
URL = re.compile(r"^\s*(https?://\S+)\s*$")


async def _send_blocks(update: Update, context: ContextTypes.DEFAULT_TYPE, blocks: list[Block],
                       reply_to: int | None = None) -> None:
    """Send blocks as HTML messages, remembering which stories each message is about."""
    state, chat = state_of(context), chat_of(update)
    for text, story_ids in split_messages(blocks):
        message = await send_html(context.bot, chat, text, reply_to=reply_to)
        await asyncio.to_thread(record_message, state.db, chat, str(message.message_id),
                                story_ids)


async def _reply(update: Update, text: str) -> Message:
    assert update.effective_message
    return await update.effective_message.reply_text(text, disable_web_page_preview=True)


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The digest now: what is new since the reader's last digest."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    digest = await asyncio.to_thread(
        on_demand.digest_now, state.db, chat, state.clock(), state.settings, lang)
    if not digest.items:
        await _reply(update, t("nothing_new", lang))
        return
    from briefing.bot.channel import TelegramChannel

    for part in TelegramChannel(context.bot).render(digest):
        message = await send_html(context.bot, chat, part.text)
        await asyncio.to_thread(record_message, state.db, chat, str(message.message_id),
                                part.stories)


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/latest [N]: the N most recent stories (default 5, at most 20)."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    args = context.args or []
    default = state.settings.telegram.latest_default
    n = min(20, int(args[0])) if args and args[0].isdigit() else default
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.latest, state.db, max(1, n), languages,
                                    state.clock())
    if not found.items:
        await _reply(update, t("no_stories", lang))
        return
    await _send_blocks(update, context, story_blocks(found.items, languages[0]))


def _llm_blocked(state: BotState, user_id: int, kind: str, lang: str) -> str | None:
    """Why this request may not run now (quota or budget), or None."""
    llm_on = state.settings.llm.configured and state.settings.llm.engine != "extractive"
    budget = state.settings.telegram.daily_token_budget
    if llm_on and not within_budget(state.db, state.clock(), budget):
        return t("budget", lang)  # checked first: a refused request uses up no quota
    quota = state.summaries if kind == "summary" else state.questions
    hit = quota.allow(user_id, state.clock())
    return t("over_limit", lang, what=f"{kind}/{hit}") if hit is not None else None


async def summarise_page(update: Update, context: ContextTypes.DEFAULT_TYPE, url: str) -> None:
    """Summarise a page on demand, in the reader's languages, with checked quotes."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    user = update.effective_user
    blocked = await asyncio.to_thread(_llm_blocked, state, user.id if user else 0, "summary", lang)
    if blocked:
        await _reply(update, blocked)
        return
    await context.bot.send_chat_action(chat, ChatAction.TYPING)
    try:
        story_id = await asyncio.to_thread(on_demand.summarise_url, state.db, url,
                                           state.settings, state.clock())
    except BadInput as exc:
        await _reply(update, t("cannot_read", lang, reason=str(exc)))
        return
    withheld = await asyncio.to_thread(withheld_reason, state.db, story_id)
    if withheld is not None:  # not checked enough to show: say why, show nothing of it
        await _reply(update, t("withheld", lang, reason=withheld))
        return
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.stories_now, state.db, [story_id], languages,
                                    state.clock())
    assert update.effective_message
    await _send_blocks(update, context, story_blocks(found.items, languages[0]),
                       reply_to=update.effective_message.message_id)


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary URL: a brief of that page."""
    args = context.args or []
    if not args or not URL.match(args[0]):
        await _reply(update, t("summary_usage", lang_of(update)))
        return
    await summarise_page(update, context, args[0])


async def url_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message that is just a URL: summarise it."""
    assert update.effective_message and update.effective_message.text
    match = URL.match(update.effective_message.text)
    if match:
        await summarise_page(update, context, match.group(1))


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
        await _reply(update, t("nothing_to_ask", lang))
        return
    user = update.effective_user
    blocked = await asyncio.to_thread(_llm_blocked, state, user.id if user else 0, "question", lang)
    if blocked:
        await _reply(update, blocked)
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
        await _reply(update, t("ask_usage", lang_of(update)))
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

"""What every content handler shares: replying in one line, sending message blocks while
remembering which stories each message is about, and the quota and budget gate."""

from __future__ import annotations

import asyncio

from telegram import Message, Update
from telegram.ext import ContextTypes

from briefing.bot.channel import send_html
from briefing.bot.limits import within_budget
from briefing.bot.state import BotState, chat_of, state_of
from briefing.bot.texts import t
from briefing.render.telegram import Block, split_messages
from briefing.store.deliveries import record_message


async def send_blocks(update: Update, context: ContextTypes.DEFAULT_TYPE, blocks: list[Block],
                       reply_to: int | None = None) -> None:
    """Send blocks as HTML messages, remembering which stories each message is about."""
    state, chat = state_of(context), chat_of(update)
    for text, story_ids in split_messages(blocks):
        message = await send_html(context.bot, chat, text, reply_to=reply_to)
        await asyncio.to_thread(record_message, state.db, chat, str(message.message_id),
                                story_ids)


async def reply(update: Update, text: str) -> Message:
    assert update.effective_message
    return await update.effective_message.reply_text(text, disable_web_page_preview=True)


def llm_blocked(state: BotState, user_id: int, kind: str, lang: str) -> str | None:
    """Why this request may not run now (quota or budget), or None."""
    llm_on = state.settings.llm.configured and state.settings.llm.engine != "extractive"
    budget = state.settings.telegram.daily_token_budget
    if llm_on and not within_budget(state.db, state.clock(), budget):
        return t("budget", lang)  # checked first: a refused request uses up no quota
    quota = state.summaries if kind == "summary" else state.questions
    hit = quota.allow(user_id, state.clock())
    return t("over_limit", lang, what=f"{kind}/{hit}") if hit is not None else None



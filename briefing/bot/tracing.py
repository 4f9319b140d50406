"""Where a point comes from: `/why` and the replies that ask it.

`/why N` as a reply to a brief or a digest answers with the source sentences point N of
that message rests on, quoted verbatim and linked to their spot in the page; alone, it is
about the last message with stories sent to the reader. The numbers are the ones the
message shows (`briefing.render.tracing` says how they read: `/why 2`, `/why 3.2` for
story 3 of a digest, `/why` for every point; a circled ② copied from the message counts
as 2).

A reply made of one of `TRIGGERS` asks the same as `/why` ("source?" = every point,
"source 2" = point 2), whatever its case, accents, apostrophe or final "?": "source",
"sources", "d'où ça vient", "pourquoi", "why". These words alone are no question the
story's sources could answer, so they are never taken for one.
"""

from __future__ import annotations

import asyncio
import re

from telegram import Update
from telegram.ext import ContextTypes

from briefing.bot.channel import send_html
from briefing.bot.replies import reply
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.render.tracing import Ask, trace_messages
from briefing.service.points import shown_in
from briefing.text.words import fold

TRIGGERS = ("source", "sources", "d'ou ca vient", "pourquoi", "why")
# "2", "3.2" or "3,2" (story 3, point 2), after folding (which turns ② into 2).
_REFERENCE = re.compile(r"^(?:(\d{1,3})\s*[.,]\s*)?(\d{1,3})$")
_END = re.compile(r"[\s?!.…]+$")


def _folded(text: str) -> str:
    folded = fold(text).replace("’", "'").replace("ʼ", "'")
    return " ".join(_END.sub("", folded).split())


def reference(text: str) -> Ask | None:
    """What `/why TEXT` asks: every point (no text), a point ("2", "②"), or a story's point
    ("3.2"); None when TEXT is none of these."""
    folded = _folded(text)
    if not folded:
        return Ask()
    match = _REFERENCE.match(folded)
    if match is None or int(match.group(2)) < 1:
        return None
    story = int(match.group(1)) if match.group(1) else None
    return Ask(story, int(match.group(2))) if story != 0 else None


def source_request(text: str) -> Ask | None:
    """What a reply asks when it asks where points come from ("source?", "D'où ça
    vient ?", "why 2?"); None for any other text."""
    folded = _folded(text)
    for trigger in TRIGGERS:
        if folded == trigger:
            return Ask()
        if folded.startswith(trigger + " "):
            return reference(folded[len(trigger) + 1:]) if folded[len(trigger) + 1:] else None
    return None


async def trace(update: Update, context: ContextTypes.DEFAULT_TYPE, ask: Ask,
                replied_to: int | None) -> None:
    """Answer `ask` about the message `replied_to` (None: the last one with stories sent
    here) with the cited sentences, as replies to the reader's message."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    message = update.effective_message
    assert message is not None
    target = str(replied_to) if replied_to is not None else None
    shown = await asyncio.to_thread(shown_in, state.db, chat, target, lang, state.clock())
    if shown is None:
        await reply(update, t("why_gone" if replied_to is not None else "why_nothing", lang))
        return
    for text in trace_messages(shown.items, shown.numbers, ask, lang):
        await send_html(context.bot, chat, text, reply_to=message.message_id)


async def why(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/why [N | S.N]: the source sentences of a point of the message replied to (or of the
    last one with stories sent here)."""
    ask = reference(" ".join(context.args or []))
    if ask is None:
        await reply(update, t("why_usage", lang_of(update)))
        return
    message = update.effective_message
    replied = message.reply_to_message.message_id if message and message.reply_to_message else None
    await trace(update, context, ask, replied)

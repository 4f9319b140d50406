"""Content commands: the digest now, the latest stories, page summaries; and the buttons
under them: the pages of a list, the stories a digest left out, and a story's question and
other-language buttons (their layout and data: `briefing.render.telegram`).

A list (`/latest N`, the stories a digest left out) is one message that ◀ ▶ edit from page
to page. The message is remembered as being about every story of the list (a reply asks
about any of them; ❓ narrows a question to one), and that record is also where a page
press reads the list back from, so a list survives a restart.

A story's deep link (`/start story_<id>`, under each story of a channel post) shows that
story's brief in the private chat it opens, as a summary of a stored page would, then a
prompt recorded as about the story: a reply to either asks about it, and so does a plain
question there, the story being the chat's latest (`briefing.bot.questions`).

A summary that takes more than `PLACEHOLDER_AFTER` seconds shows "⏳ Reading the page…"
at once, as a reply to the reader's message, and the placeholder is then edited into the
brief or the error. A page whose story is briefed already is served from the store and
counts against no quota.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from telegram import ForceReply, Message, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from briefing.bot.channel import markup, send_html
from briefing.bot.failures import failure_text
from briefing.bot.replies import edit_html, llm_blocked, reply, send_parts
from briefing.bot.state import BotState, chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.errors import BadInput
from briefing.render.telegram import (
    LATEST,
    LEFT_OUT,
    LIST_MAX,
    e,
    list_parts,
    more_target,
    page_target,
    story_action,
    story_parts,
    telegram_parts,
)
from briefing.service import on_demand
from briefing.service.digests import Part
from briefing.store.deliveries import record_message, replied_stories
from briefing.store.stories import withheld_reason
from briefing.text.language import detect_language, language_name

log = logging.getLogger(__name__)
URL = re.compile(r"^\s*(https?://\S+)\s*$")
PLACEHOLDER_AFTER = 1.0  # seconds a summary may take before the reader sees a placeholder


def warm_up() -> None:
    """Load what a first summary would otherwise load while its reader waits: the language
    identifier's model (a second, which would put a placeholder before every first brief)."""
    detect_language("warm up")


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The digest now: what is new since the reader's last digest, with its buttons."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    digest = await asyncio.to_thread(
        on_demand.digest_now, state.db, chat, state.clock(), state.settings, lang)
    if not digest.items:
        await reply(update, t("nothing_new", lang))
        return
    parts = telegram_parts(digest)
    for index, part in enumerate(parts):
        message = await send_html(context.bot, chat, part.text,
                                  reply_markup=markup(part.keyboard))
        # With its index: a digest numbers its stories across its messages, and /why 3.2
        # finds story 3 from the parts before this one (`store.deliveries.sent_message`).
        await asyncio.to_thread(record_message, state.db, chat, str(message.message_id),
                                part.stories, index)
        if digest.more and index == len(parts) - 1:  # the message with the "more" button
            await asyncio.to_thread(on_demand.remember_left_out, state.db, chat,
                                    str(message.message_id), digest.more)


def latest_count(args: Sequence[str], default: int) -> int | None:
    """How many stories `/latest ARGS` asks for (at most `LIST_MAX`), None when the
    argument is not a positive whole number."""
    if not args:
        return default
    if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
        return None
    return min(int(args[0]), LIST_MAX)


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/latest [N]: the N most recent stories, a page at a time in one message."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    default = state.settings.telegram.latest_default
    n = latest_count(context.args or [], default)
    if n is None:
        await reply(update, t("latest_usage", lang, most=LIST_MAX, default=default))
        return
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.latest, state.db, n, languages, state.clock())
    if not found.items:
        await reply(update, t("no_stories", lang))
        return
    zone = await asyncio.to_thread(on_demand.reader_zone, state.db, chat)
    pages = list_parts(found.items, LATEST, lang, languages, zone=zone)
    await send_parts(context, chat, pages[:1], about=[i.story_id for i in found.items])


async def _list_pages(state: BotState, chat: str, lang: str, kind: str,
                      story_ids: Sequence[int]) -> list[Part]:
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.stories_now, state.db, story_ids, languages,
                                    state.clock())
    if not found.items:
        return []
    zone = await asyncio.to_thread(on_demand.reader_zone, state.db, chat)
    return list_parts(found.items, kind, lang, languages, zone=zone)


async def page_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """◀ or ▶ under a list: edit the message into that page (the list read back from what
    the message is about, as it is now)."""
    query = update.callback_query
    assert query is not None
    target = page_target(query.data or "")
    message = query.message
    if target is None or message is None:
        await query.answer()
        return
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    kind, page = target
    story_ids = await asyncio.to_thread(replied_stories, state.db, chat, str(message.message_id))
    pages = await _list_pages(state, chat, lang, kind, story_ids) if story_ids else []
    if not pages:
        await query.answer(t("list_gone", lang))
        return
    await query.answer()
    shown = pages[min(page, len(pages) - 1)]
    await edit_html(context.bot, chat, message.message_id, shown.text, shown.keyboard)


async def more_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"See the 12 others" under a digest: the stories it left out, as a list."""
    query = update.callback_query
    assert query is not None
    target = more_target(query.data or "")
    message = query.message
    if target is None or message is None:
        await query.answer()
        return
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    story_ids = await asyncio.to_thread(on_demand.left_out, state.db, chat,
                                        str(message.message_id), target[1])
    story_ids = story_ids[:LIST_MAX]
    pages = await _list_pages(state, chat, lang, LEFT_OUT, story_ids) if story_ids else []
    if not pages:
        await query.answer(t("list_gone", lang))
        return
    await query.answer()
    await send_parts(context, chat, pages[:1], reply_to=message.message_id,
                     about=list(dict.fromkeys(s for part in pages for s in part.stories)))


async def story_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A story's ❓ (ask about it) or 🇬🇧 / 🇫🇷 (its brief in that language) button."""
    query = update.callback_query
    assert query is not None
    action = story_action(query.data or "")
    message = query.message
    if action is None or message is None:
        await query.answer()
        return
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    if action.language is None:
        await _ask_about(context, state, chat, lang, action.story_id, message.message_id)
        await query.answer(t("ask_toast", lang))
        return
    languages = (action.language,)
    found = await asyncio.to_thread(on_demand.stories_now, state.db, [action.story_id],
                                    languages, state.clock())
    # A brief left in its source's language says nothing the reader has not read already.
    if not found.items or found.items[0].briefs[0].original_language is not None:
        await query.answer(t("no_brief_in", lang,
                             language=language_name(action.language, lang)))
        return
    await query.answer()
    parts = story_parts(found.items[0], lang, languages)
    if action.edit and len(parts) == 1:  # a message about this story alone: it turns
        await edit_html(context.bot, chat, message.message_id, parts[0].text,
                        parts[0].keyboard)
        return
    await send_parts(context, chat, parts, reply_to=message.message_id)


async def story_from_link(update: Update, context: ContextTypes.DEFAULT_TYPE,
                          story_id: int) -> None:
    """A story's deep link was followed: its brief in the reader's languages with its
    buttons, then a prompt to ask about it by replying; a friendly line when the story is
    gone or withheld (the two are not told apart)."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.stories_now, state.db, [story_id], languages,
                                    state.clock())
    if not found.items:
        log.info("deep link to story %s, which cannot be shown", story_id)
        await reply(update, t("start_story_unknown", lang))
        return
    await send_parts(context, chat, story_parts(found.items[0], lang, languages))
    prompt = await context.bot.send_message(
        chat, t("start_story_hint", lang),
        reply_markup=ForceReply(input_field_placeholder=t("ask_placeholder", lang)))
    await asyncio.to_thread(record_message, state.db, chat, str(prompt.message_id),
                            [story_id])


async def _ask_about(context: ContextTypes.DEFAULT_TYPE, state: BotState, chat: str,
                     lang: str, story_id: int, message_id: int) -> None:
    """Ask the reader for their question in a message about this story alone: a reply to
    it (which the reader's app opens at once) or the next /ask is about this story."""
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.stories_now, state.db, [story_id], languages,
                                    state.clock())
    headline = found.items[0].briefs[0].headline if found.items else "…"
    prompt = await context.bot.send_message(
        chat, t("ask_prompt", lang, headline=headline), reply_to_message_id=message_id,
        reply_markup=ForceReply(input_field_placeholder=t("ask_placeholder", lang)))
    await asyncio.to_thread(record_message, state.db, chat, str(prompt.message_id),
                            [story_id])


def _cannot_read(exc: BadInput, lang: str) -> str:
    """What a reader is told of a page that could not be read: the catalogue's sentence
    for the failure, never the technical message (that goes to the log)."""
    return failure_text(exc, lang)


def _says(text: str) -> list[Part]:
    """A plain sentence as the one part of an answer."""
    return [Part(e(text))]


async def _summary(state: BotState, url: str, chat: str, lang: str, user_id: int,
                   charged: bool) -> list[Part]:
    """The messages answering a page: its brief with its buttons, or why there is none.
    `charged`: the reader's quota was counted already (a page not stored before)."""
    try:
        story_id, needed = await asyncio.to_thread(on_demand.fetch_page, state.db, url,
                                                   state.settings, state.clock())
        refused = None
        if needed and not charged:  # a known page that gained a source: briefing it costs
            refused = await asyncio.to_thread(llm_blocked, state, user_id, "summary", lang,
                                              chat)
        if needed and refused is None:
            await asyncio.to_thread(on_demand.brief_page, state.db, story_id, state.settings,
                                    state.clock())
    except BadInput as exc:
        return _says(_cannot_read(exc, lang))
    withheld = await asyncio.to_thread(withheld_reason, state.db, story_id)
    if withheld is not None:  # not checked enough to show: say why, show nothing of it
        log.info("story %s withheld from a reader: %s", story_id, withheld)
        return _says(t("withheld", lang))
    languages = await asyncio.to_thread(on_demand.reader_languages, state.db, chat, lang)
    found = await asyncio.to_thread(on_demand.stories_now, state.db, [story_id], languages,
                                    state.clock())
    if not found.items:  # refused a new brief, and none was written before
        return _says(refused or t("error", lang))
    return story_parts(found.items[0], lang, languages)  # refused: the brief it had


async def _deliver(context: ContextTypes.DEFAULT_TYPE, chat: str, parts: Sequence[Part],
                   placeholder: Message | None, reply_to: int) -> None:
    """Send the answer, its first message in place of the placeholder when there is one."""
    rest = list(parts)
    if placeholder is not None and rest:
        first = rest.pop(0)
        await edit_html(context.bot, chat, placeholder.message_id, first.text, first.keyboard)
        if first.stories:
            await asyncio.to_thread(record_message, state_of(context).db, chat,
                                    str(placeholder.message_id), first.stories)
    await send_parts(context, chat, rest, reply_to=reply_to)


async def summarise_page(update: Update, context: ContextTypes.DEFAULT_TYPE, url: str) -> None:
    """Summarise a page on demand, in the reader's languages, with checked quotes; every
    answer (the brief, an error, a refusal) is a reply to the reader's message."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    user = update.effective_user
    user_id = user.id if user else 0
    assert update.effective_message
    asked = update.effective_message.message_id
    known = await asyncio.to_thread(on_demand.page_known, state.db, url)
    if not known:  # a new page costs a summary: the quota is checked before fetching it
        blocked = await asyncio.to_thread(llm_blocked, state, user_id, "summary", lang, chat)
        if blocked:
            await send_html(context.bot, chat, e(blocked), reply_to=asked)
            return
    await context.bot.send_chat_action(chat, ChatAction.TYPING)
    work = asyncio.create_task(_summary(state, url, chat, lang, user_id, charged=not known))
    done, _ = await asyncio.wait({work}, timeout=PLACEHOLDER_AFTER)
    placeholder = None
    if not done:
        placeholder = await send_html(context.bot, chat, e(t("reading", lang)), reply_to=asked)
    try:
        parts = await work
    except Exception:
        if placeholder is None:
            raise  # the error handler tells the reader
        log.exception("summary of %s failed", url)  # the placeholder says it instead
        await edit_html(context.bot, chat, placeholder.message_id, e(t("error", lang)))
        return
    await _deliver(context, chat, parts, placeholder, asked)


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary URL: a brief of that page."""
    args = context.args or []
    if not args or not URL.match(args[0]):
        await reply(update, t("summary_usage", lang_of(update)))
        return
    await summarise_page(update, context, args[0])


async def url_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message that is just a URL: summarise it."""
    assert update.effective_message and update.effective_message.text
    match = URL.match(update.effective_message.text)
    if match:
        await summarise_page(update, context, match.group(1))

"""Follow-up questions: a reply to one of our messages, `/ask`, or plain text that reads as
a question, answered from the sources of the story it is about (`briefing.qa`), quotes
checked like a brief's.

Which story: a reply to a message asks about that message's stories; otherwise the
candidates are the stories of the last messages sent to this chat (digests, briefs,
answers), then the store's latest ones. The nearest to the question is chosen
(`briefing.qa.choice`); when several are close, the reader picks one with a button
("pick:<story id>") and the choice message becomes the answer. When none shares a word
with the question, the message replied to (or the last one sent here) decides. The answer
names its story ("About: <headline>") and attributes each quote to its outlet, linked.

Nothing is met with silence: other plain text gets a one-line hint, an unknown command a
hint and a help button ("pick:help").
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from briefing.bot.channel import send_html
from briefing.bot.commands import help_command
from briefing.bot.content import URL, summarise_page, url_message
from briefing.bot.replies import edit_html, llm_blocked, reply
from briefing.bot.state import BotState, chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.bot.tracing import source_request, trace
from briefing.llm.client import LLMClient
from briefing.qa.answer import Answer, answer_question
from briefing.qa.choice import Candidate, choose_story
from briefing.qa.retrieval import looks_like_question, question_language
from briefing.render.telegram import e, point_line, quote_block
from briefing.service.digests import SourceRef, source_refs
from briefing.sources.models import Story
from briefing.store.deliveries import (
    recent_story_ids,
    record_message,
    replied_stories,
    retell_message,
)
from briefing.store.llm_calls import CallLog
from briefing.store.stories import latest_briefed, stories_by_id, story_headlines
from briefing.text.sentences import split_sentences

log = logging.getLogger(__name__)

RECENT_MESSAGES = 30  # the last messages sent to a chat whose stories a question may be about
STORE_STORIES = 10  # the store's latest stories, for a question about one not sent here
MAX_CANDIDATES = 40  # stories scored against one question (a few milliseconds of BM25)
# When no story matches, every story of the message (a digest's, up to its size) is offered.
MAX_UNMATCHED = 10
BUTTON_CHARS = 60  # a headline longer than this is cut on its button (the text has it whole)
PICK = "pick:"  # the callback data of this module's buttons: a story id, or HELP
HELP = "help"
_ASK = re.compile(r"^/ask(?:@\w+)?(?:\s+|$)", re.I)
_SOURCE_ID = re.compile(r"\bS\d+\b")


# --------------------------------------------------------------------------- rendering


def _named_sources(text: str, sources: Mapping[str, SourceRef]) -> str:
    """The answer with any source id a model let slip ("selon S1") replaced by its name."""
    return _SOURCE_ID.sub(lambda m: sources[m.group()].label if m.group() in sources
                          else m.group(), text)


def render_answer(answer: Answer, story_sources: dict[str, SourceRef],
                  about: str | None = None) -> str:
    """An answer as Telegram HTML: the story it is about (when given), the text, then its
    checked quotes, each attributed to its outlet (or title) and linked to its page.

    An answer whose sentences carry their support shows each with the source marks of a
    brief's point (¹, linked to the cited sentences in the page), one paragraph."""
    text = answer.text if answer.supported else t("sources_do_not_say", answer.language)
    lines = [f"<i>{e(t('answer_about', answer.language, headline=about))}</i>"] if about else []
    if answer.supported and answer.points:
        lines.append(" ".join(
            point_line(None, replace(point, text=_named_sources(point.text, story_sources)),
                       story_sources) for point in answer.points))
    else:
        lines.append(e(_named_sources(text, story_sources)))
    for quote in answer.quotes:
        lines.append(quote_block(quote, story_sources.get(quote.source), answer.language))
    return "\n".join(lines)


def headline_of(headlines: Mapping[str, str], lang: str, story: Story) -> str:
    """How to name a story to a reader: its headline in `lang`, else in another language,
    else its first source's title, else that source's first sentence."""
    found = headlines.get(lang) or next(iter(headlines.values()), None)
    if found:
        return found
    first = story.sources[0] if story.sources else None
    if first is None:
        return "?"
    if first.title:
        return first.title
    spans = split_sentences(first.text)
    return first.text[spans[0].start:spans[0].end] if spans else first.text[:BUTTON_CHARS]


def _button_label(number: int, headline: str) -> str:
    if len(headline) > BUTTON_CHARS:
        cut = headline[:BUTTON_CHARS].rsplit(" ", 1)[0] or headline[:BUTTON_CHARS]
        headline = cut.rstrip(" ,;:") + "…"
    return f"{number}. {headline}"


def _choice_markup(offered: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(_button_label(n, headline),
                                                       callback_data=f"{PICK}{story_id}")]
                                 for n, (story_id, headline) in enumerate(offered, start=1)])


def _choice_text(offered: Sequence[tuple[int, str]], lang: str) -> str:
    lines = [e(t("which_story", lang))]
    lines += [f"{n}. {e(headline)}" for n, (_, headline) in enumerate(offered, start=1)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- which story


@dataclass(frozen=True)
class _Found:
    """What a question is about: one story to answer from, or several for the reader to
    pick from (id, headline), or neither (`searched`: there were stories, none fitted)."""

    story: int | None = None
    offered: tuple[tuple[int, str], ...] = ()
    searched: bool = False


def _candidates(state: BotState, chat: str) -> list[int]:
    """The stories a question without a reply may be about, newest sent first."""
    ids = recent_story_ids(state.db, chat, RECENT_MESSAGES)
    ids += [i for i in latest_briefed(state.db, STORE_STORIES) if i not in ids]
    return ids[:MAX_CANDIDATES]


def _find(state: BotState, chat: str, question: str, lang: str,
          replied: Sequence[int]) -> _Found:
    """The story `question` is about among those of the message replied to (`replied`), or
    else among the reader's recent stories; neither when there is nothing to ask about."""
    pool = list(replied) or _candidates(state, chat)
    if not pool:
        return _Found()
    stories = stories_by_id(state.db, pool)
    headlines = story_headlines(state.db, pool)
    candidates = [Candidate(i, stories[i], tuple(headlines.get(i, {}).values()))
                  for i in pool if i in stories]
    keys = choose_story(candidates, question).keys
    if not keys:  # no story shares a word with it: the message it answers says which
        fallback = list(replied) or replied_stories(state.db, chat, None)
        keys = tuple(i for i in fallback if i in stories)[:MAX_UNMATCHED]
    if not keys:
        return _Found(searched=True)
    if len(keys) == 1:
        return _Found(story=keys[0])
    return _Found(offered=tuple((i, headline_of(headlines.get(i, {}), lang, stories[i]))
                                for i in keys))


def _answer(state: BotState, story_id: int, question: str, lang: str) -> str | None:
    """The answer to `question` from story `story_id`, as Telegram HTML (None: no such
    story any more)."""
    story = stories_by_id(state.db, [story_id]).get(story_id)
    if story is None:
        return None
    llm = None
    if state.settings.llm.configured and state.settings.llm.engine != "extractive":
        llm = LLMClient(state.settings, cache=CallLog(state.db))
    result = answer_question(story, question, state.settings, llm, default_language=lang)
    headlines = story_headlines(state.db, [story_id]).get(story_id, {})
    return render_answer(result, source_refs(story), headline_of(headlines, result.language,
                                                                 story))


# --------------------------------------------------------------------------- handlers


async def _question(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str,
                    replied_to: int | None, *, outright: bool = False) -> None:
    """Answer `question` (about the message `replied_to`, if any), or offer the stories it
    may be about. `outright`: asked with /ask, so a question whatever it reads like."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    message = update.effective_message
    assert message is not None
    replied: list[int] = []
    if replied_to is not None:
        replied = await asyncio.to_thread(replied_stories, state.db, chat, str(replied_to))
        if not replied and not outright and not looks_like_question(question):
            # A reply to a message about no story, that asks nothing: say how to ask.
            await reply(update, t("question_hint", lang))
            return
    asked = question_language(question, lang)
    found = await asyncio.to_thread(_find, state, chat, question, asked, replied)
    if found.offered:
        sent = await send_html(context.bot, chat, _choice_text(found.offered, asked),
                               reply_to=message.message_id,
                               reply_markup=_choice_markup(found.offered))
        # A reply to the choice itself asks among the stories it offers.
        await asyncio.to_thread(record_message, state.db, chat, str(sent.message_id),
                                [i for i, _ in found.offered])
        return
    if found.story is None:
        await reply(update, t("no_story_matches" if found.searched else "nothing_to_ask", lang))
        return
    user = update.effective_user
    blocked = await asyncio.to_thread(llm_blocked, state, user.id if user else 0, "question", lang)
    if blocked:
        await reply(update, blocked)
        return
    await context.bot.send_chat_action(chat, ChatAction.TYPING)
    text = await asyncio.to_thread(_answer, state, found.story, question, lang)
    if text is None:  # removed meanwhile: rare enough to just say so
        await reply(update, t("no_story_matches", lang))
        return
    sent = await send_html(context.bot, chat, text, reply_to=message.message_id)
    await asyncio.to_thread(record_message, state.db, chat, str(sent.message_id), [found.story])


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask question: about the reader's recent story nearest to it (or the message replied
    to)."""
    question = " ".join(context.args or []).strip()
    if not question:
        await reply(update, t("ask_usage", lang_of(update)))
        return
    message = update.effective_message
    replied = message.reply_to_message.message_id if message and message.reply_to_message else None
    await _question(update, context, question, replied, outright=True)


async def reply_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply to one of our messages is a question about its stories (a URL: a summary;
    "source?" and its kin: where its points come from, `briefing.bot.tracing`)."""
    message = update.effective_message
    assert message and message.text and message.reply_to_message
    if URL.match(message.text):
        await summarise_page(update, context, message.text.strip())
        return
    traced = source_request(message.text)
    if traced is not None:  # "source?": where the message's points come from
        await trace(update, context, traced, message.reply_to_message.message_id)
        return
    await _question(update, context, message.text, message.reply_to_message.message_id)


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text: a URL is summarised, a question answered, anything else gets a hint."""
    message = update.effective_message
    assert message and message.text
    if URL.match(message.text):
        await url_message(update, context)
    elif looks_like_question(message.text):
        await _question(update, context, message.text.strip(), None)
    else:
        await reply(update, t("question_hint", lang_of(update)))


async def other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A sticker, a photo, a voice note...: the bot reads text, so it says what it can read."""
    await reply(update, t("not_text_hint", lang_of(update)))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command we do not have: say so, with a button to the help."""
    message = update.effective_message
    assert message is not None
    command, _, bot_name = (message.text or "/").split(maxsplit=1)[0].partition("@")
    if bot_name and bot_name.lower() != (context.bot.username or "").lower():
        return  # in a group, a command for another bot is not ours to answer
    lang = lang_of(update)
    button = InlineKeyboardButton(t("help_button", lang), callback_data=f"{PICK}{HELP}")
    await message.reply_text(t("unknown_command", lang, command=command),
                             reply_markup=InlineKeyboardMarkup([[button]]))


def _offered(message: Message) -> set[str]:
    """The callback data of a message's buttons: what may be picked there."""
    markup = message.reply_markup
    return {str(b.callback_data) for row in (markup.inline_keyboard if markup else ())
            for b in row}


def _asked(message: Message | None) -> str:
    """The question a choice message answers: the text it replies to, without `/ask`."""
    text = (message.text or "") if message is not None else ""
    return _ASK.sub("", text.strip()).strip()


async def pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A "pick:" button: the story the reader meant (answered in place of the choice), or
    the help."""
    query = update.callback_query
    assert query is not None
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    value = (query.data or "").removeprefix(PICK)
    message = query.message if isinstance(query.message, Message) else None
    if value == HELP:
        await query.answer()
        await help_command(update, context)
        return
    question = _asked(message.reply_to_message) if message is not None else ""
    if (message is None or not value.isdigit() or not question
            or f"{PICK}{value}" not in _offered(message)):
        await query.answer(t("pick_gone", lang), show_alert=True)
        return
    user = update.effective_user
    blocked = await asyncio.to_thread(llm_blocked, state, user.id if user else 0, "question",
                                      lang)
    if blocked:
        await query.answer(blocked, show_alert=True)
        return
    await query.answer()  # at once: the answer may take an LLM call
    await context.bot.send_chat_action(chat, ChatAction.TYPING)
    text = await asyncio.to_thread(_answer, state, int(value), question, lang)
    # Buttons pressed twice: the second edit changes nothing, which edit_html takes as done.
    await edit_html(context.bot, chat, message.message_id,
                    text if text is not None else e(t("pick_gone", lang)))
    # The choice is now the answer about one story: a reply to it asks about that one.
    await asyncio.to_thread(retell_message, state.db, chat, str(message.message_id),
                            [int(value)])

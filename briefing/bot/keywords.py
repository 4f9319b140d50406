"""`/filters`: the keyword filters of the reader's digests.

`/filters` alone shows them and how they work; `/filters + énergie, prix de l'énergie`
keeps only the stories holding one of those (commas separate phrases), `/filters -
football` leaves out those holding it, `/filters remove football` takes a phrase off,
`/filters clear` ends filtering. The words after the command may also be English or
French (`add`/`ajouter`, `exclude`/`exclure`, `remove`/`retirer`, `clear`/`effacer`).
Matching is `briefing.stories.filters`'s.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from briefing.bot.replies import reply
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.service.subscribers import FilterAction, change_filters
from briefing.store.subscribers import find
from briefing.stories.filters import MAX_PHRASE_WORDS, MAX_PHRASES, Filters
from briefing.text.words import fold

_ACTIONS = {
    "+": FilterAction.INCLUDE, "add": FilterAction.INCLUDE, "include": FilterAction.INCLUDE,
    "ajouter": FilterAction.INCLUDE, "garder": FilterAction.INCLUDE,
    "-": FilterAction.EXCLUDE, "exclude": FilterAction.EXCLUDE,
    "exclure": FilterAction.EXCLUDE, "ecarter": FilterAction.EXCLUDE,
    "remove": FilterAction.REMOVE, "retirer": FilterAction.REMOVE,
    "supprimer": FilterAction.REMOVE,
    "clear": FilterAction.CLEAR, "effacer": FilterAction.CLEAR, "aucun": FilterAction.CLEAR,
}


def parse(text: str) -> tuple[FilterAction, list[str]] | None:
    """What the words after /filters ask: an action and its phrases; None when they ask
    nothing (show the filters) or start with no known action."""
    rest = text.strip()
    if not rest:
        return None
    if rest[0] in "+-":  # "+énergie" and "+ énergie" alike
        head, tail = rest[0], rest[1:]
    else:
        head, _, tail = rest.partition(" ")
    action = _ACTIONS.get(fold(head))
    if action is None:
        return None
    return action, [p.strip() for p in tail.split(",") if p.strip()]


def filter_lines(filters: Filters, lang: str, *, include_key: str = "filters_include",
                 none_key: str = "filters_none") -> list[str]:
    """The filters in words: what is kept (`include_key`), what is left out, or that there
    is no filter (`none_key`); a reader's and a channel's say it their own way."""
    quoted = ("« {} »" if lang == "fr" else "“{}”").format
    lines = []
    if filters.include:
        lines.append(t(include_key, lang, phrases=", ".join(quoted(p) for p in filters.include)))
    if filters.exclude:
        lines.append(t("filters_exclude", lang,
                       phrases=", ".join(quoted(p) for p in filters.exclude)))
    return lines or [t(none_key, lang)]


def describe(filters: Filters, lang: str) -> str:
    """The filters in words: what is kept, what is left out, and how to change them."""
    return "\n".join([*filter_lines(filters, lang), t("filters_help", lang)])


async def filters_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/filters [+|-|remove|clear phrases]: show or change the reader's keyword filters."""
    state, lang, chat = state_of(context), lang_of(update), chat_of(update)
    message = update.effective_message
    assert message is not None
    words = (message.text or "").split(maxsplit=1)
    asked = parse(words[1] if len(words) > 1 else "")
    if asked is None:
        target = await asyncio.to_thread(find, state.db, chat)
        current = Filters(target.include, target.exclude) if target else Filters()
        await reply(update, describe(current, lang))
        return
    action, phrases = asked
    change = await asyncio.to_thread(change_filters, state.db, chat, action, phrases)
    text = describe(change.filters, lang)
    if change.refused:
        text = t("filters_refused", lang, words=MAX_PHRASE_WORDS, limit=MAX_PHRASES,
                 phrases=", ".join(change.refused)) + "\n" + text
    await reply(update, text)

"""Telegram HTML: briefs and digests as messages Telegram accepts.

Every piece of article text is escaped, so a `<`, `&` or tag in a source can
never break a message. Quotes go in `<blockquote>` with the outlet and a link to
the source; when the page URL is known the link carries a text fragment
(`#:~:text=`) that opens the page at the quote. A digest is split into messages
Telegram accepts on story boundaries (a story longer than a message on line
boundaries), so a cut never falls inside a tag or an entity.

Telegram's limit, 4,096, counts UTF-16 code units of the text after entity parsing:
tags do not count, `&amp;` is one, an emoji outside the Basic Multilingual Plane
(😀, 𝔘, each half of 🇫🇷) is two. `telegram_length` counts that way.

Points a reader can trace. A story's points are numbered ①, ②, … across the briefs it
shows (`briefing.render.labels.shown_points`: with both languages the English points
follow the French ones), and each ends with one small number per source it rests on, the
source's number in the story as a superscript (S1 → ¹, S12 → ¹²). When the source's URL is
known the number is a link opening the page at the cited sentences (a `#:~:text=`
fragment per sentence); without one (a file of the watched folder) the number is shown
all the same, unlinked: it still tells which source the point rests on, and `/why` quotes
the sentence. The sources line carries the same numbers ("Sources : ¹ Le Monde,
² Reuters"). A point stored before points carried their support has its number and no
source mark. `/why N` (`briefing.render.tracing`) reads these numbers back.

What a reader sees around the stories:

- A digest opens with "Votre briefing du 2 décembre" in the reader's interface language;
  each later message of it opens with the same line and "(suite)". A digest that stopped
  at its limit ends with "… et 12 autres histoires" and a button to see them.
- A reader of both languages sees each brief under its flag (🇫🇷, 🇬🇧), a quote shown in
  the first brief of a story is not shown again in the second.
- A brief left in its source's language (offline, untranslated) has its headline marked
  "(en anglais)"; the reason is said once, at the end of each message that has one.
- A list (`/latest N`, the stories a digest left out) is one message showing a page at a
  time, at most `PAGE_STORIES` stories, numbered across pages, with ◀ ▶ buttons.
- A digest posted in a channel (`Digest.in_channel`) has no buttons at all: a channel's
  readers can neither reply nor have the bot answer them there. Its quotes and sources
  keep their links, and each story ends with "❓ Poser une question", a deep link
  (`story_link`: `https://t.me/<bot>?start=story_<id>`) that opens a private chat with the
  bot about that story (`story_start` reads the `/start` payload back).

Buttons (inline keyboards; Telegram allows 100 buttons a message and 64 bytes of
callback data a button): a message covering several stories (a digest part, a page) has
one row per story it ends, in story order — ❓ N (ask about it), 🇬🇧 N / 🇫🇷 N (the
brief in the other language, for a reader of one language), then up to
`SOURCE_BUTTONS` links to its sources — and below them the "more" or ◀ ▶ row. When that
would pass 100 buttons, stories lose their source links first (the text links them
too), then the last stories lose their row. A message of one story (a summary) has
"❓ Poser une question" and "🇬🇧 En anglais" on one row, its sources on the next. The
callback data: `story:<id>:ask`, `story:<id>:<lang>` (send the brief in that language)
and `story:<id>:<lang>:edit` (turn this message into it), `more:d<delivery id>` and
`more:m` (the stories a queued or a sent-now digest left out), `page:<l|m>:<page>`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from html import escape, unescape
from urllib.parse import quote as urlquote

from briefing.briefs.models import Brief, Point, Quote, Support
from briefing.render.labels import FLAGS, cited, language_mark, reader_date, shown_once
from briefing.service.digests import Button, Digest, DigestItem, Keyboard, Part, SourceRef
from briefing.text.catalogue import FALLBACK, LANGUAGES, catalogue

LIMIT = 4096
FRAGMENT_WORDS = 4  # words at each end of a long quote in a text fragment
MAX_BUTTONS = 100  # Telegram's limit for one message's inline keyboard
MAX_CALLBACK_BYTES = 64  # Telegram's limit for a button's callback data
SOURCE_BUTTONS = 2  # source links a story gets in a message of several stories
VIEW_SOURCE_BUTTONS = 3  # ... and in a message of its own
PAGE_STORIES = 5  # stories on one page of a list
LIST_MAX = 100  # the longest list: /latest 100, the stories a digest left out
BUTTON_LABEL = 24  # characters of an outlet's name on a button
STORY_START = "story_"  # the /start payload of a story's deep link, before its id

def ui(lang: str) -> dict[str, str]:
    """The renderer's words in `lang` (English when it has none): the catalogue's `ui_*`
    messages, by the name after `ui_`."""
    return {key.removeprefix("ui_"): value for key, value in catalogue(
        lang if lang in LANGUAGES else FALLBACK).items() if key.startswith("ui_")}


def e(text: str) -> str:
    """Escape text for Telegram HTML (quotes are left alone: they are not special there)."""
    return escape(text, quote=False)


def _fragment_part(words: Sequence[str]) -> str:
    # In text fragments "-", "," and "&" are syntax: percent-encode them along with the rest.
    return urlquote(" ".join(words), safe="").replace("-", "%2D")


def _directive(quote: str) -> str:
    words = quote.split()
    if len(words) <= 2 * FRAGMENT_WORDS:
        return _fragment_part(words)
    start, end = words[:FRAGMENT_WORDS], words[-FRAGMENT_WORDS:]
    return f"{_fragment_part(start)},{_fragment_part(end)}"


def text_fragment_url(url: str, quote: str, *more: str) -> str:
    """The page URL with a `#:~:text=` fragment pointing at the quote (and at each of
    `more`: one `text=` directive each, which browsers highlight together)."""
    fragment = "&".join(f"text={_directive(text)}" for text in (quote, *more))
    return f"{url.split('#', 1)[0]}#:~:{fragment}"


def web_url(url: str | None) -> bool:
    """Whether a link may point there: an http(s) address (a folder file has none)."""
    return url is not None and url.startswith(("http://", "https://"))


def link(label: str, url: str | None) -> str:
    """`label` linked to `url`, or just the label when `url` is not a web address."""
    if url is None or not web_url(url):
        return e(label)
    return f'<a href="{escape(url, quote=True)}">{e(label)}</a>'


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


def source_number(source_id: str) -> str:
    """How a source's id shows next to a point: its number as a superscript (S1 → ¹); an id
    that is not `S<n>` as itself in brackets."""
    digits = source_id[1:]
    if source_id[:1] == "S" and digits.isdigit():
        return digits.translate(_SUPERSCRIPT)
    return f"[{source_id}]"


def point_number(number: int) -> str:
    """A point's number as readers see it: ① to ⑳, then (21), (22), …"""
    return _CIRCLED[number - 1] if 1 <= number <= len(_CIRCLED) else f"({number})"


def source_mark(source_id: str, sentences: Sequence[str], source: SourceRef | None) -> str:
    """A source's number after a point, linked to its page at the `sentences` it cites when
    its URL is known, else shown unlinked."""
    mark = source_number(source_id)
    url = source.url if source is not None else None
    if not sentences or url is None or not web_url(url):
        return e(mark)
    return link(mark, text_fragment_url(url, *sentences))


def support_marks(support: Sequence[Support], sources: Mapping[str, SourceRef]) -> str:
    """The source numbers after a point or an answer's sentence, one per source it cites,
    in source order ("¹ ²"); "" for no support."""
    by_source: dict[str, list[str]] = {}
    for sentence in cited(support):
        by_source.setdefault(sentence.source, []).append(sentence.text)
    return " ".join(source_mark(source_id, texts, sources.get(source_id))
                    for source_id, texts in by_source.items())


def point_line(number: int | None, point: Point, sources: Mapping[str, SourceRef]) -> str:
    """A point as one HTML line: its number (none: unnumbered, an answer's sentence), its
    text, then its source marks."""
    marks = support_marks(point.support, sources)
    text = e(point.text) if number is None else f"{point_number(number)} {e(point.text)}"
    return f"{text} {marks}" if marks else text


def quote_block(quote: Quote, source: SourceRef | None, lang: str) -> str:
    """A checked quote in a blockquote, attributed and linked to its spot in the page."""
    name = source.label if source is not None else quote.source
    url = source.url if source is not None else None
    href = text_fragment_url(url, quote.text) if url else None
    lines = [e(quote.text), f"— {link(name, href)}"]
    if quote.translation:
        label = ui(lang)["translation"] + (" :" if lang == "fr" else ":")
        lines.append(f"<i>{label} {e(quote.translation)}</i>")
    elif quote.untranslated:
        lines.append(f"<i>({ui(lang)['untranslated']})</i>")
    return "<blockquote>" + "\n".join(lines) + "</blockquote>"


def brief_lines(brief: Brief, sources: Mapping[str, SourceRef], max_quotes: int = 4, *,
                flag: bool = False, seen: set[tuple[str, str]] | None = None,
                first_point: int = 1) -> list[str]:
    """A brief as self-contained HTML lines: headline, points, quotes.

    A brief in another language than its own (`original_language`) has its headline
    marked with that language ("(in French)"); `flag` puts the brief's flag before the
    headline (a reader of both languages). Points are numbered from `first_point` (a
    story's second brief goes on from its first's) and carry their source marks. Quotes in
    `seen` (source, text) are skipped and the ones shown added, so a story's second brief
    does not repeat its first's.
    """
    lang = brief.language
    headline = f"<b>{e(brief.headline)}</b>"
    if brief.original_language:
        headline += f" <i>({e(language_mark(brief.original_language, lang))})</i>"
    elif flag and lang in FLAGS:
        headline = f"{FLAGS[lang]} {headline}"
    lines = [headline, *(point_line(number, point, sources)
                         for number, point in enumerate(brief.points, start=first_point))]
    shown = 0
    for quote in brief.quotes:
        if shown >= max_quotes:
            break
        if seen is not None:
            if (quote.source, quote.text) in seen:
                continue
            seen.add((quote.source, quote.text))
        if brief.original_language:  # the whole brief is marked already
            quote = replace(quote, untranslated=False)
        lines.append(quote_block(quote, sources.get(quote.source), lang))
        shown += 1
    return lines


def sources_line(sources: Iterable[SourceRef], lang: str) -> str:
    """"Sources: ¹ Outlet A, ² Outlet B", each numbered as the points' marks number it,
    linked where its URL is known."""
    label = ui(lang)["sources"]
    sep = " : " if lang == "fr" else ": "
    return f"<i>{label}</i>{sep}" + ", ".join(
        f"{e(source_number(s.id))} {link(s.label, s.url)}" for s in sources)


Block = tuple[Sequence[str], list[int]]  # self-contained HTML lines, and the stories they cover
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def parsed_text(html_text: str) -> str:
    """The text Telegram shows for our HTML: tags removed, entities decoded."""
    return unescape(_TAG.sub("", html_text))


def utf16_units(text: str) -> int:
    """Length of `text` in UTF-16 code units (a character outside the BMP counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def telegram_length(html_text: str) -> int:
    """The length Telegram checks against its limit: UTF-16 units of the parsed text."""
    return utf16_units(parsed_text(html_text))


def split_messages(blocks: Sequence[Block], limit: int = LIMIT) -> list[tuple[str, list[int]]]:
    """Pack blocks into messages of at most `limit` (as Telegram counts), on block boundaries
    (inside one only if it is huge)."""
    messages: list[tuple[str, list[int]]] = []
    parts: list[str] = []
    size, ids = 0, list[int]()
    for lines, block_ids in blocks:
        block = "\n".join(lines)
        # Lines are self-contained HTML, so lengths add up: no entity spans two blocks.
        block_size = telegram_length(block)
        if block_size > limit:  # a block too long on its own: cut it between lines
            if parts:
                messages.append(("\n\n".join(parts), ids))
                parts, size, ids = [], 0, []
            messages.extend((piece, list(block_ids)) for piece in _split_lines(list(lines), limit))
            continue
        if parts and size + 2 + block_size > limit:
            messages.append(("\n\n".join(parts), ids))
            parts, size, ids = [], 0, []
        size += block_size + (2 if parts else 0)
        parts.append(block)
        ids = ids + [i for i in block_ids if i not in ids]
    if parts:
        messages.append(("\n\n".join(parts), ids))
    return messages


def _split_lines(lines: list[str], limit: int) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        length = telegram_length(line)
        if length > limit:  # one enormous line: only plain text is cut, never markup
            line = _truncate(line, limit)
            length = telegram_length(line)
        if current and size + 1 + length > limit:
            out.append("\n".join(current))
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(line)
    if current:
        out.append("\n".join(current))
    return out


def _truncate(line: str, limit: int) -> str:
    """Shorten an over-long line to `limit`; a line with markup is dropped to its plain text
    first, so the cut can never fall inside a tag or an entity."""
    plain = parsed_text(line)
    return e(plain[:fitting(plain, limit - 1)]) + "…"


def _extends(text: str, index: int) -> bool:
    """Whether `text[index]` belongs with the character before it (a combining mark, a
    joiner, a variation selector, a skin tone, the second half of a flag)."""
    char, before = text[index], text[index - 1]
    code = ord(char)
    if unicodedata.category(char) in ("Mn", "Me", "Mc") or "\u200d" in (char, before):
        return True
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True
    if _regional(char):  # flags are pairs of regional indicators: count the run before
        run = 0
        while index - 1 - run >= 0 and _regional(text[index - 1 - run]):
            run += 1
        return run % 2 == 1
    return False


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def fitting(text: str, units: int) -> int:
    """How many characters of `text` fit in `units` UTF-16 code units, the cut falling
    between two characters a reader sees as separate (never inside a surrogate pair, a
    flag, an emoji with its skin tone, or a letter with its accent)."""
    used, cut = 0, len(text)
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            cut = index
            break
    while 0 < cut < len(text) and _extends(text, cut):
        cut -= 1
    return cut


def _local_day(when: datetime, zone: tzinfo, lang: str) -> str:
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return reader_date(aware.astimezone(zone).date(), lang)


def story_link(bot_username: str, story_id: int) -> str:
    """The deep link opening a private chat with the bot about one story."""
    return f"https://t.me/{urlquote(bot_username, safe='')}?start={STORY_START}{story_id}"


def story_start(payload: str) -> int | None:
    """The story id of a `/start` payload from `story_link`, None when it is not one."""
    digits = payload.removeprefix(STORY_START)
    return int(digits) if payload.startswith(STORY_START) and digits.isdigit() else None


def story_blocks(items: Sequence[DigestItem], lang: str, *, numbered: bool = False,
                 max_quotes: int = 4, languages: Sequence[str] | None = None, start: int = 1,
                 zone: tzinfo | None = None, ask_bot: str | None = None) -> list[Block]:
    """Each story as one block: its briefs (the same text once when languages share it,
    each flagged when the reader reads `languages` both, no quote twice), then its sources
    (and, with `zone`, the day it was published there), then with `ask_bot` (the bot's
    username) a link asking that bot about it in a private chat; numbered from `start` as
    in a digest or a list, or not (a summary)."""
    blocks: list[Block] = []
    for number, item in enumerate(items, start=start):
        sources = {s.id: s for s in item.sources}
        shown = shown_once(item.briefs)
        flag = len(languages) > 1 if languages is not None else len(shown) > 1
        seen: set[tuple[str, str]] = set()
        lines: list[str] = []
        first_point = 1  # numbered across the story's briefs, as `shown_points` numbers them
        for index, (brief, _original) in enumerate(shown):
            brief_part = brief_lines(brief, sources, max_quotes=max_quotes, flag=flag, seen=seen,
                                     first_point=first_point)
            first_point += len(brief.points)
            if numbered and index == 0:
                brief_part[0] = f"<b>{number}.</b> {brief_part[0]}"
            lines += brief_part
        tail = sources_line(item.sources, lang) if item.sources else ""
        if zone is not None and item.published is not None:
            day = e(_local_day(item.published, zone, lang))
            tail = f"{tail} · <i>{day}</i>" if tail else f"<i>{day}</i>"
        if tail:
            lines.append(tail)
        if ask_bot:
            lines.append(link(ui(lang)["ask_link"], story_link(ask_bot, item.story_id)))
        blocks.append((lines, [item.story_id]))
    return blocks


def untranslated(item: DigestItem) -> bool:
    """Whether a story shows a brief left in its source's language."""
    return any(original is not None for _brief, original in shown_once(item.briefs))


def _framed(blocks: Sequence[Block], limit: int, *, continued: str | None = None,
            notice: str | None = None,
            flagged: frozenset[int] = frozenset()) -> list[tuple[str, list[int]]]:
    """`split_messages`, each message after the first opening with `continued` and each
    covering a story of `flagged` ending with `notice`; room is kept for both."""
    top = f"<b>{e(continued)}</b>" if continued else None
    note = f"<i>{e(notice)}</i>" if notice and flagged else None
    room = sum(telegram_length(x) + 2 for x in (top, note) if x)
    if room > limit // 4:  # a limit too small to spare the room (only tests use one)
        return split_messages(blocks, limit)
    messages = []
    for index, (text, ids) in enumerate(split_messages(blocks, limit - room)):
        if top and index > 0:
            text = f"{top}\n\n{text}"
        if note and flagged & set(ids):
            text = f"{text}\n\n{note}"
        messages.append((text, ids))
    return messages


def _count_text(words: Mapping[str, str], key: str, n: int, cap: int = LIST_MAX) -> str:
    if n > cap:
        return words[f"{key}_over"].format(n=cap)
    return words[f"{key}_one"] if n == 1 else words[f"{key}_many"].format(n=n)


def digest_messages(items: Sequence[DigestItem], day: str, lang: str, limit: int = LIMIT, *,
                    languages: Sequence[str] | None = None, more: int = 0,
                    ask_bot: str | None = None) -> list[tuple[str, list[int]]]:
    """A digest as Telegram HTML messages with the stories each covers: the header, the
    stories (each ending with a link to ask `ask_bot` about it, when given), and how many
    more the digest left out (`more`)."""
    words = ui(lang)
    title = words["digest"].format(day=day)
    blocks: list[Block] = [([f"<b>{e(title)}</b>"], []),
                           *story_blocks(items, lang, numbered=True, max_quotes=1,
                                         languages=languages, ask_bot=ask_bot)]
    if more:
        blocks.append(([f"<i>{e(_count_text(words, 'left', more))}</i>"], []))
    flagged = frozenset(i.story_id for i in items if untranslated(i))
    return _framed(blocks, limit, continued=f"{title} {words['more']}", notice=words["notice"],
                   flagged=flagged)


# --- buttons -------------------------------------------------------------------------------


def callback(*fields: object) -> str:
    """Callback data from its fields, `:`-separated; ValueError past Telegram's 64 bytes."""
    data = ":".join(str(f) for f in fields)
    if not 0 < len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data {data!r} is not 1 to {MAX_CALLBACK_BYTES} bytes")
    return data


@dataclass(frozen=True)
class StoryAction:
    """What a story button asks: a question about it, or its brief in `language` (in this
    message when `edit`, else in a new one)."""

    story_id: int
    language: str | None  # None: a question
    edit: bool = False


def story_action(data: str) -> StoryAction | None:
    """The action of `story:` callback data, None when it is not one."""
    fields = data.split(":")
    if len(fields) not in (3, 4) or fields[0] != "story" or not fields[1].isdigit():
        return None
    if fields[2] == "ask" and len(fields) == 3:
        return StoryAction(int(fields[1]), None)
    if fields[2] in FLAGS and fields[3:] in ([], ["edit"]):
        return StoryAction(int(fields[1]), fields[2], edit=len(fields) == 4)
    return None


def more_data(delivery_id: int | None) -> str:
    """The data of a digest's "more" button: its outbox row, or `m` (the message)."""
    return callback("more", f"d{delivery_id}" if delivery_id is not None else "m")


def more_target(data: str) -> tuple[bool, int | None] | None:
    """(valid, delivery id or None for `m`) of `more:` data; None when it is not one."""
    kind, _, ref = data.partition(":")
    if kind != "more":
        return None
    if ref == "m":
        return True, None
    if ref.startswith("d") and ref[1:].isdigit():
        return True, int(ref[1:])
    return None


LATEST, LEFT_OUT = "l", "m"  # the kinds of list: the latest stories, a digest's left out


def page_data(kind: str, page: int) -> str:
    """The data of a list's ◀ ▶ buttons: which list, which page (from 0)."""
    return callback("page", kind, page)


def page_target(data: str) -> tuple[str, int] | None:
    """(kind, page) of `page:` data; None when it is not one."""
    fields = data.split(":")
    if (len(fields) != 3 or fields[0] != "page" or fields[1] not in (LATEST, LEFT_OUT)
            or not fields[2].isdigit()):
        return None
    return fields[1], int(fields[2])


def _short(label: str) -> str:
    return label if len(label) <= BUTTON_LABEL else label[:BUTTON_LABEL - 1].rstrip() + "…"


def _links(item: DigestItem) -> list[SourceRef]:
    return [s for s in item.sources if s.url and s.url.startswith(("http://", "https://"))]


def other_language(item: DigestItem, languages: Sequence[str]) -> str | None:
    """The language a reader of one language may ask this story's brief in (None for a
    reader of both, or when the brief shown is that language's text already, untranslated)."""
    if len(languages) != 1 or languages[0] not in FLAGS:
        return None
    other = "en" if languages[0] == "fr" else "fr"
    if any(b.original_language == other for b in item.briefs):
        return None
    return other


def _story_row(number: int, item: DigestItem, languages: Sequence[str],
               links: int) -> tuple[Button, ...]:
    row = [Button(f"❓ {number}", data=callback("story", item.story_id, "ask"))]
    other = other_language(item, languages)
    if other is not None:
        row.append(Button(f"{FLAGS[other]} {number}",
                          data=callback("story", item.story_id, other)))
    row += [Button(f"🔗 {number}. {_short(s.label)}", url=s.url) for s in _links(item)[:links]]
    return tuple(row)


def _fitted(build: Callable[[int], list[tuple[Button, ...]]],
            below: Sequence[tuple[Button, ...]]) -> Keyboard:
    """The story rows `build(links)` makes with as many source links as fit Telegram's 100
    buttons, under them the rows `below`; the last story rows go when even none fit."""
    room = MAX_BUTTONS - sum(len(row) for row in below)
    rows: list[tuple[Button, ...]] = []
    for links in (SOURCE_BUTTONS, 1, 0):
        rows = build(links)
        if sum(len(row) for row in rows) <= room:
            break
    while rows and sum(len(row) for row in rows) > room:
        rows.pop()
    return (*rows, *below)


def stories_keyboard(numbered: Sequence[tuple[int, DigestItem]], languages: Sequence[str],
                     below: Sequence[tuple[Button, ...]] = ()) -> Keyboard:
    """The buttons of a message covering several stories: a row per story, then `below`."""
    return _fitted(lambda links: [_story_row(n, item, languages, links)
                                  for n, item in numbered], below)


def view_keyboard(item: DigestItem, languages: Sequence[str], lang: str) -> Keyboard:
    """The buttons of a message about one story: ask, the other language (turning this
    message into it), then its sources."""
    words = ui(lang)
    first = [Button(words["ask"], data=callback("story", item.story_id, "ask"))]
    other = other_language(item, languages)
    if other is not None:
        first.append(Button(words[f"to_{other}"],
                            data=callback("story", item.story_id, other, "edit")))
    links = tuple(Button(f"🔗 {_short(s.label)}", url=s.url)
                  for s in _links(item)[:VIEW_SOURCE_BUTTONS])
    return (tuple(first), links) if links else (tuple(first),)


# --- digests, stories and lists as parts --------------------------------------------------------


def _parts(messages: Sequence[tuple[str, list[int]]], items: Sequence[DigestItem],
           languages: Sequence[str], start: int = 1,
           last_rows: Sequence[tuple[Button, ...]] = ()) -> list[Part]:
    """Messages as parts, each with the rows of the stories it ends (a story cut in
    several messages has its buttons under its end) and the last with `last_rows`."""
    numbered = {item.story_id: (number, item) for number, item in enumerate(items, start)}
    last = {story: index for index, (_text, ids) in enumerate(messages) for story in ids}
    parts = []
    for index, (text, ids) in enumerate(messages):
        ending = [numbered[s] for s in ids if last.get(s) == index and s in numbered]
        below = last_rows if index == len(messages) - 1 else ()
        parts.append(Part(text, tuple(ids), stories_keyboard(ending, languages, below)))
    return parts


def telegram_parts(digest: Digest, limit: int = LIMIT, *,
                   bot_username: str | None = None) -> list[Part]:
    """A digest as the Telegram messages the outbox sends, with their buttons: the reader's
    day written their way ("2 décembre"), the interface in their language. Posted in a
    channel, it has no buttons, and each story links to a private chat with the bot
    (`bot_username`; none when unknown)."""
    lang = digest.ui_language
    if digest.post:
        return post_parts(digest, limit, bot_username=bot_username)
    messages = digest_messages(digest.items, reader_date(digest.day, lang), lang, limit,
                               languages=digest.languages, more=len(digest.more),
                               ask_bot=bot_username if digest.in_channel else None)
    if digest.in_channel:  # no button: nobody may talk to the bot in a channel
        return [Part(text, tuple(ids)) for text, ids in messages]
    more: tuple[tuple[Button, ...], ...] = ()
    if digest.more:
        label = _count_text(ui(lang), "see", min(len(digest.more), LIST_MAX), cap=LIST_MAX)
        more = ((Button(label, data=more_data(digest.delivery_id)),),)
    return _parts(messages, digest.items, digest.languages, last_rows=more)


def post_parts(digest: Digest, limit: int = LIMIT, *,
               bot_username: str | None = None) -> list[Part]:
    """A live post: its one story alone, no digest header; in a channel without buttons and
    with the link to ask the bot about it, elsewhere with the story's buttons."""
    lang = digest.ui_language
    item = digest.items[0]
    if not digest.in_channel:
        return story_parts(item, lang, digest.languages, limit)
    flagged = frozenset({item.story_id}) if untranslated(item) else frozenset()
    blocks = story_blocks([item], lang, languages=digest.languages, ask_bot=bot_username)
    messages = _framed(blocks, limit, notice=ui(lang)["notice"], flagged=flagged)
    return [Part(text, tuple(ids)) for text, ids in messages]


def story_parts(item: DigestItem, lang: str, languages: Sequence[str],
                limit: int = LIMIT) -> list[Part]:
    """One story on its own (a summary, a brief in the other language), its buttons under
    its last message."""
    words = ui(lang)
    flagged = frozenset({item.story_id}) if untranslated(item) else frozenset()
    messages = _framed(story_blocks([item], lang, languages=languages), limit,
                       notice=words["notice"], flagged=flagged)
    keyboard = view_keyboard(item, languages, lang)
    return [Part(text, tuple(ids), keyboard if index == len(messages) - 1 else ())
            for index, (text, ids) in enumerate(messages)]


def list_title(kind: str, n: int, lang: str) -> str:
    """"The 12 latest stories", "More from your briefing: 12 stories"."""
    return _count_text(ui(lang), "latest" if kind == LATEST else "left_title", n, cap=n)


def _pages(blocks: Sequence[Block], limit: int, per_page: int) -> list[tuple[str, list[int]]]:
    """Blocks packed into pages of at most `per_page` stories within `limit`; a story too
    long for a page alone makes several."""
    groups: list[list[Block]] = []
    size = 0
    for block in blocks:
        length = telegram_length("\n".join(block[0]))
        if not groups or len(groups[-1]) >= per_page or size + 2 + length > limit:
            groups.append([])
            size = -2
        groups[-1].append(block)
        size += 2 + length
    return [page for group in groups for page in split_messages(group, limit)]


def list_parts(items: Sequence[DigestItem], kind: str, lang: str, languages: Sequence[str], *,
               zone: tzinfo | None = None, limit: int = LIMIT,
               per_page: int = PAGE_STORIES) -> list[Part]:
    """A list of stories as its pages, one part each (the bot shows one and edits it into
    another): a title with the page, the stories numbered across pages, the untranslated
    notice where needed, each story's buttons and ◀ ▶."""
    words = ui(lang)
    title = list_title(kind, len(items), lang)
    widest = f"<b>{e(title)}</b> · {e(words['page'].format(page=LIST_MAX, pages=LIST_MAX))}"
    flagged = frozenset(i.story_id for i in items if untranslated(i))
    note = f"<i>{e(words['notice'])}</i>" if flagged else None
    room = telegram_length(widest) + 2 + (telegram_length(note) + 2 if note else 0)
    blocks = story_blocks(items, lang, numbered=True, max_quotes=1, languages=languages,
                          zone=zone)
    pages = _pages(blocks, max(limit - room, limit // 2), per_page)
    numbered = {item.story_id: (number, item) for number, item in enumerate(items, 1)}
    parts = []
    for index, (text, ids) in enumerate(pages):
        top = f"<b>{e(title)}</b>"
        if len(pages) > 1:
            top += f" · {e(words['page'].format(page=index + 1, pages=len(pages)))}"
        body = f"{top}\n\n{text}"
        if note and flagged & set(ids):
            body += f"\n\n{note}"
        nav = []
        if index > 0:
            nav.append(Button("◀", data=page_data(kind, index - 1)))
        if index < len(pages) - 1:
            nav.append(Button("▶", data=page_data(kind, index + 1)))
        rows = stories_keyboard([numbered[s] for s in dict.fromkeys(ids) if s in numbered],
                                languages, (tuple(nav),) if nav else ())
        parts.append(Part(body, tuple(ids), rows))
    return parts

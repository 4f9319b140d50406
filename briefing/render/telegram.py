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
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from html import escape, unescape
from urllib.parse import quote as urlquote

from briefing.briefs.models import Brief, Quote
from briefing.render.labels import shown_once, untranslated_label
from briefing.service.digests import Digest, DigestItem, Part, SourceRef

LIMIT = 4096
FRAGMENT_WORDS = 4  # words at each end of a long quote in a text fragment

UI = {
    "fr": {"digest": "Votre briefing du {day}", "sources": "Sources", "translation": "Traduction",
           "more": "(suite)", "untranslated": "citation non traduite"},
    "en": {"digest": "Your briefing for {day}", "sources": "Sources", "translation": "Translation",
           "more": "(continued)", "untranslated": "quote not translated"},
}


def e(text: str) -> str:
    """Escape text for Telegram HTML (quotes are left alone: they are not special there)."""
    return escape(text, quote=False)


def _fragment_part(words: Sequence[str]) -> str:
    # In text fragments "-", "," and "&" are syntax: percent-encode them along with the rest.
    return urlquote(" ".join(words), safe="").replace("-", "%2D")


def text_fragment_url(url: str, quote: str) -> str:
    """The page URL with a `#:~:text=` fragment pointing at the quote."""
    words = quote.split()
    if len(words) <= 2 * FRAGMENT_WORDS:
        fragment = _fragment_part(words)
    else:
        start, end = words[:FRAGMENT_WORDS], words[-FRAGMENT_WORDS:]
        fragment = f"{_fragment_part(start)},{_fragment_part(end)}"
    return f"{url.split('#', 1)[0]}#:~:text={fragment}"


def _link(label: str, url: str | None) -> str:
    if not url or not url.startswith(("http://", "https://")):
        return e(label)
    return f'<a href="{escape(url, quote=True)}">{e(label)}</a>'


def quote_block(quote: Quote, source: SourceRef | None, lang: str) -> str:
    """A checked quote in a blockquote, attributed and linked to its spot in the page."""
    name = source.label if source is not None else quote.source
    url = source.url if source is not None else None
    href = text_fragment_url(url, quote.text) if url else None
    lines = [e(quote.text), f"— {_link(name, href)}"]
    if quote.translation:
        label = UI.get(lang, UI["en"])["translation"] + (" :" if lang == "fr" else ":")
        lines.append(f"<i>{label} {e(quote.translation)}</i>")
    elif quote.untranslated:
        lines.append(f"<i>({UI.get(lang, UI['en'])['untranslated']})</i>")
    return "<blockquote>" + "\n".join(lines) + "</blockquote>"


def brief_lines(brief: Brief, sources: Mapping[str, SourceRef], max_quotes: int = 4) -> list[str]:
    """A brief as self-contained HTML lines: headline, an "untranslated" label when it is
    in another language than its own (`original_language`), points, quotes."""
    lang = brief.language
    lines = [f"<b>{e(brief.headline)}</b>"]
    if brief.original_language:
        label = untranslated_label(brief.original_language, lang)
        lines.append(f"<i>({e(label)})</i>")
    lines += [f"• {e(point)}" for point in brief.points]
    for quote in brief.quotes[:max_quotes]:
        if brief.original_language:  # the whole brief is labelled already
            quote = replace(quote, untranslated=False)
        lines.append(quote_block(quote, sources.get(quote.source), lang))
    return lines


def sources_line(links: Iterable[tuple[str, str | None]], lang: str) -> str:
    """"Sources: Outlet A, Outlet B" with links where known."""
    label = UI.get(lang, UI["en"])["sources"]
    sep = " : " if lang == "fr" else ": "
    return f"<i>{label}</i>{sep}" + ", ".join(_link(name, url) for name, url in links)


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


def story_blocks(items: Sequence[DigestItem], lang: str, *, numbered: bool = False,
                 max_quotes: int = 4) -> list[Block]:
    """Each story as one block: its briefs (the same text once when languages share it),
    then its sources; numbered as in a digest, or not (a summary, the latest stories)."""
    blocks: list[Block] = []
    for number, item in enumerate(items, start=1):
        sources = {s.id: s for s in item.sources}
        lines: list[str] = []
        for brief, _original in shown_once(item.briefs):
            brief_part = brief_lines(brief, sources, max_quotes=max_quotes)
            if numbered:
                brief_part[0] = f"<b>{number}.</b> {brief_part[0]}"
            lines += brief_part
        lines.append(sources_line([(s.label, s.url) for s in item.sources], lang))
        blocks.append((lines, [item.story_id]))
    return blocks


def digest_messages(items: Sequence[DigestItem], day: str, lang: str,
                    limit: int = LIMIT) -> list[tuple[str, list[int]]]:
    """A digest as Telegram HTML messages with the stories each covers."""
    header = [f"<b>{e(UI.get(lang, UI['en'])['digest'].format(day=day))}</b>"]
    blocks: list[Block] = [(header, []), *story_blocks(items, lang, numbered=True,
                                                      max_quotes=1)]
    return split_messages(blocks, limit)


def telegram_parts(digest: Digest, limit: int = LIMIT) -> list[Part]:
    """A digest as the Telegram messages the outbox sends: the reader's day as dd/mm, the
    interface in their first language."""
    lang = digest.languages[0] if digest.languages else "en"
    return [Part(text, tuple(stories)) for text, stories
            in digest_messages(digest.items, digest.day.strftime("%d/%m"), lang, limit)]

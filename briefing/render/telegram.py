"""Telegram HTML: briefs and digests as messages Telegram accepts.

Every piece of article text is escaped, so a `<`, `&` or tag in a source can
never break a message. Quotes go in `<blockquote>` with the outlet and a link to
the source; when the page URL is known the link carries a text fragment
(`#:~:text=`) that opens the page at the quote. A digest is split into messages
of at most 4,096 characters on story boundaries (a story longer than that on
line boundaries), so a cut never falls inside a tag or an entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape, unescape
from typing import Any
from urllib.parse import quote as urlquote

from briefing.render.labels import briefs_once, untranslated_label

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


def quote_block(quote: dict[str, Any], source: dict[str, Any] | None, lang: str) -> str:
    """A checked quote in a blockquote, attributed and linked to its spot in the page."""
    name = (source or {}).get("outlet") or (source or {}).get("title") or quote["source"]
    url = (source or {}).get("url")
    href = text_fragment_url(url, quote["text"]) if url else None
    lines = [e(quote["text"]), f"— {_link(name, href)}"]
    if quote.get("translation"):
        label = UI.get(lang, UI["en"])["translation"] + (" :" if lang == "fr" else ":")
        lines.append(f"<i>{label} {e(quote['translation'])}</i>")
    elif quote.get("untranslated"):
        lines.append(f"<i>({UI.get(lang, UI['en'])['untranslated']})</i>")
    return "<blockquote>" + "\n".join(lines) + "</blockquote>"


def brief_lines(brief: dict[str, Any], sources: dict[str, dict[str, Any]],
                max_quotes: int = 4) -> list[str]:
    """A brief as self-contained HTML lines: headline, an "untranslated" label when it is
    in another language than its own (`original_language`), points, quotes."""
    lang = brief.get("language", "en")
    lines = [f"<b>{e(brief['headline'])}</b>"]
    if brief.get("original_language"):
        label = untranslated_label(brief["original_language"], lang)
        lines.append(f"<i>({e(label)})</i>")
    lines += [f"• {e(point)}" for point in brief.get("points", [])]
    for quote in brief.get("quotes", [])[:max_quotes]:
        if brief.get("original_language"):  # the whole brief is labelled already
            quote = {**quote, "untranslated": False}
        lines.append(quote_block(quote, sources.get(quote["source"]), lang))
    return lines


def sources_line(links: Iterable[tuple[str, str | None]], lang: str) -> str:
    """"Sources: Outlet A, Outlet B" with links where known."""
    label = UI.get(lang, UI["en"])["sources"]
    sep = " : " if lang == "fr" else ": "
    return f"<i>{label}</i>{sep}" + ", ".join(_link(name, url) for name, url in links)


Block = tuple[Sequence[str], list[int]]  # self-contained HTML lines, and the stories they cover


def split_messages(blocks: Sequence[Block], limit: int = LIMIT) -> list[tuple[str, list[int]]]:
    """Pack blocks into messages ≤ limit, on block boundaries (inside one only if it is huge)."""
    messages: list[tuple[str, list[int]]] = []
    text, ids = "", list[int]()
    for lines, block_ids in blocks:
        block = "\n".join(lines)
        if len(block) > limit:  # a block too long on its own: cut it between lines
            if text:
                messages.append((text, ids))
                text, ids = "", []
            messages.extend((piece, list(block_ids)) for piece in _split_lines(list(lines), limit))
            continue
        if text and len(text) + 2 + len(block) > limit:
            messages.append((text, ids))
            text, ids = "", []
        text = f"{text}\n\n{block}" if text else block
        ids = ids + [i for i in block_ids if i not in ids]
    if text:
        messages.append((text, ids))
    return messages


def _split_lines(lines: list[str], limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for line in lines:
        if len(line) > limit:  # one enormous line: only plain text is cut, never markup
            line = _truncate(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            out.append(current)
            candidate = line
        current = candidate
    if current:
        out.append(current)
    return out


def _truncate(line: str, limit: int) -> str:
    """Shorten an over-long line; a line with markup is dropped to its plain text first."""
    plain = unescape(re.sub(r"<[^>]+>", "", line))
    return e(plain[: limit // 2 - 1]) + "…"


def digest_messages(items: Sequence[dict[str, Any]], day: str, lang: str,
                    limit: int = LIMIT) -> list[tuple[str, list[int]]]:
    """A digest as Telegram HTML messages with the stories each covers; items are
    `DigestItem`-shaped dicts."""
    header = [f"<b>{e(UI.get(lang, UI['en'])['digest'].format(day=day))}</b>"]
    blocks: list[Block] = [(header, [])]
    for number, item in enumerate(items, start=1):
        sources = {s["id"]: s for s in item.get("source_details", [])}
        lines: list[str] = []
        for brief, _original in briefs_once(item["briefs"]):
            brief_part = brief_lines(brief, sources, max_quotes=1)
            brief_part[0] = f"<b>{number}.</b> {brief_part[0]}"
            lines += brief_part
        lines.append(sources_line([tuple(s) for s in item["sources"]], lang))
        blocks.append((lines, [item["story_id"]]))
    return split_messages(blocks, limit)

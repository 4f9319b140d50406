"""Feed text: the encoding feedparser is told, and HTML fragments as plain text.

Feeds are often mislabelled, so the charset feedparser hears is chosen here
(:func:`parser_headers`); HTML fragments (summaries, content) become plain text with
paragraph breaks (:func:`html_to_text`), titles one line.
"""

from __future__ import annotations

import html
import re
from typing import Any

import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

_LATIN_CHARSETS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "windows-1252", "cp1252", "us-ascii", "ascii"}
)

# Markers for breaks while the HTML's own whitespace is collapsed (private-use characters).
_PARAGRAPH = "\ue000"
_LINE = "\ue001"
_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tr ul".split()
)
_DROPPED_TAGS = ("script", "style", "template", "noscript")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")  # not \s: no-break spaces are French typography
_LINE_RUN = re.compile(f"(?:{_LINE} ?){{2,}}")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags stripped, entities decoded, whitespace collapsed.

    Block elements (p, div, li, headings, ...) and double <br> become paragraph breaks ("\\n\\n");
    scripts and styles are dropped. Text without a single tag keeps its blank lines as
    paragraph breaks (feeds label plain descriptions as HTML).
    """
    markup = _XML_INVALID.sub("", markup).strip()
    if "<" not in markup:
        return join_paragraphs(html.unescape(markup), blank_lines=True)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return join_paragraphs(html.unescape(re.sub(r"<[^>]*>", " ", markup)), blank_lines=False)
    for element in root.xpath("|".join(f"//{tag}" for tag in _DROPPED_TAGS)):
        element.drop_tree()
    for element in root.iter():
        _mark_breaks(element)
    return join_paragraphs(str(root.text_content()), blank_lines=False)


# --- the encoding --------------------------------------------------------------------------


def parser_headers(data: bytes, content_type: str | None) -> dict[str, str]:
    """The response headers feedparser is given: an XML content type, maybe a charset.

    Feeds are often mislabelled (text/html, text/plain, none), and RFC 3023 would make text/*
    without a charset US-ASCII; so feedparser always hears application/xml, where the XML
    declaration decides, plus the header's charset when there is one it can trust.

    No Content-Location: feedparser would resolve ids against it too, turning a bare
    ``<guid>12345</guid>`` into a made-up link. Links are resolved by
    :mod:`briefing.sources.feeds.parse` instead.
    """
    headers = {"content-type": "application/xml"}
    charset = _header_charset(content_type)
    if charset and not (charset in _LATIN_CHARSETS and _is_non_ascii_utf8(data)):
        headers["content-type"] += f"; charset={charset}"
    return headers


def _header_charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, lower-case, if any."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip("\"'"):
            return value.strip().strip("\"'").lower()
    return None


def _is_non_ascii_utf8(data: bytes) -> bool:
    """True for valid UTF-8 with non-ASCII characters: then a Latin-1 header is a server default.

    (Latin-1 text that is also valid UTF-8 would need sequences such as "Ã©", which French text
    does not contain.)
    """
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- HTML to text --------------------------------------------------------------------------


def _mark_breaks(element: Any) -> None:
    """Put paragraph markers around a block element, a line marker after a <br>."""
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag == "br":
        element.tail = _LINE + (element.tail or "")
    elif tag in _BLOCK_TAGS:
        element.text = _PARAGRAPH + (element.text or "")
        element.tail = _PARAGRAPH + (element.tail or "")


def join_paragraphs(text: str, *, blank_lines: bool) -> str:
    """Collapse whitespace; markers, double <br> and (in plain text) blank lines give "\\n\\n"."""
    if blank_lines:
        text = _BLANK_LINE.sub(_PARAGRAPH, text)
    text = _LINE_RUN.sub(_PARAGRAPH, _SPACES.sub(" ", text)).replace(_LINE, " ")
    paragraphs = (_SPACES.sub(" ", part).strip() for part in text.split(_PARAGRAPH))
    return "\n\n".join(part for part in paragraphs if part)


def one_line(text: str | None) -> str | None:
    """text on one line (titles), or None when empty."""
    return nonempty(" ".join(text.split())) if text is not None else None


def nonempty(text: str | None) -> str | None:
    """text, or None when it is None or blank."""
    return text if text and text.strip() else None


def as_string(value: object) -> str | None:
    """value stripped, if it is a non-empty string."""
    return value.strip() or None if isinstance(value, str) else None

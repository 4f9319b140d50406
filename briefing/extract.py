"""Extraction: raw bytes (file, page, stdin) to the clean article text.

The text returned here is the text every quote offset refers to, and what
`briefing extract` prints. Plain text keeps its exact characters (curly quotes,
guillemets, typos); only a byte-order mark, CRLF line ends, outer whitespace and
a leading metadata line (`date 2020-02 ...`) are taken off. HTML goes through
trafilatura.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from briefing.errors import BadInput, ExtractionError
from briefing.language import detect_language

log = logging.getLogger(__name__)

MIN_PAGE_WORDS = 20
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"PK\x03\x04", b"\x1f\x8b", b"GIF8", b"\xff\xd8\xff")
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
# A leading metadata token: "date 2020-02", "date: 2020-02-14", on its own line or inline.
_DATE_PREFIX = re.compile(r"^\s*date\s*:?\s*(\d{4}-\d{2}(?:-\d{2})?)\b[ \t]*\n?")
_TEMPLATE = re.compile(r"\{\{.*\}\}")
_CODE_LINE = re.compile(r"===|=>|\bfunction\s*\(|\bvar\s+\w+\s*=")
_SENTENCE = re.compile(r"(?:\S+[ \u00a0]+){7,}\S*[.!?…»”\"]")
_FIELD_LINE = re.compile(
    r"^[ \t]*(title|outlet|source|url)[ \t]*:[ \t]*(\S.*?)[ \t]*$", re.I | re.M
)


@dataclass(frozen=True)
class Extracted:
    """Clean article text and what we learnt about it."""

    text: str
    language: str
    title: str | None = None
    published: str | None = None
    outlet: str | None = None
    url: str | None = None


def _check_not_binary(data: bytes, label: str) -> None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16 with a byte-order mark: its NUL bytes are text
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:8192]:
        raise BadInput(f"{label}: binary data, not text")


def _looks_like_text(text: str) -> bool:
    sample = text[:20_000]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r")
    return controls <= len(sample) // 100


def decode(data: bytes, label: str, charset: str | None = None) -> str:
    """Decode bytes as UTF-8 (or BOM-marked UTF-16, a declared charset, clean cp1252)."""
    _check_not_binary(data, label)
    candidates = ["utf-8-sig"]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates.insert(0, "utf-16")
    if charset:
        candidates.insert(0, charset)
    candidates.append("cp1252")  # French text saved by older Windows tools
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if _looks_like_text(text):
            return text
    raise BadInput(f"{label}: undecodable bytes (expected UTF-8 text)")


def is_html(data: bytes, name: str | None, content_type: str | None) -> bool:
    """Whether these bytes should go through the HTML extractor."""
    if content_type and ("html" in content_type or "xml" in content_type):
        return True
    if name and name.lower().endswith((".html", ".htm", ".xhtml")):
        return True
    return _HTML_START.match(data[:4096]) is not None


def _split_metadata(text: str) -> tuple[str, dict[str, str]]:
    meta: dict[str, str] = {}
    match = _DATE_PREFIX.match(text)
    if match:
        meta["published"] = match.group(1)
        text = text[match.end() :]
    while (field := _FIELD_LINE.match(text)) and field.start() == 0:
        key = field.group(1).lower()
        meta["outlet" if key == "source" else key] = field.group(2)
        text = text[field.end() :].lstrip("\n")
    return text, meta


def _markdown_title(text: str) -> tuple[str, str | None]:
    first, _, rest = text.lstrip().partition("\n")
    if first.startswith("# "):
        return rest, first[2:].strip()
    return text, None


def extract_text(text: str, *, name: str | None = None) -> Extracted:
    """Clean plain text or Markdown, keeping every character of the body."""
    text = text.replace("\r\n", "\n").strip()
    text, meta = _split_metadata(text)
    title = meta.get("title")
    if name and name.lower().endswith(".md"):
        text, md_title = _markdown_title(text)
        title = title or md_title
    text = text.strip()
    if not text:
        raise ExtractionError(f"{name or 'input'}: no article text (empty or whitespace only)")
    return Extracted(
        text=text,
        language=detect_language(text),
        title=title,
        published=meta.get("published"),
        outlet=meta.get("outlet"),
        url=meta.get("url"),
    )


def _is_code(line: str) -> bool:
    if _TEMPLATE.search(line):
        return True
    return _CODE_LINE.search(line) is not None and _SENTENCE.search(line) is None


def _drop_code_lines(text: str) -> str:
    """Pages rendered by JavaScript leave template code where the article should be.

    A line is dropped when it holds `{{...}}` template code, or code tokens and
    no sentence: prose that quotes a bit of code is kept.
    """
    return "\n".join(line for line in text.splitlines() if not _is_code(line))


def _has_prose(text: str) -> bool:
    """At least MIN_PAGE_WORDS words, and one real sentence among them."""
    return len(text.split()) >= MIN_PAGE_WORDS and _SENTENCE.search(text) is not None


def extract_html(html: str, *, url: str | None = None, label: str = "page") -> Extracted:
    """Main text and metadata of a web page, through trafilatura."""
    import trafilatura  # imported here: it is slow to import and plain text never needs it

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    # trafilatura returns a Document, or a dict in older releases, or None.
    meta: dict[str, Any] = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc or {})  # type: ignore[union-attr]
    text = _drop_code_lines(meta.get("text") or "").strip()
    if not _has_prose(text):  # menus, admin bars and cookie banners are not articles
        raise ExtractionError(f"{label}: no article text found in the page")
    host = urlsplit(url).hostname if url else None
    outlet = meta.get("sitename") or meta.get("hostname") or host
    return Extracted(
        text=text.replace("\r\n", "\n"),
        language=detect_language(text),
        title=meta.get("title"),
        published=meta.get("date"),
        outlet=outlet,
        url=url or meta.get("url"),
    )


def extract(
    data: bytes,
    *,
    name: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    charset: str | None = None,
) -> Extracted:
    """Turn raw bytes into clean article text with its metadata."""
    label = url or name or "input"
    if not data.strip():
        raise ExtractionError(f"{label}: empty input")
    text = decode(data, label, charset)
    if is_html(data, name, content_type):
        return extract_html(text, url=url, label=label)
    return extract_text(text, name=name)

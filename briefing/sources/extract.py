"""Extraction: raw bytes (file, page, stdin) to the clean article text.

The text returned here is the text every quote offset refers to, and what
`briefing extract` prints. Plain text keeps its exact characters (curly quotes,
guillemets, typos); only a byte-order mark, CRLF line ends, outer whitespace and
a leading metadata line (`date 2020-02 ...`) are taken off. HTML goes through
trafilatura.

Decoding follows one rule, first match wins:

1. A byte-order mark: UTF-8, or UTF-16 (little or big endian), which must then decode.
2. UTF-8, without a mark. Bytes that are UTF-8 except for a few invalid sequences (the
   valid non-ASCII characters outnumber them, and there is at most one per 100 characters)
   are UTF-8 with damage: each invalid sequence becomes U+FFFD and a note says how many.
   More damage than that is refused, never guessed into another charset (mojibake).
3. The charset the server (Content-Type) or the page (`<meta charset>`, XML declaration)
   declares.
4. The charset charset-normalizer detects with confidence: little "chaos" in the decoded
   text, a language recognised in it, and no equally good candidate that reads the bytes
   differently. A note names the detected charset.

Anything else is refused (exit 2), as are decoded texts full of control characters. UTF-8
comes first because its structure practically never occurs by accident in other charsets, so
valid UTF-8 outweighs a wrong declaration (servers often declare ISO-8859-1 by default).
"""

from __future__ import annotations

import codecs
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from briefing.errors import BadInput, ExtractionError
from briefing.text.dates import declared_date
from briefing.text.language import detect_language

log = logging.getLogger(__name__)

MIN_PAGE_WORDS = 20
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"PK\x03\x04", b"\x1f\x8b", b"GIF8", b"\xff\xd8\xff")
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
# A leading metadata token: "date 2020-02", "date: 2020-02-14", on its own line or inline.
_DATE_PREFIX = re.compile(r"^\s*date\s*:?\s*(\d{4}-\d{2}(?:-\d{2})?)\b[ \t]*\n?")
_TEMPLATE = re.compile(r"\{\{.*\}\}")
_CODE_LINE = re.compile(r"===|=>|\bfunction\s*\(|\bvar\s+\w+\s*=")
_SENTENCE = re.compile(r"(?:\S+[ \u00a0]+){7,}\S*[.!?…»”\"]")
_MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown"})
_MARKDOWN_SUFFIXES = (".md", ".markdown")
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
    # What a reader should know about how the text was obtained (a detected charset, bytes
    # replaced with U+FFFD): it reaches the brief's notes.
    notes: tuple[str, ...] = ()


def _check_not_binary(data: bytes, label: str) -> None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16 with a byte-order mark: its NUL bytes are text
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:8192]:
        raise BadInput(f"{label}: binary data, not text", reason="not_text")


def _looks_like_text(text: str) -> bool:
    sample = text[:20_000]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r")
    return controls <= len(sample) // 100


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, the encoding used, and notes for the reader."""

    text: str
    encoding: str
    notes: tuple[str, ...] = ()


# At most one invalid UTF-8 sequence per this many characters is replaced, not refused.
DAMAGE_CHARS_PER_ERROR = 100
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_DECLARED = re.compile(
    rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)"""
    rb"""|<\?xml\b[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)""",
    re.I,
)


def _codec(name: str | None) -> str | None:
    """The Python codec for a charset name, or None when Python does not know it."""
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _utf8(data: bytes, label: str, bom: bool) -> Decoded | None:
    """The bytes as UTF-8, with a few invalid sequences replaced; None when it is not UTF-8."""
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    # U+FFFD the source itself contained is text, not damage.
    errors = text.count("\ufffd") - data.count("\ufffd".encode())
    valid_non_ascii = len(text) - len(text.encode("ascii", "ignore")) - errors
    if not bom and valid_non_ascii <= errors:
        return None  # not UTF-8 at all: another charset may read it
    if errors * DAMAGE_CHARS_PER_ERROR > len(text):
        raise BadInput(
            f"{label}: undecodable bytes: UTF-8 text with {errors} invalid byte sequences "
            "(mixed encodings?); save it as UTF-8", reason="not_text"
        )
    plural = "s" if errors > 1 else ""
    note = f"{label}: {errors} invalid UTF-8 byte sequence{plural} replaced with U+FFFD"
    return Decoded(text, "utf-8", (note,))


def _declared(data: bytes, charset: str | None) -> list[str]:
    """Charsets declared by the server, then by the page itself, as Python codec names."""
    names = [charset]
    match = _DECLARED.search(data[:4096])
    if match:
        names.append((match.group(1) or match.group(2)).decode("ascii"))
    codecs_ = [c for c in map(_codec, names) if c is not None]
    return list(dict.fromkeys(codecs_))


def _detected(data: bytes) -> str | None:
    """The charset charset-normalizer is confident about, or None."""
    from charset_normalizer import from_bytes  # imported here: UTF-8 input never needs it

    matches = list(from_bytes(data, enable_fallback=False))
    if not matches:
        return None
    best = matches[0]  # best first: least chaos, then most coherence
    if best.coherence <= 0.0:
        return None  # no language recognised in the decoded text: a guess, not a detection
    for rival in matches[1:]:
        # Encodings that read the bytes the same way are grouped into one match, so an equally
        # good rival reads them differently: the bytes do not tell which charset they are in.
        if (math.isclose(rival.chaos, best.chaos, abs_tol=1e-6)
                and math.isclose(rival.coherence, best.coherence, abs_tol=1e-6)):
            return None
    return _codec(best.encoding)


def decode_text(data: bytes, label: str, charset: str | None = None) -> Decoded:
    """Decode bytes by the rule in the module docstring; BadInput when it does not apply."""
    _check_not_binary(data, label)
    found: Decoded | None
    if data.startswith(_UTF16_BOMS):
        try:
            found = Decoded(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError:
            raise BadInput(f"{label}: undecodable bytes (invalid UTF-16 after its byte-order "
                           "mark)", reason="not_text") from None
    else:
        bom = data.startswith(codecs.BOM_UTF8)
        found = _utf8(data[len(codecs.BOM_UTF8):] if bom else data, label, bom)
    for encoding in [] if found else _declared(data, charset):
        try:
            found = Decoded(data.decode(encoding), encoding)
            break
        except UnicodeDecodeError:
            continue
    if found is None and (detected := _detected(data)) is not None:
        note = f"{label}: not UTF-8; decoded as {detected} (detected by charset-normalizer)"
        found = Decoded(data.decode(detected, errors="replace"), detected, (note,))
    if found is None:
        raise BadInput(f"{label}: undecodable bytes (not UTF-8, no charset declared, and none "
                       "detected with confidence); save it as UTF-8", reason="not_text")
    if not _looks_like_text(found.text):
        raise BadInput(f"{label}: undecodable bytes (control characters, not text)",
                       reason="not_text")
    return found


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


def is_markdown(name: str | None, url: str | None, content_type: str | None) -> bool:
    """Whether plain text is Markdown: by its media type, or the name or URL path it has."""
    if content_type in _MARKDOWN_TYPES:
        return True
    path = urlsplit(url).path if url else name
    return path is not None and path.lower().endswith(_MARKDOWN_SUFFIXES)


def extract_text(text: str, *, name: str | None = None, url: str | None = None,
                 markdown: bool | None = None) -> Extracted:
    """Clean plain text or Markdown, keeping every character of the body.

    `url` is where the text was fetched from (it wins over a `URL:` line in the text);
    `markdown` defaults to what the name or URL says (`.md`).
    """
    text = text.replace("\r\n", "\n").strip()
    text, meta = _split_metadata(text)
    title = meta.get("title")
    if markdown if markdown is not None else is_markdown(name, url, None):
        text, md_title = _markdown_title(text)
        title = title or md_title
    text = text.strip()
    if not text:
        label = url or name or "input"
        raise ExtractionError(f"{label}: no article text (empty or whitespace only)",
                              reason="no_article")
    return Extracted(
        text=text,
        language=detect_language(text),
        title=title,
        published=meta.get("published"),
        # Like a page's, a fetched text's outlet is at worst the host it came from.
        outlet=meta.get("outlet") or (urlsplit(url).hostname if url else None),
        url=url or meta.get("url"),
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

    tree = trafilatura.load_html(html)  # parsed once: trafilatura works on a copy of it
    doc = trafilatura.bare_extraction(
        html if tree is None else tree, url=url, with_metadata=True, include_comments=False,
        # Its own date search is not used (see below): keep it to the cheap, textless part.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    # trafilatura returns a Document, or a dict in older releases, or None.
    meta: dict[str, Any] = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc or {})  # type: ignore[union-attr]
    text = _drop_code_lines(meta.get("text") or "").strip()
    if not _has_prose(text):  # menus, admin bars and cookie banners are not articles
        raise ExtractionError(f"{label}: no article text found in the page", reason="no_article")
    host = urlsplit(url).hostname if url else None
    outlet = meta.get("sitename") or meta.get("hostname") or host
    return Extracted(
        text=text.replace("\r\n", "\n"),
        language=detect_language(text),
        title=meta.get("title"),
        # Only a date the page declares in its metadata: htmldate would otherwise take years
        # named in the text ("en octobre 2016") for the publication date.
        published=declared_date(tree, url) if tree is not None else None,
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
        raise ExtractionError(f"{label}: empty input", reason="no_article")
    decoded = decode_text(data, label, charset)
    if is_html(data, name, content_type):
        found = extract_html(decoded.text, url=url, label=label)
    else:
        markdown = is_markdown(name, url, content_type)
        found = extract_text(decoded.text, name=name, url=url, markdown=markdown)
    return replace(found, notes=found.notes + decoded.notes) if decoded.notes else found

"""Parsing feed bytes into clean, de-duplicated entries.

Parsing is feedparser's; what comes out of it is plain text, absolute canonical URLs and
timezone-aware UTC dates. Entries are de-duplicated by guid, sorted newest first and capped;
a slightly malformed feed is used, with a warning; one too broken to yield an entry, or data
that is not a feed at all (an HTML page), raises FetchError.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import re
import time
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from briefing.errors import FetchError
from briefing.sources.feeds.text import (
    as_string,
    html_to_text,
    join_paragraphs,
    nonempty,
    one_line,
    parser_headers,
)
from briefing.sources.feeds.urls import WEB_SCHEMES, canonical_url
from briefing.sources.fetch import shown_url

# The logger of briefing.sources.feeds.poll: the name these records had before this module split
# off (log lines show it, logging settings and tests select it).
log = logging.getLogger(__name__)

TEASER_WORDS = 150
"""An entry whose fullest text (content, else summary) is shorter than this many words is a
teaser: the article page must be fetched. At this length or more the feed carries the article."""

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_LOOKS_LIKE_MARKUP = re.compile(r"<[A-Za-z!/][^>]*>|&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")
_LOOKS_LIKE_HTML_PAGE = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, as plain text."""

    guid: str  # the entry's id, else its link, else a hash of title and summary; never empty
    url: str | None  # absolute http(s) link, canonicalised (see canonical_url)
    title: str | None
    published: datetime | None  # aware, UTC; from published, else updated
    summary: str | None  # plain text of the summary (else of the content)
    content: str | None  # plain text of the full content (content:encoded, Atom content)
    is_teaser: bool  # its fullest text is under TEASER_WORDS words: the page must be fetched

    @property
    def text(self) -> str | None:
        """The fullest text the feed gives: content or summary, whichever has more words.

        Many feeds carry the whole article in the summary (an RSS description) and no
        content element.
        """
        return _fullest(self.content, self.summary)


@dataclass(frozen=True)
class _Draft:
    """An entry before its (costlier) text conversion: enough to de-duplicate and sort."""

    guid: str
    url: str | None
    published: datetime | None
    raw: Mapping[str, Any]


def parse_feed(
    data: bytes, url: str, max_entries: int, content_type: str | None = None
) -> tuple[str | None, list[FeedEntry]]:
    """Parse feed bytes into (feed title, entries).

    ``url`` is where the feed came from: relative links are resolved against it and errors
    name it. ``content_type`` is the Content-Type header, if any; its charset is honoured,
    otherwise the XML declaration decides the encoding. Entries are de-duplicated by guid (the
    first wins), sorted newest first (undated ones after the dated ones, in feed order) and
    capped to ``max_entries``. Raises FetchError when the data is not an RSS or Atom feed or is
    too malformed to yield a single entry; a slightly malformed feed is used, with a warning.
    """
    parsed = feedparser.parse(
        io.BytesIO(data), response_headers=parser_headers(data, content_type)
    )
    shown = shown_url(url)
    if not parsed.get("version"):
        raise FetchError(_not_a_feed(shown, data, content_type, parsed.get("bozo_exception")))
    drafts = _unique(_drafts(parsed.get("entries", []), url))
    if parsed.get("bozo"):
        problem = _problem(parsed.get("bozo_exception"))
        if not drafts:
            raise FetchError(f"malformed feed {shown}: {problem}; no entry could be read")
        log.warning("feed %s is malformed (%s); using its %d entries", shown, problem, len(drafts))
    kept = _newest_first(drafts)[: max(max_entries, 0)]
    if len(drafts) > len(kept):
        log.info("feed %s: keeping the newest %d of %d entries", shown, len(kept), len(drafts))
    return _feed_title(parsed.get("feed", {})), [_entry(draft) for draft in kept]


def _not_a_feed(shown: str, data: bytes, content_type: str | None, problem: object) -> str:
    """The message for data that feedparser did not recognise as any kind of feed."""
    if _LOOKS_LIKE_HTML_PAGE.match(data[:4096]) or (content_type or "").lower().startswith(
        ("text/html", "application/xhtml")
    ):
        return f"{shown} is not an RSS or Atom feed: it looks like an HTML page"
    if not data.strip():
        return f"{shown} is not an RSS or Atom feed: the response is empty"
    detail = f" ({_problem(problem)})" if problem is not None else ""
    return f"{shown} is not an RSS or Atom feed{detail}"


def _problem(exc: object) -> str:
    """feedparser's bozo exception as a short, one-line description."""
    if isinstance(exc, xml.sax.SAXParseException):
        return (
            f"XML error at line {exc.getLineNumber()}, column {exc.getColumnNumber()}: "
            f"{exc.getMessage()}"
        )
    return " ".join(str(exc).split()) or type(exc).__name__


def _feed_title(feed: Mapping[str, Any]) -> str | None:
    """The feed's title as one line of plain text."""
    return one_line(_text(feed.get("title"), feed.get("title_detail")))


def _drafts(entries: Iterable[Mapping[str, Any]], base: str) -> Iterable[_Draft]:
    """A draft per entry, skipping entries with nothing in them."""
    for raw in entries:
        draft = _draft(raw, base)
        if draft is not None:
            yield draft


def _draft(raw: Mapping[str, Any], base: str) -> _Draft | None:
    """The entry's guid, link and date, or None for an entry with nothing in it."""
    ident = as_string(raw.get("id"))
    url = _entry_url(raw.get("link"), base, from_guid=bool(raw.get("guidislink")))
    title = as_string(raw.get("title"))
    summary = as_string(raw.get("summary"))
    if not (ident or url or title or summary or raw.get("content")):
        return None  # what a broken feed's recovery leaves behind
    guid = ident or url or _hashed_guid(title, summary, raw.get("content"))
    return _Draft(guid, url, _published(raw), raw)


def _hashed_guid(title: str | None, summary: str | None, content: object) -> str:
    """A stable guid for an entry with neither id nor link."""
    body = summary if summary is not None else _content_value(content) or ""
    digest = hashlib.sha256(f"{title or ''}\n{body}".encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def _unique(drafts: Iterable[_Draft]) -> list[_Draft]:
    """Drafts with duplicate guids dropped; the first one wins."""
    seen: set[str] = set()
    unique = []
    for draft in drafts:
        if draft.guid not in seen:
            seen.add(draft.guid)
            unique.append(draft)
    return unique


def _newest_first(drafts: list[_Draft]) -> list[_Draft]:
    """Dated drafts newest first, then undated ones in feed order (the sort is stable)."""
    dated = [d for d in drafts if d.published is not None]
    dated.sort(key=lambda d: d.published or datetime.min.replace(tzinfo=UTC), reverse=True)
    return dated + [d for d in drafts if d.published is None]


def _published(raw: Mapping[str, Any]) -> datetime | None:
    """The entry's published (else updated) date as an aware UTC datetime, if valid."""
    for key in ("published_parsed", "updated_parsed"):
        # Not raw.get: feedparser's dict answers a missing updated_parsed with published_parsed,
        # and a DeprecationWarning.
        value = dict.get(raw, key) if isinstance(raw, dict) else raw.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except (ValueError, OverflowError):
                continue
    return None


def _entry(draft: _Draft) -> FeedEntry:
    """The finished entry: texts converted from HTML."""
    raw = draft.raw
    content = nonempty(_content_text(raw.get("content")))
    summary = nonempty(_text(raw.get("summary"), raw.get("summary_detail"))) or content
    fullest = _fullest(content, summary)
    return FeedEntry(
        guid=draft.guid,
        url=draft.url,
        title=one_line(_text(raw.get("title"), raw.get("title_detail"))),
        published=draft.published,
        summary=summary,
        content=content,
        is_teaser=fullest is None or len(fullest.split()) < TEASER_WORDS,
    )


def _fullest(*texts: str | None) -> str | None:
    """The text with the most words (the first of equals), or None when all are empty."""
    present = [text for text in texts if text]
    return max(present, key=lambda text: len(text.split())) if present else None


def _entry_url(link: object, base: str, *, from_guid: bool) -> str | None:
    """The entry's link, absolute and canonical; None unless it is an http(s) URL.

    feedparser takes an RSS guid for the link when there is no <link> and the guid does not
    say isPermaLink="false"; such a guid is only a link when it is an absolute URL already.
    """
    text = as_string(link)
    if text is None:
        return None
    try:
        url = canonical_url(text if from_guid else urljoin(base, text))
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in WEB_SCHEMES and parts.hostname else None


def _content_text(content: object) -> str | None:
    """Plain text of the longest content block (feedparser gives a list of them)."""
    if not isinstance(content, list):
        return None
    blocks = [block for block in content if isinstance(block, Mapping) and block.get("value")]
    if not blocks:
        return None
    longest = max(blocks, key=lambda block: len(str(block["value"])))
    return _text(longest["value"], longest)


def _content_value(content: object) -> str | None:
    """The raw value of the first content block, for hashing."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return as_string(content[0].get("value"))
    return None


def _text(value: object, detail: object) -> str | None:
    """Plain text of a feedparser text construct, HTML or not (as its type says, else sniffed)."""
    text = as_string(value)
    if text is None:
        return None
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    is_html = kind in _HTML_TYPES if kind else bool(_LOOKS_LIKE_MARKUP.search(text))
    return html_to_text(text) if is_html else join_paragraphs(html.unescape(text), blank_lines=True)

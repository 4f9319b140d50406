"""Polling RSS and Atom feeds: one conditional GET, then clean, de-duplicated entries.

A pure module: it remembers nothing between polls. The caller stores the :class:`FeedState`
that :func:`poll_feed` hands back (its ETag and Last-Modified) and passes it to the next poll,
which then costs the server a 304 when nothing changed.

All HTTP goes through :func:`briefing.sources.fetch.fetch_url`, so the address checks, the
redirect limit, the timeouts and a size cap (``service.max_feed_bytes``) apply to feeds too.
Parsing is feedparser's; what comes out of it is plain text, absolute canonical URLs and
timezone-aware UTC dates.
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
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import feedparser
import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

from briefing.config import FetchSettings, ServiceSettings
from briefing.errors import FetchError
from briefing.sources.fetch import Fetched, Resolver, fetch_url

__all__ = [
    "FEED_TYPES",
    "TEASER_WORDS",
    "FeedEntry",
    "FeedResult",
    "FeedState",
    "canonical_url",
    "html_to_text",
    "parse_feed",
    "poll_feed",
]

log = logging.getLogger(__name__)

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/x-rss+xml",
        "application/x-atom+xml",
    }
)
"""Media types a feed is served as."""

# Many servers label feeds as a page or as text; feedparser then decides (a missing
# Content-Type is always accepted by fetch_url).
_ACCEPTED = FEED_TYPES | {"text/html", "text/plain"}
_ACCEPT_HEADER = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)

TEASER_WORDS = 150
"""Feed content shorter than this many words is a teaser: the article page must be fetched."""

# Query parameters that only track where a click came from; dropped by canonical_url. xtor is
# AT Internet's, found on most French news sites' feed links.
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "xtor"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_WEB_SCHEMES = frozenset({"http", "https"})

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_LOOKS_LIKE_MARKUP = re.compile(r"<[A-Za-z!/][^>]*>|&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")
_LOOKS_LIKE_HTML_PAGE = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)
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


@dataclass(frozen=True)
class FeedState:
    """What the store remembers of a feed between polls."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, as plain text."""

    guid: str  # the entry's id, else its link, else a hash of title and summary; never empty
    url: str | None  # absolute http(s) link, canonicalised (see canonical_url)
    title: str | None
    published: datetime | None  # aware, UTC; from published, else updated
    summary: str | None  # plain text of the summary (else of the content)
    content: str | None  # plain text of the full content (content:encoded, Atom content)
    is_teaser: bool  # no content, or under TEASER_WORDS words: the page must be fetched


@dataclass(frozen=True)
class FeedResult:
    """What one poll found."""

    state: FeedState  # to store for the next poll
    title: str | None
    entries: list[FeedEntry]  # unique guids, newest first, at most max_entries_per_poll
    not_modified: bool  # the server answered 304: no entries


@dataclass(frozen=True)
class _Draft:
    """An entry before its (costlier) text conversion: enough to de-duplicate and sort."""

    guid: str
    url: str | None
    published: datetime | None
    raw: Mapping[str, Any]


def poll_feed(
    state: FeedState,
    fetch: FetchSettings,
    service: ServiceSettings,
    *,
    resolver: Resolver | None = None,
) -> FeedResult:
    """Fetch the feed at ``state.url`` (conditionally) and parse it.

    Sends If-None-Match / If-Modified-Since from the state; a 304 gives ``not_modified`` and
    no entries. Raises FetchError (one line) when the feed cannot be fetched (refused address,
    timeout, redirect loop, HTTP error, more than ``service.max_feed_bytes``) or is not a
    usable feed (an HTML page, XML too broken to yield any entry).
    """
    fetched = fetch_url(
        state.url,
        fetch,
        resolver=resolver,
        accept=_ACCEPTED,
        max_bytes=service.max_feed_bytes,
        headers=_request_headers(state),
    )
    if fetched.status == 304:
        log.info("feed %s: not modified", fetched.final_url)
        return FeedResult(_next_state(state, fetched), None, [], not_modified=True)
    title, entries = parse_feed(
        fetched.content,
        fetched.final_url,
        service.max_entries_per_poll,
        content_type=fetched.headers.get("content-type"),
    )
    log.info("feed %s: %d entries", fetched.final_url, len(entries))
    return FeedResult(_next_state(state, fetched), title, entries, not_modified=False)


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
        io.BytesIO(data), response_headers=_parser_headers(data, content_type)
    )
    shown = _shown(url)
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


def canonical_url(url: str) -> str:
    """The URL in a canonical form, so one article has one URL.

    Scheme and host lower-case, default port and fragment removed, an empty path made "/",
    tracking parameters (utm_*, fbclid, gclid, xtor, ...) dropped; the rest of the query is
    kept as is, in order. Text that is not a parsable URL comes back stripped, unchanged.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(parts.netloc, scheme)
    path = parts.path or ("/" if netloc and scheme in _WEB_SCHEMES else "")
    return urlunsplit((scheme, netloc, path, _without_tracking(parts.query), ""))


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags stripped, entities decoded, whitespace collapsed.

    Block elements (p, div, li, headings, ...) and double <br> become paragraph breaks ("\\n\\n");
    scripts and styles are dropped. Text without a single tag keeps its blank lines as
    paragraph breaks (feeds label plain descriptions as HTML).
    """
    markup = _XML_INVALID.sub("", markup).strip()
    if "<" not in markup:
        return _paragraphs(html.unescape(markup), blank_lines=True)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return _paragraphs(html.unescape(re.sub(r"<[^>]*>", " ", markup)), blank_lines=False)
    for element in root.xpath("|".join(f"//{tag}" for tag in _DROPPED_TAGS)):
        element.drop_tree()
    for element in root.iter():
        _mark_breaks(element)
    return _paragraphs(str(root.text_content()), blank_lines=False)


# --- the request ---------------------------------------------------------------------------


def _request_headers(state: FeedState) -> dict[str, str]:
    """Accept, plus the validators of the last poll (a conditional GET)."""
    headers = {"Accept": _ACCEPT_HEADER}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _next_state(state: FeedState, fetched: Fetched) -> FeedState:
    """The state to store: this answer's validators (a 304 may omit them: keep the old ones)."""
    etag = _validator(fetched.headers.get("etag"))
    last_modified = _validator(fetched.headers.get("last-modified"))
    if fetched.status == 304:
        etag = etag or state.etag
        last_modified = last_modified or state.last_modified
    return FeedState(state.url, etag, last_modified)


def _validator(value: str | None) -> str | None:
    """An ETag or Last-Modified value fit to send back in a header, else None."""
    value = (value or "").strip()
    if not value or len(value) > 1024 or not value.isascii() or not value.isprintable():
        return None
    return value


# --- parsing -------------------------------------------------------------------------------


def _parser_headers(data: bytes, content_type: str | None) -> dict[str, str]:
    """The response headers feedparser is given: an XML content type, maybe a charset.

    Feeds are often mislabelled (text/html, text/plain, none), and RFC 3023 would make text/*
    without a charset US-ASCII; so feedparser always hears application/xml, where the XML
    declaration decides, plus the header's charset when there is one it can trust.

    No Content-Location: feedparser would resolve ids against it too, turning a bare
    ``<guid>12345</guid>`` into a made-up link. Links are resolved here instead.
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
    return _one_line(_text(feed.get("title"), feed.get("title_detail")))


def _drafts(entries: Iterable[Mapping[str, Any]], base: str) -> Iterable[_Draft]:
    """A draft per entry, skipping entries with nothing in them."""
    for raw in entries:
        draft = _draft(raw, base)
        if draft is not None:
            yield draft


def _draft(raw: Mapping[str, Any], base: str) -> _Draft | None:
    """The entry's guid, link and date, or None for an entry with nothing in it."""
    ident = _string(raw.get("id"))
    url = _entry_url(raw.get("link"), base, from_guid=bool(raw.get("guidislink")))
    title = _string(raw.get("title"))
    summary = _string(raw.get("summary"))
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
    content = _nonempty(_content_text(raw.get("content")))
    summary = _nonempty(_text(raw.get("summary"), raw.get("summary_detail"))) or content
    return FeedEntry(
        guid=draft.guid,
        url=draft.url,
        title=_one_line(_text(raw.get("title"), raw.get("title_detail"))),
        published=draft.published,
        summary=summary,
        content=content,
        is_teaser=content is None or len(content.split()) < TEASER_WORDS,
    )


def _entry_url(link: object, base: str, *, from_guid: bool) -> str | None:
    """The entry's link, absolute and canonical; None unless it is an http(s) URL.

    feedparser takes an RSS guid for the link when there is no <link> and the guid does not
    say isPermaLink="false"; such a guid is only a link when it is an absolute URL already.
    """
    text = _string(link)
    if text is None:
        return None
    try:
        url = canonical_url(text if from_guid else urljoin(base, text))
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in _WEB_SCHEMES and parts.hostname else None


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
        return _string(content[0].get("value"))
    return None


def _text(value: object, detail: object) -> str | None:
    """Plain text of a feedparser text construct, HTML or not (as its type says, else sniffed)."""
    text = _string(value)
    if text is None:
        return None
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    is_html = kind in _HTML_TYPES if kind else bool(_LOOKS_LIKE_MARKUP.search(text))
    return html_to_text(text) if is_html else _paragraphs(html.unescape(text), blank_lines=True)


# --- HTML to text --------------------------------------------------------------------------


def _mark_breaks(element: Any) -> None:
    """Put paragraph markers around a block element, a line marker after a <br>."""
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag == "br":
        element.tail = _LINE + (element.tail or "")
    elif tag in _BLOCK_TAGS:
        element.text = _PARAGRAPH + (element.text or "")
        element.tail = _PARAGRAPH + (element.tail or "")


def _paragraphs(text: str, *, blank_lines: bool) -> str:
    """Collapse whitespace; markers, double <br> and (in plain text) blank lines give "\\n\\n"."""
    if blank_lines:
        text = _BLANK_LINE.sub(_PARAGRAPH, text)
    text = _LINE_RUN.sub(_PARAGRAPH, _SPACES.sub(" ", text)).replace(_LINE, " ")
    paragraphs = (_SPACES.sub(" ", part).strip() for part in text.split(_PARAGRAPH))
    return "\n\n".join(part for part in paragraphs if part)


def _one_line(text: str | None) -> str | None:
    """text on one line (titles), or None when empty."""
    return _nonempty(" ".join(text.split())) if text is not None else None


def _nonempty(text: str | None) -> str | None:
    """text, or None when it is None or blank."""
    return text if text and text.strip() else None


def _string(value: object) -> str | None:
    """value stripped, if it is a non-empty string."""
    return value.strip() or None if isinstance(value, str) else None


# --- URLs ----------------------------------------------------------------------------------


def _canonical_netloc(netloc: str, scheme: str) -> str:
    """netloc with the host lower-case and the scheme's default port (or an empty one) removed."""
    userinfo, at, hostport = netloc.rpartition("@")
    hostport = hostport.lower()
    host, colon, port = hostport.rpartition(":")
    if colon and "]" not in port and port.lstrip("0") in ("", _DEFAULT_PORTS.get(scheme, "-")):
        hostport = host
    return f"{userinfo}{at}{hostport}"


def _without_tracking(query: str) -> str:
    """The query string without tracking parameters; the others kept verbatim, in order."""
    kept = [part for part in query.split("&") if part and not _is_tracking(part)]
    return "&".join(kept)


def _is_tracking(part: str) -> bool:
    """True for a name=value pair whose name is a tracking parameter."""
    name = unquote_plus(part.partition("=")[0]).strip().lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def _shown(url: str) -> str:
    """url for a message: without user:password@, on one line."""
    text = " ".join(url.split())
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if "@" not in parts.netloc:
        return text
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

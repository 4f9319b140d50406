"""OPML subscription lists: read (OPML 1.0, 1.1 and 2.0) and written (OPML 2.0).

Pure: bytes in, one `Outline` per feed out, and back; nothing is fetched or stored here.

Reading. Every `<outline>` under `<body>` that has an `xmlUrl` is a feed, whatever its
`type` (readers write `rss` for Atom feeds too, some write nothing); its name is its
`title`, else its `text` (unless that only repeats the URL). Outlines without `xmlUrl`
are folders: they are flattened, each feed keeping the names of the folders it sat in.
A feed listed twice (in two folders) comes out once, where it was first listed.

The file comes from users, so it is parsed as untrusted XML: at most `max_bytes`, no
network, no entity ever resolved, and any `<!DOCTYPE>` refused before its declarations are
read, since OPML has no DTD and entities are how XML bombs (billion laughs) and external
entity reads (`<!ENTITY x SYSTEM "file:///etc/passwd">`) work. lxml reports the document
type before its internal subset, so parsing stops there, at no cost.

Every refusal is one BadInput line naming the file, with a `reason` the bot words for
readers: `opml_not_xml`, `opml_doctype`, `opml_not_opml`, `opml_empty`, `too_large`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import lxml.etree  # type: ignore[import-untyped]

from briefing.errors import BadInput
from briefing.sources.load import too_large

# Characters XML 1.0 cannot hold at all (lxml refuses to write them): a stored title with
# one must still export.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_TITLE_CHARS = 500  # as many as the store keeps of a feed's title


@dataclass(frozen=True)
class Outline:
    """One feed of an OPML file."""

    url: str  # the xmlUrl, stripped (checked by whoever imports it, not here)
    title: str | None  # title, else text; None when neither names it
    folders: tuple[str, ...] = field(default=(), compare=False)  # outermost first


class _Doctype(Exception):
    """Raised from the parser's doctype callback: the document declares a DTD."""


class _Collector:
    """An lxml parser target: keeps the feed outlines, the folders around them and whether
    the document has the shape of an OPML file, without building a tree."""

    def __init__(self) -> None:
        self.root: str | None = None
        self.body = False
        self.outlines: list[Outline] = []
        self._path: list[str] = []  # open elements
        self._folders: list[str] = []  # names of the open outlines

    def doctype(self, *_: Any) -> None:
        raise _Doctype

    def start(self, tag: Any, attrib: Any) -> None:
        name = tag if isinstance(tag, str) else ""
        if self.root is None:
            self.root = name
        if name == "body" and self._path == ["opml"]:
            self.body = True
        if name == "outline" and self._path[:2] == ["opml", "body"]:
            # Without entity substitution, libxml2 hands a target every "&" of an attribute
            # (written &amp; or &#38;) as "&#38;", and each of them so: undoing it is exact.
            self._outline({str(k).lower(): str(v).replace("&#38;", "&")
                           for k, v in attrib.items()})
        self._path.append(name)

    def _outline(self, attrs: dict[str, str]) -> None:
        url = attrs.get("xmlurl", "").strip()
        title = _one_line(attrs.get("title")) or _one_line(attrs.get("text"))
        if url:
            self.outlines.append(Outline(url, None if title == url else title,
                                         tuple(self._folders)))
        self._folders.append(title or "")

    def end(self, tag: Any) -> None:
        if self._path.pop() == "outline" and self._path[:2] == ["opml", "body"]:
            self._folders.pop()

    def data(self, _: Any) -> None:
        """Text between tags: OPML keeps everything in attributes."""

    def close(self) -> None:
        """The parse is over: what was collected stays on the object."""


def _one_line(text: str | None) -> str | None:
    """Whitespace collapsed, cut to what the store keeps; None when nothing is left."""
    value = _SPACES.sub(" ", text or "").strip()[:_TITLE_CHARS]
    return value or None


def parse_opml(data: bytes, label: str, max_bytes: int) -> list[Outline]:
    """The feeds of an OPML file, in file order, each once; BadInput (one line starting
    with `label`) when the data is larger than `max_bytes`, not XML, declares a DTD, is not
    OPML, or lists no feed."""
    if len(data) > max_bytes:
        raise too_large(label, max_bytes)
    collector = _Collector()
    parser = lxml.etree.XMLParser(target=collector, resolve_entities=False, no_network=True,
                                  load_dtd=False, huge_tree=False)
    try:
        lxml.etree.fromstring(data, parser)
    except _Doctype:
        raise BadInput(f"{label}: declares a DTD (<!DOCTYPE>), which OPML never needs; "
                       "refused, since entities can expand or read files",
                       reason="opml_doctype") from None
    except lxml.etree.XMLSyntaxError as exc:
        detail = _one_line(str(exc.msg or exc)) or "no XML"
        raise BadInput(f"{label}: not an XML file ({detail})", reason="opml_not_xml") from None
    if collector.root != "opml" or not collector.body:
        found = f"its root element is <{collector.root}>" if collector.root != "opml" else (
            "it has no <body>")
        raise BadInput(f"{label}: not an OPML file ({found})", reason="opml_not_opml")
    unique: dict[str, Outline] = {}
    for outline in collector.outlines:
        unique.setdefault(outline.url, outline)  # the first listing wins
    if not unique:
        raise BadInput(f"{label}: lists no feed (no <outline> with an xmlUrl)",
                       reason="opml_empty")
    return list(unique.values())


def write_opml(outlines: Iterable[Outline], title: str, created: datetime) -> bytes:
    """An OPML 2.0 document (UTF-8) listing these feeds flat, in this order: each outline
    `type="rss"`, its `text` the title (the URL when it has none, since OPML 2.0 requires
    `text`), its `title` only when it has one, so that reading it back gives the same
    feeds and titles."""
    root = lxml.etree.Element("opml", version="2.0")
    head = lxml.etree.SubElement(root, "head")
    lxml.etree.SubElement(head, "title").text = _xml_text(title)
    lxml.etree.SubElement(head, "dateCreated").text = format_datetime(created)
    body = lxml.etree.SubElement(root, "body")
    for outline in outlines:
        url, name = _xml_text(outline.url), _xml_text(outline.title or "")
        attrs = {"type": "rss", "text": name or url}
        if name:
            attrs["title"] = name
        attrs["xmlUrl"] = url
        lxml.etree.SubElement(body, "outline", attrs)
    data: bytes = lxml.etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                      pretty_print=True)
    return data


def _xml_text(text: str) -> str:
    """Text XML can hold: characters XML 1.0 forbids (control characters) dropped."""
    return _NOT_XML.sub("", text)

"""Telegram's ``parse_mode="HTML"`` parser, as a pure function (standard library only).

Usage::

    text, entities = parse_html("<b>Bonjour</b> &amp; bienvenue")
    # text == "Bonjour & bienvenue"
    # entities == [{"type": "bold", "offset": 0, "length": 7}]

It follows the Bot API rules (and tdlib's parser, which implements them):

* supported tags: ``b strong i em u ins s strike del span tg-spoiler a code pre blockquote
  tg-emoji``; tag and attribute names are case-insensitive; ``span`` needs
  ``class="tg-spoiler"``, ``a`` needs ``href``, ``tg-emoji`` needs a numeric ``emoji-id``;
  ``<code class="language-x">`` directly inside ``<pre>`` gives the ``pre`` its ``language``;
  ``<blockquote expandable>`` is an ``expandable_blockquote``;
* entities: ``&lt; &gt; &amp; &quot;`` and numeric ``&#123;`` / ``&#x1F600;``;
* entity offsets and lengths are counted in UTF-16 code units, as Telegram does; tags
  enclosing no text produce no entity.

Anything else raises :class:`HTMLError`, whose message is what Telegram puts after
``"Bad Request: can't parse entities: "``. The fake is deliberately *stricter* than Telegram on one
point: tdlib keeps a ``&`` that does not start a known entity (``Tom & Jerry``, ``&nbsp;``) as
literal text, while this parser rejects it, so tests catch text that was not escaped. A bare
``>`` is accepted, as Telegram does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SUPPORTED_TAGS", "HTMLError", "parse_html", "utf16_len"]

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
"""Tag names Telegram accepts in ``parse_mode="HTML"``."""

_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:([A-Za-z]+)|#([0-9]{1,10})|#[xX]([0-9A-Fa-f]{1,8}));")
_NAMED_RE = re.compile(r"&[A-Za-z][A-Za-z0-9]*;?")
_NUMERIC_RE = re.compile(r"&#[xX]?[0-9A-Fa-f]*;?")
_SPACES = frozenset(" \t\n\r\f\v\0")
_NAME_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


class HTMLError(ValueError):
    """Telegram would refuse the HTML: ``reason`` is the text after "can't parse entities: "."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how Telegram counts characters and offsets)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    """UTF-8 byte offset of ``text[index]`` (Telegram reports errors in bytes)."""
    return len(text[:index].encode("utf-8", "surrogatepass"))


@dataclass
class _Open:
    """A start tag waiting for its end tag."""

    tag: str
    start: int  # UTF-16 offset in the output text
    byte_offset: int  # of the "<" in the input
    attributes: dict[str, str] = field(default_factory=dict)


class _Parser:
    """One parse of one text; see :func:`parse_html`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.out: list[str] = []
        self.pos = 0  # UTF-16 length of the output so far
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    # -- helpers

    def error(self, reason: str, index: int | None = None) -> HTMLError:
        if index is None:
            return HTMLError(reason)
        return HTMLError(f"{reason} at byte offset {_byte_offset(self.text, index)}")

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.pos += utf16_len(chunk)

    def at_end(self) -> bool:
        return self.i >= len(self.text)

    def skip_spaces(self) -> None:
        while not self.at_end() and self.text[self.i] in _SPACES:
            self.i += 1

    # -- main loop

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        text = self.text
        while not self.at_end():
            char = text[self.i]
            if char == "&":
                self.emit(self.entity())
            elif char == "<" and text.startswith("</", self.i):
                self.end_tag()
            elif char == "<":
                self.start_tag()
            else:
                start = self.i
                while not self.at_end() and text[self.i] not in "&<":
                    self.i += 1
                self.emit(text[start : self.i])
        if self.stack:
            top = self.stack[-1]
            reason = f'Can\'t find end tag corresponding to start tag "{top.tag}"'
            raise HTMLError(f"{reason} at byte offset {top.byte_offset}")
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)  # only a <pre> keeps the language of its <code>
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    # -- character references

    def entity(self) -> str:
        """Decode the entity at ``self.i`` (which is on a ``&``) and move past it."""
        start = self.i
        match = _ENTITY_RE.match(self.text, start)
        if match is None:
            named = _NAMED_RE.match(self.text, start)
            if named is not None and named.group()[1:].rstrip(";") in _NAMED_ENTITIES:
                raise self.error(f'Unterminated HTML entity "{named.group()}"', start)
            numeric = _NUMERIC_RE.match(self.text, start)
            if numeric is not None:
                raise self.error(f'Invalid character reference "{numeric.group()}"', start)
            raise self.error('Character "&" must be escaped as "&amp;"', start)
        name, decimal, hexadecimal = match.groups()
        if name is not None:
            if name not in _NAMED_ENTITIES:
                raise self.error(f'Unsupported HTML entity "{match.group()}"', start)
            decoded = _NAMED_ENTITIES[name]
        else:
            code = int(decimal) if decimal is not None else int(hexadecimal, 16)
            if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise self.error(f'Invalid character reference "{match.group()}"', start)
            decoded = chr(code)
        self.i = match.end()
        return decoded

    # -- tags

    def start_tag(self) -> None:
        text, begin = self.text, self.i
        self.i += 1
        while not self.at_end() and text[self.i] not in _SPACES and text[self.i] != ">":
            self.i += 1
        if self.at_end():
            raise self.error("Unclosed start tag", begin)
        tag = text[begin + 1 : self.i].lower()
        if tag not in SUPPORTED_TAGS:
            raise self.error(f'Unsupported start tag "{tag}"', begin)
        attributes = self.attributes(tag, begin)
        self.check_start_tag(tag, attributes, begin)
        self.stack.append(_Open(tag, self.pos, _byte_offset(text, begin), attributes))

    def attributes(self, tag: str, begin: int) -> dict[str, str]:
        """Parse attributes up to and past the closing ``>`` of a start tag."""
        text = self.text
        attributes: dict[str, str] = {}
        while True:
            self.skip_spaces()
            if self.at_end():
                raise self.error("Unclosed start tag", begin)
            if text[self.i] == ">":
                self.i += 1
                return attributes
            name_begin = self.i
            while not self.at_end() and text[self.i] not in _SPACES and text[self.i] not in "=>":
                self.i += 1
            name = text[name_begin : self.i].lower()
            if not name:
                raise self.error(f'Empty attribute name in the tag "{tag}"', begin)
            self.skip_spaces()
            if self.at_end():
                raise self.error("Unclosed start tag", begin)
            if text[self.i] != "=":
                attributes[name] = ""  # a valueless attribute, e.g. <blockquote expandable>
                continue
            self.i += 1
            self.skip_spaces()
            if self.at_end():
                raise self.error("Unclosed start tag", begin)
            attributes[name] = self.attribute_value(begin)

    def attribute_value(self, begin: int) -> str:
        text = self.text
        quote = text[self.i]
        if quote not in "\"'":
            token_begin = self.i
            while not self.at_end() and text[self.i] in _NAME_TOKEN_CHARS:
                self.i += 1
            if self.at_end() or (text[self.i] not in _SPACES and text[self.i] != ">"):
                raise self.error("Unexpected end of name token", token_begin)
            return text[token_begin : self.i].lower()
        self.i += 1
        value: list[str] = []
        while not self.at_end() and text[self.i] != quote:
            if text[self.i] == "&":
                value.append(self.entity())
            else:
                value.append(text[self.i])
                self.i += 1
        if self.at_end():
            raise self.error("Unclosed start tag", begin)
        self.i += 1
        return "".join(value)

    def check_start_tag(self, tag: str, attributes: dict[str, str], begin: int) -> None:
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise self.error('Tag "span" must have class "tg-spoiler"', begin)
        if tag == "a" and not attributes.get("href"):
            raise self.error('Tag "a" must have a non-empty attribute "href"', begin)
        if tag == "tg-emoji":
            emoji_id = attributes.get("emoji-id", "")
            if not emoji_id.isascii() or not emoji_id.isdigit() or int(emoji_id) == 0:
                raise self.error("Invalid custom emoji identifier specified", begin)

    def end_tag(self) -> None:
        text, begin = self.text, self.i
        if not self.stack:
            raise self.error("Unexpected end tag", begin)
        self.i += 2
        while not self.at_end() and text[self.i] not in _SPACES and text[self.i] != ">":
            self.i += 1
        name = text[begin + 2 : self.i].lower()
        self.skip_spaces()
        if self.at_end() or text[self.i] != ">":
            raise self.error("Unclosed end tag", begin)
        self.i += 1
        top = self.stack[-1]
        if name != top.tag:
            raise self.error(
                f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                f'expected "</{top.tag}>", found "</{name}>"'
            )
        self.stack.pop()
        if self.pos > top.start:
            self.add_entity(top)

    def add_entity(self, open_tag: _Open) -> None:
        attributes = open_tag.attributes
        entity: dict[str, Any] = {
            "type": _ENTITY_TYPES[open_tag.tag],
            "offset": open_tag.start,
            "length": self.pos - open_tag.start,
        }
        if open_tag.tag == "a":
            entity["url"] = attributes["href"]
        elif open_tag.tag == "code":
            language = attributes.get("class", "")
            if language.startswith("language-") and len(language) > len("language-"):
                entity["language"] = language.removeprefix("language-")
        elif open_tag.tag == "pre":
            last = self.entities[-1] if self.entities else None
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == entity["offset"]
                and last["length"] == entity["length"]
                and "language" in last
            ):
                self.entities.pop()
                entity["language"] = last["language"]
        elif open_tag.tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif open_tag.tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes["emoji-id"]
        self.entities.append(entity)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into ``(plain_text, entities)`` or raise :class:`HTMLError`.

    Entities are Bot API ``MessageEntity`` dicts (``type``, ``offset``, ``length`` and ``url``,
    ``language`` or ``custom_emoji_id`` when relevant), sorted by offset, with offsets and lengths
    in UTF-16 code units of ``plain_text``. The text is not stripped (the server does that).
    """
    return _Parser(text).run()

"""Conversations with the model, and sources laid out as delimited, numbered data."""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from briefing.sources.models import Document, Story
from briefing.text.sentences import Span, numbered


@dataclass
class Conversation:
    """The messages of one exchange with the model, system instructions first."""

    messages: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def start(cls, system: str) -> Conversation:
        """A conversation that opens with these system instructions."""
        return cls([{"role": "system", "content": system}])

    def user(self, content: str) -> None:
        """Append a user message."""
        self.messages.append({"role": "user", "content": content})

    def assistant(self, content: str) -> None:
        """Append the model's answer."""
        self.messages.append({"role": "assistant", "content": content})

    def for_format(
        self, response_format: str, schema: dict[str, Any], prompt: Callable[..., str]
    ) -> list[dict[str, str]]:
        """The messages to send; below `json_schema` the schema goes into the instructions.

        With `json_object` (with or without a schema) or no `response_format` at all, the
        server does not hold the model to the schema, so the instructions must."""
        if response_format == "json_schema" or not self.messages:
            return list(self.messages)
        hint = prompt("json_format", schema=json.dumps(schema, separators=(",", ":")))
        first = dict(self.messages[0], content=self.messages[0]["content"] + hint)
        return [first, *self.messages[1:]]


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _defuse(sentence: str) -> str:
    # An article must not be able to close its own delimiter and speak as the user.
    return sentence.replace("</source", "<\\/source").replace("<source", "<\\source")


class SourceFormatter:
    """Lays sources out as `<source ...>` blocks of numbered sentences."""

    def label(self, doc: Document) -> str:
        """A one-line description of a source: id, outlet, date, language, title."""
        facts = [doc.outlet, doc.published, doc.language, f'"{doc.title}"' if doc.title else None]
        return f"{doc.id} ({', '.join(f for f in facts if f)})"

    def _open(self, doc: Document) -> str:
        attrs = {"id": doc.id, "outlet": doc.outlet, "published": doc.published,
                 "language": doc.language, "title": doc.title}
        inner = " ".join(f'{k}="{_attr(v)}"' for k, v in attrs.items() if v)
        return f"<source {inner}>"

    def _block(self, doc: Document, spans: Sequence[Span]) -> str:
        starts = [s.start for s in numbered(doc.text)]
        lines = [
            f"[{bisect_right(starts, s.start)}] {_defuse(doc.text[s.start:s.end])}" for s in spans
        ]
        return "\n".join([self._open(doc), *lines, "</source>"])

    def story(self, story: Story) -> str:
        """Every source of the story, whole."""
        return "\n\n".join(self._block(doc, numbered(doc.text)) for doc in story.sources)

    def chunk(self, doc: Document, spans: Sequence[Span]) -> str:
        """Part of one source: the given sentences (or pieces of sentences)."""
        return self._block(doc, spans)

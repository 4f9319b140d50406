"""What sources produce: a `Document` (one article's clean text and metadata) and a
`Story` (the documents told about one event, briefed together).

Every quote offset downstream refers to `Document.text`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """One source of a story: the clean text every quote offset refers to."""

    id: str
    text: str
    language: str
    title: str | None = None
    url: str | None = None
    path: str | None = None
    outlet: str | None = None
    published: str | None = None
    # What the reader should know about how the text was read (a detected charset, bytes
    # replaced with U+FFFD); the pipeline passes them on to the result's notes.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Story:
    """One event, told by one or more sources."""

    sources: tuple[Document, ...]

    def source(self, source_id: str) -> Document | None:
        """The source with this id, or None."""
        return next((s for s in self.sources if s.id == source_id), None)

    @property
    def language(self) -> str:
        """The language most of the story's text is written in."""
        weights: Counter[str] = Counter()
        for src in self.sources:
            weights[src.language] += len(src.text)
        return weights.most_common(1)[0][0]

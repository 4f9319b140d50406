"""Loading sources named on the command line: files, URLs, or `-` for stdin."""

from __future__ import annotations

import sys
from pathlib import Path

from briefing.config import FetchSettings
from briefing.errors import BadInput
from briefing.extract import Extracted, extract
from briefing.models import Document, Story
from briefing.sources.fetch import fetch_url

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".xhtml", "")


def _read_file(spec: str) -> bytes:
    path = Path(spec)
    if not path.exists():
        raise BadInput(f"{spec}: no such file")
    if path.is_dir():
        raise BadInput(f"{spec}: is a directory, not an article file")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise BadInput(f"{spec}: unsupported file type {path.suffix!r} (use .txt, .md or .html)")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{spec}: cannot read ({exc.strerror})") from None


def load_one(spec: str, fetch: FetchSettings) -> tuple[Extracted, str | None]:
    """Extract one source; returns the extraction and the file path, if any."""
    if spec == "-":
        return extract(sys.stdin.buffer.read(), name="stdin"), None
    if spec.startswith(("http://", "https://")):
        page = fetch_url(spec, fetch)
        return extract(page.content, url=page.final_url, content_type=page.content_type,
                       charset=page.charset), None
    return extract(_read_file(spec), name=spec), spec


def to_document(source_id: str, extracted: Extracted, path: str | None) -> Document:
    """A story source from an extraction."""
    return Document(
        id=source_id, text=extracted.text, language=extracted.language, title=extracted.title,
        url=extracted.url, path=path, outlet=extracted.outlet, published=extracted.published,
    )


def load_story(specs: list[str], fetch: FetchSettings) -> Story:
    """Several sources about one event make one story; ids are S1, S2, ..."""
    if not specs:
        raise BadInput("no source given")
    if specs.count("-") > 1:
        raise BadInput("stdin (-) can be read only once")
    docs = [to_document(f"S{i}", *load_one(spec, fetch)) for i, spec in enumerate(specs, 1)]
    return Story(tuple(docs))

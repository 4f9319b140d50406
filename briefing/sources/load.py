"""Loading sources named on the command line: files, URLs, or `-` for stdin.

Every input is read within the same bound as a fetched page, `fetch.max_bytes`: reading
streams and stops as soon as the input is larger, so `/dev/zero` or an endless pipe costs
at most that much memory. A named file must be a regular file or a pipe (a FIFO, or the
`/dev/fd/N` of a shell's process substitution `<(...)`); devices and sockets are refused.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from briefing.config import FetchSettings
from briefing.errors import BadInput
from briefing.sources.extract import Extracted, extract
from briefing.sources.fetch import fetch_url
from briefing.sources.models import Document, Story

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".xhtml", "")
STDIN = "-"
_CHUNK = 64 * 1024
# What a file name can point to besides a regular file or a pipe, as the refusal names it.
_REFUSED_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def size_text(n: int) -> str:
    """A byte count as people say it: "5 MB", "1.5 MB", "800 kB", "12 bytes"."""
    for unit, size in (("MB", 1_000_000), ("kB", 1_000)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def too_large(label: str, max_bytes: int) -> BadInput:
    """The one-line refusal of an input larger than `fetch.max_bytes`."""
    return BadInput(f"{label}: larger than {size_text(max_bytes)}; raise fetch.max_bytes",
                    reason="too_large")


def read_capped(stream: BinaryIO, label: str, max_bytes: int) -> bytes:
    """Read a stream to its end, or raise BadInput as soon as it holds more than max_bytes."""
    data = bytearray()
    while chunk := stream.read(min(_CHUNK, max_bytes + 1 - len(data))):
        data += chunk
        if len(data) > max_bytes:
            raise too_large(label, max_bytes)
    return bytes(data)


def _refused_kind(mode: int) -> str | None:
    return next((name for test, name in _REFUSED_KINDS if test(mode)), None)


def read_file(path: Path, label: str, max_bytes: int) -> bytes:
    """The bytes of a regular file or a pipe, at most max_bytes; BadInput otherwise."""
    try:
        kind = _refused_kind(os.stat(path).st_mode)
        if kind is not None:  # judged before opening: opening some devices can block
            raise BadInput(f"{label}: is {kind}, not an article file")
        stream = path.open("rb")  # a FIFO's open waits for its writer, as a pipe should
    except FileNotFoundError:
        raise BadInput(f"{label}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{label}: cannot read ({exc.strerror})") from None
    with stream:
        # Judged again by what was opened: the name may have been swapped in between.
        info = os.fstat(stream.fileno())
        kind = _refused_kind(info.st_mode)
        if kind is not None:
            raise BadInput(f"{label}: is {kind}, not an article file")
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise too_large(label, max_bytes)  # no need to read what is refused anyway
        try:
            return read_capped(stream, label, max_bytes)
        except OSError as exc:
            raise BadInput(f"{label}: cannot read ({exc.strerror})") from None


def _read_named(spec: str, max_bytes: int) -> bytes:
    path = Path(spec)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        if not path.exists():
            raise BadInput(f"{spec}: no such file")
        if path.is_dir():
            raise BadInput(f"{spec}: is a directory, not an article file")
        raise BadInput(f"{spec}: unsupported file type {path.suffix!r} (use .txt, .md or .html)")
    return read_file(path, spec, max_bytes)


def fetch_article(url: str, fetch: FetchSettings) -> Extracted:
    """The article of a web page: fetched (bounded, redirects followed), then extracted
    with what the response says of its type and charset; `url` of the result is the final
    URL after redirects."""
    page = fetch_url(url, fetch)
    return extract(page.content, url=page.final_url, content_type=page.content_type,
                   charset=page.charset)


def load_one(spec: str, fetch: FetchSettings) -> tuple[Extracted, str | None]:
    """Extract one source; returns the extraction and its path (`-` for stdin), if any."""
    if spec == STDIN:
        data = read_capped(sys.stdin.buffer, "stdin", fetch.max_bytes)
        return extract(data, name="stdin"), STDIN
    if spec.startswith(("http://", "https://")):
        return fetch_article(spec, fetch), None
    return extract(_read_named(spec, fetch.max_bytes), name=spec), spec


def to_document(source_id: str, extracted: Extracted, path: str | None) -> Document:
    """A story source from an extraction."""
    return Document(
        id=source_id, text=extracted.text, language=extracted.language, title=extracted.title,
        url=extracted.url, path=path, outlet=extracted.outlet, published=extracted.published,
        notes=extracted.notes,
    )


def load_story(specs: list[str], fetch: FetchSettings) -> Story:
    """Several sources about one event make one story; ids are S1, S2, ..."""
    if not specs:
        raise BadInput("no source given")
    if specs.count(STDIN) > 1:
        raise BadInput("stdin (-) can be read only once")
    docs = [to_document(f"S{i}", *load_one(spec, fetch)) for i, spec in enumerate(specs, 1)]
    return Story(tuple(docs))

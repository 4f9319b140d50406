"""The watched folder: new or changed `.txt`, `.md` and `.html` files become articles.

A file still being written (changed in the last few seconds, or whose size
moves while we read it) is left for the next pass; a file that cannot be
decoded, holds no text or is larger than `fetch.max_bytes` (read with the same
capped reader as the command line, so a huge file is never read whole) is
reported once and skipped until it changes.
Nothing is half-ingested: an article is stored in one transaction or not at all.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from briefing.config import FetchSettings
from briefing.errors import BadInput
from briefing.service.articles import store_article
from briefing.sources.extract import extract
from briefing.sources.load import read_file
from briefing.store.db import Database

log = logging.getLogger(__name__)
SUFFIXES = frozenset({".txt", ".md", ".html", ".htm"})
SETTLE_SECONDS = 2.0


@dataclass
class IngestReport:
    """What one pass did."""

    stored: int = 0
    duplicates: int = 0
    waiting: int = 0
    rejected: list[str] = field(default_factory=list)


class FolderWatcher:
    """Remembers which file versions were handled, so each pass reads only what changed."""

    def __init__(self, folder: Path, settle_seconds: float = SETTLE_SECONDS,
                 max_bytes: int | None = None) -> None:
        self.folder = folder
        self.settle_seconds = settle_seconds
        # Default: the built-in `fetch.max_bytes`; the service passes the configured one.
        self.max_bytes = FetchSettings().max_bytes if max_bytes is None else max_bytes
        self.seen: dict[Path, tuple[int, int]] = {}  # path -> (mtime_ns, size) handled

    def changed_files(self) -> list[Path]:
        """Article files that are new or changed since they were last handled."""
        if not self.folder.is_dir():
            return []
        files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in SUFFIXES)
        return [p for p in files if p.is_file() and self.seen.get(p) != _version(p)]

    def settled(self, path: Path) -> bool:
        """False while a file may still be being written."""
        return time.time() - path.stat().st_mtime >= self.settle_seconds

    def ingest(self, db: Database) -> IngestReport:
        """One pass over the folder."""
        report = IngestReport()
        for path in self.changed_files():
            if not self.settled(path):
                report.waiting += 1
                continue
            self.ingest_file(db, path, report)
        return report

    def ingest_file(self, db: Database, path: Path, report: IngestReport) -> None:
        """Store one file's article, unless it is still being written or is not text."""
        before = _version(path)
        try:
            data = read_file(path, path.name, self.max_bytes)
            if _version(path) != before or len(data) != before[1]:
                report.waiting += 1  # it moved under us: still being written
                return
            self.seen[path] = before
            extracted = extract(data, name=path.name)
        except BadInput as exc:
            self.seen[path] = before  # reported once, until the file changes
            log.warning("skipping %s: %s", path, exc)
            report.rejected.append(f"{path}: {exc}")
            return
        for note in extracted.notes:  # a detected charset, replaced bytes: worth a look
            log.warning("%s: %s", path, note)
        try:
            with db.session() as session:
                stored = store_article(session, extracted, path=str(path))
        except IntegrityError:  # another process stored the same article first
            stored = None
        if stored is None or stored.duplicate:
            report.duplicates += 1
        else:
            report.stored += 1


def _version(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size

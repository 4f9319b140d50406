"""The watched folder: new or changed `.txt`, `.md` and `.html` files become articles.

A file still being written (changed in the last few seconds, or whose size
moves while we read it) is left for the next pass; a file that cannot be
decoded, holds no text or is larger than `fetch.max_bytes` (read with the same
capped reader as the command line, so a huge file is never read whole) is
reported once and skipped until it changes (its size or modification time).
A watcher given a `state` file remembers the rejected versions there, so one
`briefing ingest` after another does not report the same file again.
Nothing is half-ingested: an article is stored in one transaction or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from briefing.clock import utcnow
from briefing.config import FetchSettings
from briefing.errors import BadInput
from briefing.service.articles import store_article
from briefing.sources.extract import extract
from briefing.sources.load import read_file
from briefing.store.db import Database

log = logging.getLogger(__name__)
SUFFIXES = frozenset({".txt", ".md", ".html", ".htm"})
SETTLE_SECONDS = 2.0
REJECTED_STATE = "folder-rejected.json"  # the file name the command line keeps in data_dir
Version = tuple[int, int]  # (mtime_ns, size): a file is changed when either moves


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
                 max_bytes: int | None = None, clock: Callable[[], datetime] = utcnow,
                 state: Path | None = None) -> None:
        self.folder = folder
        self.clock = clock
        self.settle_seconds = settle_seconds
        # Default: the built-in `fetch.max_bytes`; the service passes the configured one.
        self.max_bytes = FetchSettings().max_bytes if max_bytes is None else max_bytes
        self.seen: dict[Path, Version] = {}  # path -> version handled by this watcher
        self.state = state
        # Absolute path -> version rejected, kept across processes when `state` is given.
        self.rejected: dict[str, Version] = _load_rejected(state) if state else {}

    def changed_files(self) -> list[Path]:
        """Article files that are new or changed since they were last handled (or rejected)."""
        if not self.folder.is_dir():
            return []
        files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in SUFFIXES)
        changed = []
        for path in files:
            if not path.is_file():
                continue
            version = _version(path)
            if self.seen.get(path) != version and self.rejected.get(_key(path)) != version:
                changed.append(path)
        return changed

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
            self._remember(path, before)
            log.warning("skipping %s: %s", path, exc)
            report.rejected.append(f"{path}: {exc}")
            return
        self._remember(path, None)  # a file rejected once and mended since: forget it
        for note in extracted.notes:  # a detected charset, replaced bytes: worth a look
            log.warning("%s: %s", path, note)
        stored = store_article(db, extracted, self.clock(), path=str(path))
        if stored.duplicate:
            report.duplicates += 1
        else:
            report.stored += 1

    def _remember(self, path: Path, rejected: Version | None) -> None:
        """Record (or forget) a rejected version, and keep the state file in step."""
        key = _key(path)
        if self.rejected.get(key) == rejected:
            return
        if rejected is None:
            del self.rejected[key]
        else:
            self.rejected[key] = rejected
        if self.state is not None:
            # Files gone from the disk need no memory; the state stays as small as the folder.
            self.rejected = {k: v for k, v in self.rejected.items() if Path(k).exists()}
            _save_rejected(self.state, self.rejected)


def _version(path: Path) -> Version:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _key(path: Path) -> str:
    return str(path.resolve())


def _load_rejected(state: Path) -> dict[str, Version]:
    """The rejected versions a previous pass saved; none when the file is missing or unreadable.

    Losing this memory costs one repeated report per bad file, so a damaged state file is
    not worth stopping the ingestion for.
    """
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
        return {str(k): (int(v[0]), int(v[1])) for k, v in data["rejected"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        log.warning("ignoring %s (%s): rejected files may be reported again", state, exc)
        return {}


def _save_rejected(state: Path, rejected: dict[str, Version]) -> None:
    # Written aside then renamed, so a reader never sees half a file.
    tmp = state.with_name(f".{state.name}.{os.getpid()}.tmp")
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"rejected": {k: list(v) for k, v in rejected.items()}},
                                  ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, state)
    except OSError as exc:
        log.warning("cannot save %s (%s): rejected files may be reported again", state, exc)

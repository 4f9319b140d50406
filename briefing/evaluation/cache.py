"""The evaluation's LLM cache: answers kept in a SQLite file, and per-article call records.

An interrupted `briefing eval` run with the same cache file gets every answer it
had already paid for from the file: no paid call is made twice. Each article's
engine talks to a `CallRecorder`, which also keeps the latency and tokens of
every call (fresh or from the file) for the cost figures.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from briefing.llm.calls import CallRecord
from briefing.llm.usage import Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY, model TEXT, content TEXT, finish_reason TEXT, outcome TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, cached_tokens INTEGER, seconds REAL
)
"""


class FileCache:
    """`LLMCache` in a SQLite file, shared by the worker threads of one run."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def record(self, key: str) -> CallRecord | None:
        """The kept answer to this request, with what it cost when it was made."""
        with self._lock:
            row = self._db.execute(
                "SELECT model, content, finish_reason, outcome, prompt_tokens, "
                "completion_tokens, cached_tokens, seconds FROM calls WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        usage = Usage(1, row[4], row[5], row[6])
        return CallRecord(row[0], row[1], row[2], usage, row[7], row[3])

    def get(self, key: str) -> tuple[str, str] | None:
        """The kept answer (content, finish reason) to this exact request, if any."""
        kept = self.record(key)
        return (kept.content or "", kept.finish_reason or "stop") if kept else None

    def put(self, key: str, record: CallRecord) -> None:
        """Keep an answer at once (autocommit); failed calls (no content) are not kept."""
        if record.content is None:
            return
        usage = record.usage
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, record.model, record.content, record.finish_reason, record.outcome,
                 usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                 record.seconds),
            )

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


@dataclass(frozen=True)
class CallStat:
    """One LLM call of one article: what it cost, how long it took, whether it was resumed."""

    phase: str  # "brief" or "judge"
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    outcome: str
    resumed: bool


@dataclass
class CallRecorder:
    """`LLMCache` for one article's engine: reads and writes the file cache, records calls."""

    cache: FileCache | None
    phase: str = "brief"
    calls: list[CallStat] = field(default_factory=list)

    def get(self, key: str) -> tuple[str, str] | None:
        """A kept answer, recorded as a resumed call with its original cost and latency."""
        kept = self.cache.record(key) if self.cache else None
        if kept is None or kept.content is None:
            return None
        self._add(kept, resumed=True)
        return kept.content, kept.finish_reason or "stop"

    def put(self, key: str, record: CallRecord) -> None:
        """Record a call made now, and keep its answer in the file."""
        self._add(record, resumed=False)
        if self.cache:
            self.cache.put(key, record)

    def _add(self, record: CallRecord, resumed: bool) -> None:
        usage = record.usage
        self.calls.append(CallStat(self.phase, record.seconds, usage.prompt_tokens,
                                   usage.completion_tokens, usage.cached_tokens,
                                   record.outcome, resumed))

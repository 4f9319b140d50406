"""The LLM call log in the store, which doubles as a cache of answers already paid for.

After a crash, the service replays a story's pipeline; every request that had
already succeeded is answered from here, so no paid call is made twice.
"""

from __future__ import annotations

from sqlalchemy import select

from briefing.llm.calls import CallRecord
from briefing.store.db import Database
from briefing.store.models import LLMCallRow


class StoreLLMCache:
    """`LLMCache` backed by the `llm_calls` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> tuple[str, str] | None:
        """The last successful answer to this exact request."""
        with self.db.session() as session:
            row = session.scalars(
                select(LLMCallRow)
                .where(LLMCallRow.request_hash == key, LLMCallRow.content.is_not(None))
                .order_by(LLMCallRow.id.desc())
                .limit(1)
            ).first()
            return (row.content or "", row.finish_reason or "stop") if row else None

    def put(self, key: str, record: CallRecord) -> None:
        """Log the call at once, in its own transaction, so a crash right after keeps it."""
        with self.db.session() as session:
            session.add(LLMCallRow(
                request_hash=key, model=record.model, content=record.content,
                finish_reason=record.finish_reason, outcome=record.outcome,
                prompt_tokens=record.usage.prompt_tokens,
                completion_tokens=record.usage.completion_tokens,
                cached_tokens=record.usage.cached_tokens,
                duration_ms=int(record.seconds * 1000),
            ))

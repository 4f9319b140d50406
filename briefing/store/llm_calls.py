"""Queries of the LLM call log: every call with its tokens and outcome, which is also the
cache that keeps a paid answer from being bought twice, and the day's token count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from briefing.llm.calls import CallRecord
from briefing.store.db import Database
from briefing.store.models import LLMCallRow


class CallLog:
    """`briefing.llm.calls.LLMCache` backed by the `llm_calls` table."""

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


def tokens_since(db: Database, since: datetime) -> tuple[int, int]:
    """Prompt and completion tokens of the calls logged at or after `since`."""
    with db.session() as session:
        prompt, completion = session.execute(select(
            func.coalesce(func.sum(LLMCallRow.prompt_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.completion_tokens), 0),
        ).where(LLMCallRow.created_at >= since)).one()
    return int(prompt), int(completion)

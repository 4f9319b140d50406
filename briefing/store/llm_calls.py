"""Queries of the LLM call log: every call with its tokens and outcome, which is also the
cache that keeps a paid answer from being bought twice (by any worker), and the day's token
count."""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import datetime, timedelta

from sqlalchemy import func, select

from briefing.clock import utcnow
from briefing.llm.calls import CallRecord
from briefing.store.db import Database
from briefing.store.leases import claim_one, release
from briefing.store.models import LLMCallRow

log = logging.getLogger(__name__)


class CallLog:
    """`briefing.llm.calls.LLMCache` backed by the `llm_calls` table.

    Several workers may ask for the same request at once (two briefs of one story, a
    worker taking over a story whose holder died mid-call): the first to miss claims the
    request (a lease on `llm:<key>`) and calls; the others wait for its answer rather than
    pay for the same call again. The claim is let go when the call is logged; a holder that
    dies loses it when its lease expires, and a waiting worker then calls itself.
    """

    def __init__(self, db: Database, holder: str | None = None,
                 wait: timedelta = timedelta(minutes=10), poll_seconds: float = 0.2,
                 lease: timedelta = timedelta(seconds=60)) -> None:
        self.db = db
        # The worker's id, so its heartbeat renews the claim during a long call.
        self.holder = holder or f"calls:{os.getpid()}:{secrets.token_hex(3)}"
        self.wait, self.poll_seconds, self.lease = wait, poll_seconds, lease

    def get(self, key: str) -> tuple[str, str] | None:
        """The last successful answer to this exact request; None when this caller is to
        make the call (it holds the request's claim until `put`). While another worker
        holds the claim, waits (at most `wait`) for that worker's answer."""
        deadline = time.monotonic() + self.wait.total_seconds()
        while True:
            answer = self._answer(key)
            if answer is not None:
                return answer
            if claim_one(self.db, lease_name(key), self.holder, utcnow(), self.lease):
                # Answered between the read and the claim: the claim is not needed.
                answer = self._answer(key)
                if answer is not None:
                    release(self.db, [lease_name(key)], self.holder)
                return answer
            if time.monotonic() >= deadline:
                log.warning("an LLM request held by another worker for %s: calling anyway",
                            self.wait)
                return None
            time.sleep(self.poll_seconds)

    def _answer(self, key: str) -> tuple[str, str] | None:
        with self.db.session() as session:
            row = session.scalars(
                select(LLMCallRow)
                .where(LLMCallRow.request_hash == key, LLMCallRow.content.is_not(None))
                .order_by(LLMCallRow.id.desc())
                .limit(1)
            ).first()
            return (row.content or "", row.finish_reason or "stop") if row else None

    def put(self, key: str, record: CallRecord) -> None:
        """Log the call at once, in its own transaction, so a crash right after keeps it;
        then let go of the request's claim (a failed call leaves it to the next asker)."""
        with self.db.session() as session:
            session.add(LLMCallRow(
                request_hash=key, model=record.model, content=record.content,
                finish_reason=record.finish_reason, outcome=record.outcome,
                prompt_tokens=record.usage.prompt_tokens,
                completion_tokens=record.usage.completion_tokens,
                cached_tokens=record.usage.cached_tokens,
                duration_ms=int(record.seconds * 1000),
            ))
        release(self.db, [lease_name(key)], self.holder)


def lease_name(key: str) -> str:
    """The claim on one LLM request."""
    return f"llm:{key}"


def tokens_since(db: Database, since: datetime) -> tuple[int, int]:
    """Prompt and completion tokens of the calls logged at or after `since`."""
    with db.session() as session:
        prompt, completion = session.execute(select(
            func.coalesce(func.sum(LLMCallRow.prompt_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.completion_tokens), 0),
        ).where(LLMCallRow.created_at >= since)).one()
    return int(prompt), int(completion)

"""Per-reader limits on summaries and questions, and the global daily token budget.

Counters of recent requests are kept in memory (a restart forgives them); the
token budget is read from the LLM call log, so it survives restarts and counts
every caller (digest summaries too). A reader over a limit is told when they may
try again (`Quota.retry_at`).
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

from briefing.store.db import Database
from briefing.store.llm_calls import tokens_since

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


class Quota:
    """At most `per_hour` and `per_day` uses per reader."""

    def __init__(self, per_hour: int, per_day: int) -> None:
        self.per_hour, self.per_day = per_hour, per_day
        self.uses: defaultdict[int, deque[datetime]] = defaultdict(deque)

    def allow(self, user_id: int, now: datetime) -> str | None:
        """None and the use counted when allowed; else which limit ("hour" or "day") is hit."""
        uses = self.uses[user_id]
        while uses and uses[0] <= now - DAY:
            uses.popleft()
        if len(uses) >= self.per_day:
            return "day"
        if sum(1 for at in uses if at > now - HOUR) >= self.per_hour:
            return "hour"
        uses.append(now)
        return None

    def retry_at(self, user_id: int, now: datetime) -> datetime | None:
        """When this reader may next use it (None: now), counting nothing.

        A use leaves the hourly count an hour after it and the daily count a day after
        (`allow` counts a use while it is strictly younger than that), so the answer is the
        time the use that must go leaves, for each limit that is reached.
        """
        if self.per_day <= 0 or self.per_hour <= 0:
            return None  # no use is ever allowed: there is no time to give
        day = [at for at in self.uses.get(user_id, ()) if at > now - DAY]
        hour = [at for at in day if at > now - HOUR]
        waits = []
        if len(day) >= self.per_day:
            waits.append(day[len(day) - self.per_day] + DAY)
        if len(hour) >= self.per_hour:
            waits.append(hour[len(hour) - self.per_hour] + HOUR)
        return max(waits) if waits else None


def tokens_today(db: Database, now: datetime) -> int:
    """Prompt and completion tokens logged since midnight UTC."""
    prompt, completion = tokens_since(db, now.replace(hour=0, minute=0, second=0, microsecond=0))
    return prompt + completion


def within_budget(db: Database, now: datetime, budget: int) -> bool:
    """Whether an LLM call may still be made today."""
    return tokens_today(db, now) < budget

"""The Telegram bot (python-telegram-bot 22): handlers only. Each parses an update, calls
the service or the store's queries, and replies (subscriptions, settings, on-demand
summaries, follow-up questions, where a point comes from (`/why`, "source?": `tracing`),
admin commands); `channel` sends through one rate limiter.

Holds no SQL. May import `render`, `service`, `store`, `qa`, `briefs` and lower layers.
"""

import os

# Opt in to python-telegram-bot's coming timedelta durations now (our code reads both),
# which also silences its deprecation warning about RetryAfter.retry_after.
os.environ.setdefault("PTB_TIMEDELTA", "1")

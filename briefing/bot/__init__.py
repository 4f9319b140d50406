"""The Telegram bot (python-telegram-bot 22): subscriptions, digests, summaries, questions."""

import os

# Opt in to python-telegram-bot's coming timedelta durations now (our code reads both),
# which also silences its deprecation warning about RetryAfter.retry_after.
os.environ.setdefault("PTB_TIMEDELTA", "1")

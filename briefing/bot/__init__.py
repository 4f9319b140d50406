"""The Telegram bot (python-telegram-bot 22): subscriptions, digests, summaries, questions."""

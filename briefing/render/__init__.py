"""Renderers: terminal (rich) and JSON; Telegram HTML comes with the bot."""

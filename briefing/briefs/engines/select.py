"""Summarisation engines: one interface, two implementations (LLM and offline)."""

from __future__ import annotations

from typing import Any, Protocol

from briefing.briefs.models import Feedback, Proposal
from briefing.config import Settings
from briefing.sources.models import Story


class Engine(Protocol):
    """Anything that proposes briefs for a story. It never talks to Telegram or a database."""

    name: str

    def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
        """Draft briefs for every configured language; `feedback` asks to fix rejected quotes."""
        ...


def select_engine(settings: Settings, choice: str | None = None, cache: Any = None) -> Engine:
    """The engine to use: `choice` or the configured one; "auto" picks the LLM when configured.

    `cache` (an `LLMCache`) lets the LLM engine log its calls and reuse paid answers.
    """
    choice = choice or settings.llm.engine
    if choice == "auto":
        choice = "llm" if settings.llm.configured else "extractive"
    if choice == "llm":
        from briefing.briefs.engines.llm import LLMEngine

        return LLMEngine(settings, cache=cache)
    from briefing.briefs.engines.extractive import ExtractiveEngine

    return ExtractiveEngine(settings)

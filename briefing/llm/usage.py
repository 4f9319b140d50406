"""What LLM calls cost: calls and tokens, added up per story or per question."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Usage:
    """LLM calls and tokens spent on one story."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def add(self, other: Usage) -> None:
        """Add another usage record to this one."""
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens

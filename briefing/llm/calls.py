"""The LLM call log interface: record every call, reuse answers already paid for.

Kept apart from the OpenAI client so the store can implement it without
importing the SDK.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from briefing.llm.usage import Usage


def request_key(params: dict[str, Any]) -> str:
    """A stable hash of a request: the same request gets the same answer from the cache."""
    blob = json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CallRecord:
    """One LLM call, as the call log keeps it."""

    model: str
    content: str | None
    finish_reason: str | None
    usage: Usage
    seconds: float
    outcome: str


class LLMCache(Protocol):
    """Where answers already paid for are kept (the service's store), and calls are logged."""

    def get(self, key: str) -> tuple[str, str] | None:
        """A successful answer (content, finish reason) to this request, if one is kept."""
        ...

    def put(self, key: str, record: CallRecord) -> None:
        """Log a call; a successful answer becomes available to `get`."""
        ...

"""The one LLM client: structured calls to any OpenAI-compatible server.

`LLMClient.structured` is the only way the project talks to a model: it sends a
conversation with a JSON schema in the strictest output format the server accepts
(the ladder of `formats`, remembered per server and model), lets the `openai` SDK
retry passing faults, validates the answer with the caller's parser, allows one repair
round on an invalid answer, adds the tokens spent to a `Usage`, and records each call
(`calls.LLMCache`: the service's call log, the evaluation's file cache). The brief
engine, follow-up answers and the evaluation's judge all call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import openai

from briefing.config import Settings
from briefing.errors import LLMError
from briefing.llm.answers import InvalidAnswer
from briefing.llm.calls import CallRecord, LLMCache, request_key
from briefing.llm.conversation import Conversation
from briefing.llm.formats import (
    CAPABILITIES,
    error_message,
    is_capability_error,
    no_retry_on_capability_error,
    request_fields,
    server_key,
)
from briefing.llm.prompts import render_prompt
from briefing.llm.usage import Usage
from briefing.metrics import LLM_CALLS, LLM_COST, LLM_LATENCY, LLM_TOKENS

log = logging.getLogger(__name__)
T = TypeVar("T")


def openai_client(settings: Settings) -> openai.OpenAI:
    """An `openai` SDK client for the configured server; local servers need no key.

    The SDK retries passing faults (429, 5xx, timeouts) with backoff; a response
    saying the `response_format` is unsupported is marked not to be retried.
    """
    llm = settings.llm
    key = llm.api_key.get_secret_value() if llm.api_key else "no-key-needed"
    http = openai.DefaultHttpxClient(event_hooks={"response": [no_retry_on_capability_error]})
    return openai.OpenAI(
        api_key=key, base_url=llm.base_url or None, timeout=llm.timeout,
        max_retries=llm.max_retries, http_client=http,
    )


def server_name(base_url: str | None) -> str:
    """The server as errors name it: scheme, host and port, never a path or a key."""
    parts = urlsplit(base_url or "https://api.openai.com/v1")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class LLMClient:
    """One model on one OpenAI-compatible server, as the settings name them."""

    def __init__(self, settings: Settings, cache: LLMCache | None = None,
                 client: openai.OpenAI | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.client = client or openai_client(settings)
        self.model = settings.llm.model
        # The format asked for first; a server that rejects it gets the next one (formats.py).
        self.preferred_format: str = settings.llm.response_format
        self.server = server_key(settings.llm.base_url)

    def prompt(self, name: str, **values: object) -> str:
        """A prompt file of the configured prompts folder, filled (fails on a missing value)."""
        return render_prompt(self.settings.prompts_dir, name, **values)

    def structured(
        self, convo: Conversation, name: str, schema: dict[str, Any],
        parse: Callable[[str], T], usage: Usage,
    ) -> tuple[T, Conversation]:
        """One structured exchange: call, validate with `parse`, one repair round on an
        invalid answer. Returns the parsed value and the conversation with the answer;
        raises LLMError on failure (tokens spent are added to `usage` either way)."""
        for attempt in range(2):
            content, finish = self._call(convo, name, schema, usage)
            convo.assistant(content)
            try:
                if finish == "length":
                    raise InvalidAnswer("it was cut off at the length limit; answer more briefly")
                return parse(content), convo
            except InvalidAnswer as exc:
                log.warning("LLM answer invalid (attempt %d): %s", attempt + 1, exc)
                convo.user(self.prompt("repair_json", error=str(exc)))
        raise LLMError("the model's answer was still invalid after a repair round")

    @property
    def response_format(self) -> str:
        """The output format this server and model get now (see `formats.FORMATS`)."""
        return CAPABILITIES.current(self.server, self.model, self.preferred_format)

    def _call(
        self, convo: Conversation, name: str, schema: dict[str, Any], usage: Usage
    ) -> tuple[str, str]:
        """One answer, in the strictest output format the server accepts."""
        fmt = self.response_format
        while True:
            try:
                return self._call_as(fmt, convo, name, schema, usage)
            except _Unsupported as exc:
                following = CAPABILITIES.rejected(self.server, self.model, fmt)
                if following is None:
                    raise LLMError(f"the LLM server {server_name(self.settings.llm.base_url)} "
                                   f"accepts no JSON output format: {exc}") from None
                fmt = following

    def _call_as(
        self, fmt: str, convo: Conversation, name: str, schema: dict[str, Any], usage: Usage
    ) -> tuple[str, str]:
        params: dict[str, Any] = {
            "model": self.model, "temperature": self.settings.llm.temperature,
            "max_tokens": self.settings.llm.max_output_tokens,
            **request_fields(fmt, convo, name, schema, self.prompt),
        }
        key = request_key(params)
        cached = self.cache.get(key) if self.cache else None
        if cached is not None:  # already paid for, e.g. before a crash
            usage.calls += 1
            LLM_CALLS.labels(purpose=name, outcome="cached").inc()
            return cached
        started = time.monotonic()
        try:
            response = self.client.chat.completions.create(**params)
        except openai.APIStatusError as exc:
            if "response_format" in params and is_capability_error(exc):
                # The request was answered: it counts as a call, but is never retried as is.
                usage.add(Usage(calls=1))
                self._log_failure(key, started, "unsupported", name)
                raise _Unsupported(f"{fmt} rejected ({exc.status_code}): {_message(exc)}"
                                   ) from None
            raise self._failed(key, started, self._describe(exc), name) from None
        except openai.APIError as exc:
            raise self._failed(key, started, self._describe(exc), name) from None
        return self._read(key, response, usage, time.monotonic() - started, name)

    def _log_failure(self, key: str, started: float, outcome: str, purpose: str) -> None:
        LLM_CALLS.labels(purpose=purpose, outcome=outcome).inc()
        LLM_LATENCY.observe(time.monotonic() - started)
        if self.cache:
            self.cache.put(key, CallRecord(self.model, None, None, Usage(calls=1),
                                           time.monotonic() - started, outcome))

    def _failed(self, key: str, started: float, reason: str, purpose: str) -> LLMError:
        self._log_failure(key, started, "error", purpose)
        return LLMError(reason if reason.startswith("the ") else f"the LLM server {reason}")

    def _read(self, key: str, response: Any, usage: Usage, seconds: float,
              purpose: str) -> tuple[str, str]:
        call = _usage_of(response.usage)
        usage.add(call)
        choice = response.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        content, finish = choice.message.content or "", choice.finish_reason or "stop"
        outcome = "refused" if refusal else "ok" if finish == "stop" else finish
        self._count(purpose, outcome, call, seconds)
        log.info("LLM call: model=%s outcome=%s tokens=%s/%s in %.2fs", self.model, outcome,
                 call.prompt_tokens, call.completion_tokens, seconds)
        if self.cache:
            self.cache.put(key, CallRecord(self.model, None if refusal else content, finish,
                                           call, seconds, outcome))
        if refusal:
            raise LLMError(f"the model refused: {refusal[:200]}")
        return content, finish

    def _count(self, purpose: str, outcome: str, call: Usage, seconds: float) -> None:
        """The call in the service's metrics: outcome, latency, tokens and estimated cost."""
        LLM_CALLS.labels(purpose=purpose, outcome=outcome).inc()
        LLM_LATENCY.observe(seconds)
        LLM_TOKENS.labels(kind="prompt").inc(call.prompt_tokens)
        LLM_TOKENS.labels(kind="completion").inc(call.completion_tokens)
        LLM_TOKENS.labels(kind="cached").inc(call.cached_tokens)
        llm = self.settings.llm
        LLM_COST.inc((call.prompt_tokens * llm.price_input_per_mtok
                      + call.completion_tokens * llm.price_output_per_mtok) / 1e6)

    def _describe(self, exc: openai.APIError) -> str:
        server = server_name(self.settings.llm.base_url)
        if isinstance(exc, openai.APITimeoutError):
            return f"the LLM server {server} did not answer within {self.settings.llm.timeout}s"
        if isinstance(exc, openai.APIConnectionError):
            return f"cannot reach the LLM server {server}"
        if isinstance(exc, openai.AuthenticationError):
            return f"the LLM server {server} refused the API key (401)"
        if isinstance(exc, openai.APIStatusError):
            return f"the LLM server {server} answered {exc.status_code}: {_message(exc)}"
        return f"LLM error from {server}: {type(exc).__name__}"


def _message(exc: openai.APIError) -> str:
    return error_message(exc.body, exc.message)


class _Unsupported(Exception):
    """The server rejected the output format of a request (a capability, not a fault)."""


def _usage_of(reported: Any) -> Usage:
    usage = Usage(calls=1)
    if reported is None:
        return usage
    usage.prompt_tokens = reported.prompt_tokens or 0
    usage.completion_tokens = reported.completion_tokens or 0
    details = getattr(reported, "prompt_tokens_details", None)
    usage.cached_tokens = (getattr(details, "cached_tokens", 0) or 0) if details else 0
    return usage

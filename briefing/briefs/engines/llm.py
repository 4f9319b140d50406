"""The LLM engine: any OpenAI-compatible server through the `openai` SDK.

Both briefs come from one call when the story fits the token budget; a longer
story is split into sentence-aligned chunks, each turned into notes and
candidate quotes (map), then briefed once from the notes (reduce). Static
instructions come first and the article last, so providers' prompt caching
applies. The article always travels as delimited data in the user message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import openai

from briefing.briefs.citations import check_quote
from briefing.briefs.engines.schema import (
    NOTES_SCHEMA,
    InvalidAnswer,
    brief_schema,
    parse_briefs,
    parse_notes,
)
from briefing.briefs.models import DraftBrief, DraftQuote, Feedback, Proposal
from briefing.config import Settings
from briefing.errors import LLMError
from briefing.llm.calls import CallRecord, LLMCache, request_key
from briefing.llm.conversation import Conversation, SourceFormatter
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
from briefing.sources.models import Story
from briefing.text.tokens import chunk, count_tokens, get_encoding

log = logging.getLogger(__name__)
T = TypeVar("T")
NUMBERED_SHARE = 0.85


def make_client(settings: Settings) -> openai.OpenAI:
    """An OpenAI client for the configured server; local servers need no key.

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


def _server_name(base_url: str | None) -> str:
    parts = urlsplit(base_url or "https://api.openai.com/v1")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class LLMEngine:
    """Briefs written by a language model, in one call when the story fits."""

    name = "llm"

    def __init__(
        self, settings: Settings, client: openai.OpenAI | None = None,
        cache: LLMCache | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.client = client or make_client(settings)
        self.model = settings.llm.model
        self.encoding = get_encoding(self.model, settings.llm.encoding)
        # The format asked for first; a server that rejects it gets the next one (formats.py).
        self.preferred_format: str = settings.llm.response_format
        self.server = server_key(settings.llm.base_url)
        self.languages = settings.brief.languages
        self.schema = brief_schema(self.languages)
        self.formatter = SourceFormatter()
        self.system = self._system()
        self.budget = self._budget()

    # -- the engine interface ------------------------------------------------------------
    def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
        """Draft briefs for the story, or fix the quotes `feedback` says were rejected."""
        usage = Usage()
        try:
            return self._propose(story, feedback, usage)
        except LLMError as exc:
            exc.usage = usage  # what the failed attempt spent still counts
            raise

    def _propose(self, story: Story, feedback: Feedback | None, usage: Usage) -> Proposal:
        if feedback is not None:
            convo = Conversation(list(feedback.previous.transcript))
            convo.user(self._prompt("retry_quotes", rejections=_rejections(feedback)))
        else:
            body = self.formatter.story(story)
            if count_tokens(body, self.encoding) <= self.budget:
                convo = self._single_pass(story, body)
            else:
                convo = self._reduce(story, self._map(story, usage))
        briefs, convo = self._ask(convo, "briefs", self.schema, self._parse_briefs, usage)
        return Proposal(briefs, self.name, self.model, usage, tuple(convo.messages))

    # -- building conversations ------------------------------------------------------------
    def _prompt(self, name: str, **values: object) -> str:
        return render_prompt(self.settings.prompts_dir, name, **values)

    def _system(self) -> str:
        cfg = self.settings.brief
        return self._prompt(
            "brief_system", languages=", ".join(self.languages), max_points=cfg.max_points,
            max_words=cfg.max_words, min_quotes=cfg.min_quotes, max_quotes=cfg.max_quotes,
        )

    def _budget(self) -> int:
        """Tokens the article may take in one call: context less output and instructions."""
        llm = self.settings.llm
        overhead = count_tokens(self.system, self.encoding) + 300
        return max(256, llm.context_tokens - llm.max_output_tokens - overhead)

    def _single_pass(self, story: Story, body: str) -> Conversation:
        convo = Conversation.start(self.system)
        convo.user(self._prompt("brief_user", count=len(story.sources), sources=body))
        return convo

    def _map(self, story: Story, usage: Usage) -> list[str]:
        # Sentence numbers and delimiters add about a tenth to a chunk's raw tokens.
        budget = int(self.budget * NUMBERED_SHARE)
        overlap = self.settings.llm.chunk_overlap_tokens
        parts = [(doc, piece) for doc in story.sources
                 for piece in chunk(doc.text, budget, overlap, self.encoding)]
        system = self._prompt("map_system")
        blocks = []
        for number, (doc, piece) in enumerate(parts, start=1):
            convo = Conversation.start(system)
            body = self.formatter.chunk(doc, piece.units)
            convo.user(self._prompt("map_user", part=number, parts=len(parts), sources=body))
            (notes, quotes), _ = self._ask(convo, "notes", NOTES_SCHEMA, parse_notes, usage)
            blocks.append(_notes_block(number, doc.id, notes, _checked(quotes, story)))
        return blocks

    def _reduce(self, story: Story, blocks: list[str]) -> Conversation:
        convo = Conversation.start(self.system)
        listing = "; ".join(self.formatter.label(doc) for doc in story.sources)
        convo.user(self._prompt("reduce_user", sources=listing, notes="\n\n".join(blocks)))
        return convo

    def _parse_briefs(self, content: str) -> dict[str, DraftBrief]:
        return parse_briefs(content, self.languages)

    # -- talking to the server -------------------------------------------------------------
    def ask(
        self, convo: Conversation, name: str, schema: dict[str, Any],
        parse: Callable[[str], T], usage: Usage,
    ) -> tuple[T, Conversation]:
        """One structured exchange: call, validate with `parse`, one repair round on an
        invalid answer; raises LLMError on failure (spent tokens are added to `usage`)."""
        return self._ask(convo, name, schema, parse, usage)

    def _ask(
        self, convo: Conversation, name: str, schema: dict[str, Any],
        parse: Callable[[str], T], usage: Usage,
    ) -> tuple[T, Conversation]:
        """Call, validate, and on an invalid answer allow one repair round."""
        for attempt in range(2):
            content, finish = self._call(convo, name, schema, usage)
            convo.assistant(content)
            try:
                if finish == "length":
                    raise InvalidAnswer("it was cut off at the length limit; answer more briefly")
                return parse(content), convo
            except InvalidAnswer as exc:
                log.warning("LLM answer invalid (attempt %d): %s", attempt + 1, exc)
                convo.user(self._prompt("repair_json", error=str(exc)))
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
                    raise LLMError(f"the LLM server {_server_name(self.settings.llm.base_url)} "
                                   f"accepts no JSON output format: {exc}") from None
                fmt = following

    def _call_as(
        self, fmt: str, convo: Conversation, name: str, schema: dict[str, Any], usage: Usage
    ) -> tuple[str, str]:
        params: dict[str, Any] = {
            "model": self.model, "temperature": self.settings.llm.temperature,
            "max_tokens": self.settings.llm.max_output_tokens,
            **request_fields(fmt, convo, name, schema, self._prompt),
        }
        key = request_key(params)
        cached = self.cache.get(key) if self.cache else None
        if cached is not None:  # already paid for, e.g. before a crash
            usage.calls += 1
            return cached
        started = time.monotonic()
        try:
            response = self.client.chat.completions.create(**params)
        except openai.APIStatusError as exc:
            if "response_format" in params and is_capability_error(exc):
                # The request was answered: it counts as a call, but is never retried as is.
                usage.add(Usage(calls=1))
                self._log_failure(key, started, "unsupported")
                raise _Unsupported(f"{fmt} rejected ({exc.status_code}): {_message(exc)}"
                                   ) from None
            raise self._failed(key, started, self._describe(exc)) from None
        except openai.APIError as exc:
            raise self._failed(key, started, self._describe(exc)) from None
        return self._read(key, response, usage, time.monotonic() - started)

    def _log_failure(self, key: str, started: float, outcome: str) -> None:
        if self.cache:
            self.cache.put(key, CallRecord(self.model, None, None, Usage(calls=1),
                                           time.monotonic() - started, outcome))

    def _failed(self, key: str, started: float, reason: str) -> LLMError:
        self._log_failure(key, started, "error")
        return LLMError(reason if reason.startswith("the ") else f"the LLM server {reason}")

    def _read(self, key: str, response: Any, usage: Usage, seconds: float) -> tuple[str, str]:
        call = _usage_of(response.usage)
        usage.add(call)
        choice = response.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        content, finish = choice.message.content or "", choice.finish_reason or "stop"
        outcome = "refused" if refusal else "ok" if finish == "stop" else finish
        log.info("LLM call: model=%s outcome=%s tokens=%s/%s in %.2fs", self.model, outcome,
                 call.prompt_tokens, call.completion_tokens, seconds)
        if self.cache:
            self.cache.put(key, CallRecord(self.model, None if refusal else content, finish,
                                           call, seconds, outcome))
        if refusal:
            raise LLMError(f"the model refused: {refusal[:200]}")
        return content, finish

    def _describe(self, exc: openai.APIError) -> str:
        server = _server_name(self.settings.llm.base_url)
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


def _rejections(feedback: Feedback) -> str:
    return "\n".join(
        f"- [{lang}] {quote.text!r} ({quote.source}): {reason}"
        for lang, quote, reason in feedback.rejected
    )


def _checked(quotes: tuple[DraftQuote, ...], story: Story) -> list[DraftQuote]:
    """Only candidate quotes found in the source go on to the reduce step."""
    kept = []
    for draft in quotes:
        quote, _ = check_quote(draft, story)
        if quote is not None:
            kept.append(DraftQuote(quote.text, quote.source))
    return kept


def _notes_block(number: int, source: str, notes: list[str], quotes: list[DraftQuote]) -> str:
    lines = [f"Part {number} ({source}):", *(f"- {n}" for n in notes)]
    lines += [f'- quote [{q.source}]: "{q.text}"' for q in quotes]
    return "\n".join(lines)

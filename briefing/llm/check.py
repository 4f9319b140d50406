"""`briefing llm check`: what an OpenAI-compatible server supports, before anyone relies on it.

One finding per line: is the server reachable, is the model listed, which output
formats it accepts (each tried with one tiny call, timed), and its context size
when it reports one:

- vLLM: `max_model_len` of the model's entry in `GET /v1/models`;
- LM Studio and others: `loaded_context_length`, `context_length` or
  `max_context_length` in that entry;
- llama-server (llama.cpp): `GET /props` at the server root,
  `default_generation_settings.n_ctx`;
- Ollama: `POST /api/show`, `num_ctx` in `parameters` when the model sets one,
  else `model_info.<arch>.context_length` (what the model was trained for: Ollama
  itself runs it with a smaller default window unless told otherwise);
- llama-server's `meta.n_ctx_train` in `/v1/models` (trained length) as a last resort.

The check never retries and never prints the API key.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from briefing.config import Settings
from briefing.llm.answers import InvalidAnswer, load_json
from briefing.llm.client import openai_client
from briefing.llm.conversation import Conversation
from briefing.llm.formats import (
    CAPABILITIES,
    DEFAULT_SERVER,
    FORMATS,
    error_message,
    is_capability_error,
    request_fields,
    server_key,
)
from briefing.llm.prompts import render_prompt

log = logging.getLogger(__name__)

TINY_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["ok"],
    "properties": {"ok": {"type": "boolean"}},
}
TINY_MAX_TOKENS = 60
PROBE_TIMEOUT = 5.0
# Context sizes servers put in a model's /v1/models entry: the window the server runs.
_ENTRY_KEYS = ("max_model_len", "loaded_context_length", "context_length", "max_context_length")
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.M)


@dataclass(frozen=True)
class Finding:
    """One line of the check: "ok", "info", "warn" or "fail", and what was found."""

    status: str
    text: str
    # For a failure: 3 when the configuration must change, 2 when the server cannot serve.
    exit_code: int = 0

    def line(self) -> str:
        """The finding as one line of output."""
        return f"{self.status:<4} {self.text}"


@dataclass(frozen=True)
class Context:
    """A context size a server reported, where it came from, and what it means."""

    tokens: int
    where: str
    runtime: bool  # the window the server runs (else what the model was trained for)


def exit_code(findings: list[Finding]) -> int:
    """0 when the server is usable; 2 when it cannot serve; 3 when only settings are wrong."""
    codes = {f.exit_code for f in findings if f.status == "fail"}
    if not codes:
        return 0
    return 2 if 2 in codes else 3


class _Checker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.llm = settings.llm
        self.secrets = [self.llm.api_key.get_secret_value()] if self.llm.api_key else []
        # Tiny calls: no retries (a failure is a finding), the configured timeout.
        self.client = openai_client(settings).with_options(max_retries=0)
        self.server = (self.llm.base_url or DEFAULT_SERVER).rstrip("/")

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return " ".join(text.split())

    def finding(self, status: str, text: str, code: int = 0) -> Finding:
        return Finding(status, self.clean(text), code)

    # -- reachable, and the model listed -----------------------------------------------
    def models(self) -> tuple[list[Finding], list[dict[str, Any]] | None]:
        """Findings about GET /models, and the entries listed (None: stop here)."""
        started = time.monotonic()
        try:
            page = self.client.models.list()
        except openai.APITimeoutError:
            return [self.finding("fail", f"no answer from {self.server} within "
                                 f"{self.llm.timeout}s", 2)], None
        except openai.APIConnectionError:
            return [self.finding("fail", f"cannot reach {self.server}", 2)], None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            return [self.finding("fail", f"{self.server} refused the API key "
                                 f"({exc.status_code})", 3)], None
        except openai.APIStatusError as exc:
            seconds = time.monotonic() - started
            return [self.finding("ok", f"reachable: {self.server} ({seconds:.2f} s)"),
                    self.finding("warn", f"the server does not list its models (GET /models "
                                 f"answered {exc.status_code})")], []
        seconds = time.monotonic() - started
        entries = [m.to_dict() for m in page.data]
        found = [self.finding("ok", f"reachable: {self.server} lists {len(entries)} model(s) "
                              f"({seconds:.2f} s)")]
        ids = [str(e.get("id")) for e in entries]
        if self.llm.model in ids:
            found.append(self.finding("ok", f"model {self.llm.model} is listed"))
        else:
            shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
            found.append(self.finding(
                "warn", f"model {self.llm.model} is not listed (listed: {shown or 'none'}); "
                "single-model servers such as llama.cpp answer under any name"))
        return found, entries

    # -- context size --------------------------------------------------------------------
    def context(self, entries: list[dict[str, Any]]) -> Finding:
        configured = self.llm.context_tokens
        reported = self._reported_context(entries)
        if reported is None:
            return self.finding("info", f"context size: not reported by the server; "
                                f"llm.context_tokens = {configured} is assumed")
        kind = "tokens" if reported.runtime else "tokens the model was trained for"
        if configured > reported.tokens:
            return self.finding(
                "fail", f"context size: {reported.tokens} {kind} ({reported.where}), but "
                f"llm.context_tokens is {configured}: set BRIEFING_CONTEXT_TOKENS="
                f"{reported.tokens} (or llm.context_tokens) so long stories are split to fit", 3)
        status = "ok" if reported.runtime else "info"
        return self.finding(status, f"context size: {reported.tokens} {kind} "
                            f"({reported.where}); llm.context_tokens = {configured}")

    def _reported_context(self, entries: list[dict[str, Any]]) -> Context | None:
        entry = next((e for e in entries if e.get("id") == self.llm.model), None)
        if entry is None and len(entries) == 1:
            entry = entries[0]  # a single-model server: that model is the one served
        entry = entry or {}
        for key in _ENTRY_KEYS:
            if _positive(entry.get(key)):
                return Context(int(entry[key]), f"GET /models {key}", True)
        if self.llm.base_url:  # local servers describe themselves outside the OpenAI API
            found = self._llama_props() or self._ollama_show()
            if found is not None:
                return found
        meta = entry.get("meta")
        if isinstance(meta, dict) and _positive(meta.get("n_ctx_train")):
            return Context(int(meta["n_ctx_train"]), "GET /models meta.n_ctx_train", False)
        return None

    def _root(self) -> str:
        return self.server.removesuffix("/v1")

    def _probe(self, method: str, path: str, payload: object = None) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {self.secrets[0]}"} if self.secrets else {}
        try:
            response = httpx.request(method, self._root() + path, json=payload, headers=headers,
                                     timeout=min(self.llm.timeout, PROBE_TIMEOUT))
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _llama_props(self) -> Context | None:
        props = self._probe("GET", "/props")
        if props is None:
            return None
        settings = props.get("default_generation_settings")
        for n_ctx in (settings.get("n_ctx") if isinstance(settings, dict) else None,
                      props.get("n_ctx")):
            if isinstance(n_ctx, int) and _positive(n_ctx):
                return Context(n_ctx, "llama.cpp GET /props n_ctx", True)
        return None

    def _ollama_show(self) -> Context | None:
        shown = self._probe("POST", "/api/show", {"model": self.llm.model})
        if shown is None:
            return None
        parameters = shown.get("parameters")
        match = _NUM_CTX.search(parameters) if isinstance(parameters, str) else None
        if match:
            return Context(int(match.group(1)), "Ollama /api/show num_ctx", True)
        info = shown.get("model_info")
        if isinstance(info, dict):
            for key, value in info.items():
                if key.endswith(".context_length") and _positive(value):
                    return Context(int(value), f"Ollama /api/show {key}", False)
        return None

    # -- output formats, one tiny call each ---------------------------------------------
    def formats(self) -> Iterator[Finding]:
        works: list[str] = []
        cause = 2
        for fmt in FORMATS:
            finding, ok, go_on = self._tiny_call(fmt)
            yield finding
            if ok:
                works.append(fmt)
            if finding.status == "fail":
                cause = finding.exit_code  # e.g. 3 for a refused key: a setting to change
            if not go_on:
                break
        preferred = FORMATS.index(self.llm.response_format)
        usable = [f for f in works if FORMATS.index(f) >= preferred]
        if usable:
            yield self.finding("ok", f"usable: briefs will ask for {usable[0]}")
        else:
            yield self.finding("fail", "not usable: no output format worked", cause)

    def _tiny_call(self, fmt: str) -> tuple[Finding, bool, bool]:
        """(finding, the format works, keep trying further formats)."""
        convo = Conversation.start("You answer with JSON only.")
        convo.user('Reply with this JSON object: {"ok": true}')
        params: dict[str, Any] = {
            "model": self.llm.model, "temperature": 0, "max_tokens": TINY_MAX_TOKENS,
            **request_fields(fmt, convo, "check", TINY_SCHEMA, self._prompt),
        }
        started = time.monotonic()
        try:
            response = self.client.chat.completions.create(**params)
        except openai.APIStatusError as exc:
            message = error_message(exc.body, exc.message, 120)
            if "response_format" in params and is_capability_error(exc):
                return self.finding("info", f"{fmt}: not supported (answered "
                                    f"{exc.status_code}: {message})"), False, True
            if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
                return self.finding("fail", f"{fmt}: the server refused the API key "
                                    f"({exc.status_code})", 3), False, False
            return self.finding("fail", f"{fmt}: the server answered {exc.status_code}: "
                                f"{message}", 2), False, False
        except openai.APITimeoutError:
            return self.finding("fail", f"{fmt}: no answer within {self.llm.timeout}s",
                                2), False, False
        except openai.APIError as exc:
            return self.finding("fail", f"{fmt}: {type(exc).__name__}", 2), False, False
        seconds = time.monotonic() - started
        choice = response.choices[0]
        content = (choice.message.content or "").strip()
        usage = response.usage
        tokens = f", {usage.prompt_tokens}+{usage.completion_tokens} tokens" if usage else ""
        if _is_json_object(content):  # what the engine would read: briefing.briefs.engines.schema
            return self.finding("ok", f"{fmt}: supported ({seconds:.2f} s{tokens})"), True, True
        return self.finding(
            "warn", f"{fmt}: accepted, but the answer is not a JSON object "
            f"({seconds:.2f} s, finish {choice.finish_reason}): {content[:60]!r}"), False, True

    def _prompt(self, name: str, **values: object) -> str:
        return render_prompt(self.settings.prompts_dir, name, **values)


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_json_object(content: str) -> bool:
    try:
        return isinstance(load_json(content), dict)
    except InvalidAnswer:
        return False


def check_llm(settings: Settings) -> Iterator[Finding]:
    """The findings about the configured LLM server, in order, one per line to show."""
    llm = settings.llm
    if not llm.configured:
        yield Finding("fail", "no LLM server configured: set OPENAI_BASE_URL (or --base-url) "
                      "for a local server, or OPENAI_API_KEY for OpenAI", 3)
        return
    checker = _Checker(settings)
    key = "set" if llm.api_key else "not set"
    yield checker.finding("info", f"server {checker.server}, model {llm.model}, API key {key}")
    found, entries = checker.models()
    yield from found
    if entries is None:
        return
    yield checker.context(entries)
    yield from checker.formats()


def llm_ready(settings: Settings, timeout: float = 3.0) -> tuple[bool, str]:
    """For `/readyz`: whether the configured LLM server answers `GET /models` (within
    `timeout`, no retry), with the output format this process uses with it now (the
    capability the client found, e.g. `json_object` after a server rejected `json_schema`).
    The line never holds the API key."""
    llm = settings.llm
    checker = _Checker(settings)
    checker.client = checker.client.with_options(timeout=timeout)
    found, _ = checker.models()
    ok = all(f.status != "fail" for f in found)
    fmt = CAPABILITIES.current(server_key(llm.base_url), llm.model, llm.response_format)
    return ok, "; ".join([*(f.text for f in found), f"output format {fmt}"])

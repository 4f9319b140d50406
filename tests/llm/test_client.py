"""Tests of briefing.llm.client: the one structured call every LLM user goes through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from briefing.config import Settings
from briefing.errors import LLMError
from briefing.llm.answers import InvalidAnswer, load_json
from briefing.llm.calls import CallRecord
from briefing.llm.client import LLMClient
from briefing.llm.conversation import Conversation
from briefing.llm.usage import Usage
from tests.fakes.openai_server import FakeOpenAI, Reply

SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["n"],
    "properties": {"n": {"type": "integer"}},
}


class MemoryLog:
    """An LLMCache that keeps what it is told, as the service's call log does."""

    def __init__(self) -> None:
        self.records: dict[str, CallRecord] = {}

    def get(self, key: str) -> tuple[str, str] | None:
        record = self.records.get(key)
        if record is None or record.content is None or record.outcome != "ok":
            return None
        return record.content, record.finish_reason or "stop"

    def put(self, key: str, record: CallRecord) -> None:
        self.records[key] = record


def number(content: str) -> int:
    value = load_json(content)
    if not isinstance(value, dict) or not isinstance(value.get("n"), int):
        raise InvalidAnswer('give {"n": <integer>}')
    return int(value["n"])


def convo() -> Conversation:
    talk = Conversation.start("You count.")
    talk.user("<data>three apples</data>")
    return talk


def test_a_structured_call_parses_the_answer_and_adds_its_usage(
    fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.queue(Reply.json({"n": 3}))
    usage = Usage()
    value, talk = LLMClient(llm_settings).structured(convo(), "count", SCHEMA, number, usage)
    assert value == 3
    assert talk.messages[-1] == {"role": "assistant", "content": json.dumps({"n": 3})}
    assert usage.calls == 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    sent = fake_openai.requests[0].json
    assert sent["model"] == "fake-model"
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA


def test_an_invalid_answer_gets_one_repair_round_with_the_reason(
    fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.queue(Reply.json({"n": "three"}), Reply.json({"n": 3}))
    usage = Usage()
    value, _ = LLMClient(llm_settings).structured(convo(), "count", SCHEMA, number, usage)
    assert value == 3 and usage.calls == 2
    assert 'give {"n": <integer>}' in fake_openai.requests[1].json["messages"][-1]["content"]


def test_two_invalid_answers_raise_and_still_count(
    fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.queue(Reply.content("{not json"), Reply.content("still not"))
    usage = Usage()
    with pytest.raises(LLMError, match="still invalid"):
        LLMClient(llm_settings).structured(convo(), "count", SCHEMA, number, usage)
    assert usage.calls == 2


def test_a_server_without_json_schema_gets_the_next_format(
    fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    settings = llm_settings.model_copy(update={"llm": llm_settings.llm.model_copy(
        update={"model": "needs-json-object"})})
    fake_openai.queue(Reply.reject_json_schema(), Reply.json({"n": 3}))
    usage = Usage()
    client = LLMClient(settings)
    value, _ = client.structured(convo(), "count", SCHEMA, number, usage)
    assert value == 3
    assert [r.format_kind for r in fake_openai.requests] == ["json_schema", "json_object+schema"]
    assert client.response_format == "json_object+schema"  # remembered for the next call


def test_every_call_is_recorded_and_a_recorded_answer_is_not_paid_twice(
    fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    log = MemoryLog()
    fake_openai.queue(Reply.json({"n": 3}))
    client = LLMClient(llm_settings, cache=log)
    client.structured(convo(), "count", SCHEMA, number, Usage())
    assert [r.outcome for r in log.records.values()] == ["ok"]
    again = Usage()
    value, _ = client.structured(convo(), "count", SCHEMA, number, again)
    assert value == 3 and fake_openai.calls == 1 and again.calls == 1

"""The service's metrics: every name the dashboards rely on is exposed, and the outbox
gauges follow their probe, which may fail without failing the scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from briefing import metrics
from briefing.metrics import OutboxCollector, register_outbox, render_latest, unregister_outbox

# name in the exposition -> its type; written from the specification, not from the module.
EXPECTED = {
    "briefing_articles_ingested": "counter",
    "briefing_stories_briefed": "counter",
    "briefing_llm_calls": "counter",
    "briefing_llm_tokens": "counter",
    "briefing_llm_cost_usd": "counter",
    "briefing_llm_call_seconds": "histogram",
    "briefing_checks": "counter",
    "briefing_deliveries": "counter",
    "briefing_telegram_429": "counter",
    "briefing_feed_errors": "counter",
    "briefing_lease_takeovers": "counter",
}


def families() -> dict[str, str]:
    """Name -> type of every family in what `/metrics` would serve."""
    text, _ = render_latest()
    return {f.name: f.type for f in text_string_to_metric_families(text.decode("utf-8"))}


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def outbox() -> Iterator[None]:
    """Leave no probe registered for the tests that follow."""
    yield
    unregister_outbox()


def test_every_metric_is_exposed_with_its_type() -> None:
    found = families()
    assert {name: found.get(name) for name in EXPECTED} == EXPECTED


def test_the_content_type_is_prometheus_text() -> None:
    _, content_type = render_latest()
    assert content_type.startswith("text/plain")
    assert "version=" in content_type


@pytest.mark.parametrize(("counter", "labels", "name"), [
    ("ARTICLES_INGESTED", {"source": "feed"}, "briefing_articles_ingested_total"),
    ("STORIES_BRIEFED", {"outcome": "kept"}, "briefing_stories_briefed_total"),
    ("LLM_CALLS", {"purpose": "judge", "outcome": "cached"}, "briefing_llm_calls_total"),
    ("LLM_TOKENS", {"kind": "completion"}, "briefing_llm_tokens_total"),
    ("LLM_COST", {}, "briefing_llm_cost_usd_total"),
    ("CHECKS", {"item": "quote", "result": "repaired"}, "briefing_checks_total"),
    ("DELIVERIES", {"result": "retried"}, "briefing_deliveries_total"),
    ("TELEGRAM_429", {}, "briefing_telegram_429_total"),
    ("FEED_ERRORS", {}, "briefing_feed_errors_total"),
    ("LEASE_TAKEOVERS", {"kind": "poller"}, "briefing_lease_takeovers_total"),
])
def test_counters_count_under_their_name(counter: str, labels: dict[str, str],
                                         name: str) -> None:
    before = sample(name, **labels)
    metric = getattr(metrics, counter)
    (metric.labels(**labels) if labels else metric).inc(2)
    assert sample(name, **labels) == before + 2
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # sorted when exposed
    line = f"{name}{{{label_text}}}" if labels else name
    assert f"\n{line} {before + 2}\n" in render_latest()[0].decode("utf-8")


def test_the_closed_label_sets_are_exposed_before_any_event() -> None:
    # rate() needs the series to exist at 0 before the first event.
    text = render_latest()[0].decode("utf-8")
    for line in ('briefing_articles_ingested_total{source="url"}',
                 'briefing_stories_briefed_total{outcome="failed"}',
                 'briefing_checks_total{item="point",result="rejected"}',
                 'briefing_deliveries_total{result="sent"}',
                 'briefing_llm_tokens_total{kind="cached"}'):
        assert line in text


def test_llm_latency_lands_in_buckets_from_a_tenth_of_a_second_to_two_minutes() -> None:
    before_fast = sample("briefing_llm_call_seconds_bucket", le="0.1")
    before_slow = sample("briefing_llm_call_seconds_bucket", le="120.0")
    before_count = sample("briefing_llm_call_seconds_count")
    metrics.LLM_LATENCY.observe(0.05)
    metrics.LLM_LATENCY.observe(100.0)
    assert sample("briefing_llm_call_seconds_bucket", le="0.1") == before_fast + 1
    assert sample("briefing_llm_call_seconds_bucket", le="120.0") == before_slow + 2
    assert sample("briefing_llm_call_seconds_count") == before_count + 2


def test_the_collector_reports_its_probe() -> None:
    collected = {m.name: (m.type, [s.value for s in m.samples])
                 for m in OutboxCollector(lambda: (7, 42.5)).collect()}
    assert collected == {"briefing_outbox_depth": ("gauge", [7]),
                         "briefing_outbox_oldest_due_seconds": ("gauge", [42.5])}


def test_the_collector_yields_nothing_when_its_probe_raises(
        caplog: pytest.LogCaptureFixture) -> None:
    def down() -> tuple[int, float]:
        raise ConnectionError("database is down")

    with caplog.at_level(logging.DEBUG, logger="briefing.metrics"):
        assert list(OutboxCollector(down).collect()) == []
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_registered_outbox_gauges_are_scraped(outbox: None) -> None:
    register_outbox(lambda: (3, 12.5))
    assert sample("briefing_outbox_depth") == 3
    assert sample("briefing_outbox_oldest_due_seconds") == 12.5
    found = families()
    assert found["briefing_outbox_depth"] == "gauge"
    assert found["briefing_outbox_oldest_due_seconds"] == "gauge"


def test_the_probe_is_asked_at_each_scrape(outbox: None) -> None:
    depths = iter([1, 5])
    register_outbox(lambda: (next(depths), 0.0))
    assert sample("briefing_outbox_depth") == 1
    assert sample("briefing_outbox_depth") == 5


def test_registering_is_not_a_query(outbox: None) -> None:
    asked: list[str] = []

    def probe() -> tuple[int, float]:
        asked.append("asked")
        return 0, 0.0

    register_outbox(probe)
    assert asked == []


def test_registering_again_replaces_the_probe(outbox: None) -> None:
    register_outbox(lambda: (3, 12.5))
    register_outbox(lambda: (9, 1.0))  # no DuplicateTimeseries
    assert sample("briefing_outbox_depth") == 9
    assert sample("briefing_outbox_oldest_due_seconds") == 1.0
    assert render_latest()[0].decode("utf-8").count("\nbriefing_outbox_depth ") == 1


def test_a_failing_probe_leaves_the_gauges_out_but_the_scrape_works(outbox: None) -> None:
    def down() -> tuple[int, float]:
        raise OSError("connection refused")

    register_outbox(down)
    found = families()
    assert "briefing_outbox_depth" not in found
    assert "briefing_outbox_oldest_due_seconds" not in found
    assert found["briefing_deliveries"] == "counter"


def test_unregistering_withdraws_the_gauges() -> None:
    register_outbox(lambda: (3, 12.5))
    unregister_outbox()
    unregister_outbox()  # twice is harmless
    assert "briefing_outbox_depth" not in families()
    register_outbox(lambda: (4, 0.0))  # and it can come back
    try:
        assert sample("briefing_outbox_depth") == 4
    finally:
        unregister_outbox()

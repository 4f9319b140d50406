"""The service's Prometheus metrics, defined once, in the default registry of
`prometheus_client`.

This module owns the metric objects: every layer increments them (ingestion, briefing, the
LLM client, quote checks, delivery, leases) and the operator's `/metrics` endpoint reads them
through `render_latest()`. The outbox gauges are the exception: they are computed at scrape
time from the store by a probe that the service registers with `register_outbox()`.

A base module: it imports nothing of the project, so that every layer may import it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

ARTICLES_INGESTED = Counter(
    "briefing_articles_ingested_total",
    "Articles stored, by where they came from (folder, feed, url).",
    ["source"],
)
STORIES_BRIEFED = Counter(
    "briefing_stories_briefed_total",
    "Stories the summariser finished with, by outcome (briefed, kept, failed).",
    ["outcome"],
)
LLM_CALLS = Counter(
    "briefing_llm_calls_total",
    "Calls to the LLM, by purpose (brief, question, judge, ...) and outcome "
    "(ok, cached, error).",
    ["purpose", "outcome"],
)
LLM_TOKENS = Counter(
    "briefing_llm_tokens_total",
    "Tokens spent on the LLM, by kind (prompt, completion, cached).",
    ["kind"],
)
LLM_COST = Counter(
    "briefing_llm_cost_usd_total",
    "Estimated cost of the LLM calls, in US dollars.",
)
LLM_LATENCY = Histogram(
    "briefing_llm_call_seconds",
    "Duration of one LLM call, in seconds.",
    # A cached answer takes a fraction of a second, a long brief on a slow server up to the
    # client's two-minute timeout: the buckets span both.
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0),
)
CHECKS = Counter(
    "briefing_checks_total",
    "Quotes and points checked against their sources, by item (quote, point) and result "
    "(verified, repaired, rejected).",
    ["item", "result"],
)
DELIVERIES = Counter(
    "briefing_deliveries_total",
    "Outbox deliveries, by result (sent, failed, retried).",
    ["result"],
)
TELEGRAM_429 = Counter(
    "briefing_telegram_429_total",
    "Answers 429 (too many requests) from the Telegram Bot API.",
)
FEED_ERRORS = Counter(
    "briefing_feed_errors_total",
    "Feed fetches or parses that failed.",
)
LEASE_TAKEOVERS = Counter(
    "briefing_lease_takeovers_total",
    "Expired leases taken over from another worker, by kind (feed, story, delivery, "
    "poller, ...).",
    ["kind"],
)

# A labelled series exists only once it is first incremented, and `rate()` cannot see the
# first event of a series that did not exist before it: create the closed sets of values at 0.
for _source in ("folder", "feed", "url"):
    ARTICLES_INGESTED.labels(source=_source)
for _outcome in ("briefed", "kept", "failed"):
    STORIES_BRIEFED.labels(outcome=_outcome)
for _kind in ("prompt", "completion", "cached"):
    LLM_TOKENS.labels(kind=_kind)
for _item in ("quote", "point"):
    for _result in ("verified", "repaired", "rejected"):
        CHECKS.labels(item=_item, result=_result)
for _result in ("sent", "failed", "retried"):
    DELIVERIES.labels(result=_result)

OUTBOX_DEPTH = "briefing_outbox_depth"
OUTBOX_OLDEST_DUE = "briefing_outbox_oldest_due_seconds"


class OutboxCollector(Collector):
    """Reports the outbox's depth and the age of its oldest due row, asked of the store at
    each scrape through `probe`, which returns (depth, age of the oldest due row in seconds).

    A probe that raises (the database is down) makes the gauges absent from that scrape:
    the scrape itself never fails.
    """

    def __init__(self, probe: Callable[[], tuple[int, float]]) -> None:
        self.probe = probe

    def describe(self) -> Iterable[Metric]:
        """The gauges this collector yields, without values: the registry reads their names
        at registration, which must not query the store."""
        return [self._depth(None), self._oldest(None)]

    def collect(self) -> Iterable[Metric]:
        """Ask the probe and yield both gauges, or nothing if the probe raised."""
        try:
            depth, oldest = self.probe()
        except Exception:
            # Expected while the database is unreachable; /readyz is where that shows.
            log.debug("outbox probe failed; its gauges are left out of this scrape",
                      exc_info=True)
            return []
        return [self._depth(depth), self._oldest(oldest)]

    @staticmethod
    def _depth(value: float | None) -> GaugeMetricFamily:
        return GaugeMetricFamily(OUTBOX_DEPTH, "Deliveries waiting in the outbox.",
                                 value=value)

    @staticmethod
    def _oldest(value: float | None) -> GaugeMetricFamily:
        return GaugeMetricFamily(OUTBOX_OLDEST_DUE,
                                 "Age in seconds of the oldest outbox row that is due.",
                                 value=value)


_outbox_lock = threading.Lock()
_outbox: OutboxCollector | None = None


def register_outbox(probe: Callable[[], tuple[int, float]]) -> None:
    """Publish the outbox gauges, computed by `probe` at each scrape, in the default registry.

    Once per process: registering again replaces the previous probe (a service restarted
    in-process, a test) instead of raising on the duplicate names.
    """
    global _outbox
    with _outbox_lock:
        collector = OutboxCollector(probe)
        if _outbox is not None:
            REGISTRY.unregister(_outbox)
        REGISTRY.register(collector)
        _outbox = collector


def unregister_outbox() -> None:
    """Withdraw the outbox gauges (the store they read is closing); a no-op if none is
    registered."""
    global _outbox
    with _outbox_lock:
        if _outbox is not None:
            REGISTRY.unregister(_outbox)
            _outbox = None


def render_latest() -> tuple[bytes, str]:
    """The exposition text of the default registry, and the content type to serve it with."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

"""Summarising the stories whose brief is missing or out of date.

A story is pending while `summarised_version < version` (a new source raised
its version). Each is summarised by the core pipeline, with bounded
concurrency; its briefs are saved with the cost of that update. When the LLM
fails and the offline fallback is off, the story simply stays pending and is
tried again on the next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from briefing.briefs.engines.select import Engine, select_engine
from briefing.briefs.pipeline import summarise
from briefing.clock import utcnow
from briefing.config import Settings
from briefing.errors import EngineError
from briefing.store.db import Database
from briefing.store.llm_calls import CallLog
from briefing.store.stories import pending_story_ids, save_result, story_to_brief

log = logging.getLogger(__name__)
EngineFactory = Callable[[], Engine]


@dataclass
class SummaryReport:
    """What one summarising pass did."""

    summarised: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


Clock = Callable[[], datetime]


def summarise_story(db: Database, story_id: int, engine: Engine, settings: Settings,
                    fallback: bool | None = None, clock: Clock = utcnow) -> None:
    """Summarise one stored story and save its briefs.

    `fallback` (default: `service.offline_fallback`) lets the offline engine
    write the briefs when the LLM fails; otherwise the LLM's error is raised.
    """
    story, version = story_to_brief(db, story_id)
    use_fallback = settings.service.offline_fallback if fallback is None else fallback
    result = summarise(story, settings, engine, fallback=use_fallback)
    save_result(db, story_id, version, result, clock())


def summarise_pending(
    db: Database, settings: Settings, engine_factory: EngineFactory | None = None,
    clock: Clock = utcnow,
) -> SummaryReport:
    """Summarise every pending story, a few at a time."""
    factory = engine_factory or (lambda: select_engine(settings, cache=CallLog(db)))
    engine = factory()
    report = SummaryReport()

    def work(story_id: int) -> str | None:
        try:
            summarise_story(db, story_id, engine, settings, clock=clock)
            return None
        except EngineError as exc:  # the LLM is down: the story waits for the next cycle
            log.warning("story %s stays pending: %s", story_id, exc)
            return str(exc)

    # Workers return their outcome; only this thread writes the report.
    pending = pending_story_ids(db)
    with ThreadPoolExecutor(max_workers=settings.service.summarise_concurrency) as pool:
        for story_id, error in zip(pending, pool.map(work, pending), strict=True):
            if error is None:
                report.summarised.append(story_id)
            else:
                report.failed[story_id] = error
    return report

"""Summarising the stories whose brief is missing or out of date.

A story is pending while `summarised_version < version` (a new source raised
its version). A pending story is summarised when it is due (`rebrief_due`):
at once for its first brief; a re-brief is debounced, so that a story gaining
sources in a burst costs one LLM call, not one per source. A due re-brief calls
the LLM only when the joined sources bring news (`brings_news`); sources that
retell what the brief's sources say are added to the brief as it stands (the
story's history and a live post's sources line grow, no call). Due stories are
summarised by the core pipeline, with bounded concurrency; their briefs are
saved with the cost of that update. When the LLM fails and the offline fallback
is off, the story simply stays pending and is tried again on the next cycle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from briefing.briefs.engines.select import Engine, select_engine
from briefing.briefs.models import CitationCounts
from briefing.briefs.pipeline import summarise
from briefing.clock import utcnow
from briefing.config import ServiceSettings, Settings
from briefing.errors import EngineError
from briefing.metrics import CHECKS, STORIES_BRIEFED
from briefing.service.fleet import Fleet
from briefing.store.db import Database
from briefing.store.llm_calls import CallLog
from briefing.store.stories import (
    JoinedSources,
    PendingStory,
    joined_sources,
    keep_brief,
    pending_stories,
    save_result,
    still_pending,
    story_to_brief,
)
from briefing.stories.novelty import novelty

log = logging.getLogger(__name__)
EngineFactory = Callable[[], Engine]
# Stories briefed in one pass at most, oldest first; the rest wait for the next cycle.
PASS_LIMIT = 1000
STORY = "story"  # the kind of a story's lease


@dataclass
class SummaryReport:
    """What one summarising pass did."""

    summarised: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    # Pending stories whose re-brief is debounced: sources are still joining them.
    deferred: list[int] = field(default_factory=list)
    # Due re-briefs whose joined sources brought no news: the brief stands, no LLM call.
    kept: list[int] = field(default_factory=list)


Clock = Callable[[], datetime]


def rebrief_due(story: PendingStory, now: datetime, service: ServiceSettings) -> bool:
    """Whether the pending `story` is briefed at `now`.

    A first brief is due at once: readers of a live story want it fast, and
    until it exists they have nothing at all. Waiting for the quiet period would
    fold a burst into the first brief, but it would cost every new story a whole
    cycle at the default poll (the check runs once a cycle), single-source
    stories included. A re-brief, whose readers already have a brief, is due
    once no source has joined for `rebrief_quiet_minutes` (the burst is over),
    or once the first source its brief lacks has waited
    `rebrief_max_delay_minutes` (a story that never stops growing still gets
    fresh briefs). A max delay of 0 turns debouncing off. A story whose arrival
    times are unknown is due: never left pending for want of a date.
    """
    if (not story.briefed or service.rebrief_max_delay_minutes == 0
            or story.first_waiting is None or story.last_joined is None):
        return True
    quiet = now - story.last_joined >= timedelta(minutes=service.rebrief_quiet_minutes)
    overdue = now - story.first_waiting >= timedelta(minutes=service.rebrief_max_delay_minutes)
    return quiet or overdue


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
    count_checks(result.citations)


def count_checks(counts: CitationCounts) -> None:
    """Add one brief's checks to the service's metrics: quotes verified character for
    character, repaired (the same words, the source's own characters), rejected; points
    supported at once, after being sent back once, or dropped."""
    CHECKS.labels(item="quote", result="verified").inc(counts.verified)
    CHECKS.labels(item="quote", result="repaired").inc(counts.repaired)
    CHECKS.labels(item="quote", result="rejected").inc(counts.rejected)
    # A point sent back and then supported counts as repaired; one still failing, rejected.
    repaired = max(0, min(counts.points_retried - counts.points_dropped,
                          counts.points_supported))
    CHECKS.labels(item="point", result="verified").inc(counts.points_supported - repaired)
    CHECKS.labels(item="point", result="repaired").inc(repaired)
    CHECKS.labels(item="point", result="rejected").inc(counts.points_dropped)


def summarise_pending(
    db: Database, settings: Settings, engine_factory: EngineFactory | None = None,
    clock: Clock = utcnow, fleet: Fleet | None = None,
) -> SummaryReport:
    """Summarise every pending story that is due at `clock()` (`rebrief_due`), a few at a
    time; the others are reported as deferred. A story another worker holds (`fleet`) is
    left to it."""
    now = clock()
    fleet = fleet or Fleet(db, clock=clock)
    report = SummaryReport()
    due: list[PendingStory] = []
    for story in pending_stories(db):
        if rebrief_due(story, now, settings.service):
            due.append(story)
        else:
            report.deferred.append(story.id)
    due = due[:PASS_LIMIT]
    pending = [story.id for story in due]
    if report.deferred:
        log.debug("re-brief deferred for %d stories: sources still joining",
                  len(report.deferred))
    factory = engine_factory or (lambda: select_engine(
        settings, cache=CallLog(db, holder=fleet.worker.id)))
    engines: list[Engine] = []  # built once this worker holds a story: a pass with nothing
    # to do (all held by other workers) must not pay for a new LLM client and its TLS setup

    building = threading.Lock()  # the pool's threads ask for it at once

    def engine() -> Engine:
        with building:
            if not engines:
                engines.append(factory())
            return engines[0]

    briefed = {story.id for story in due if story.briefed}

    novelty_check = settings.service.rebrief_novelty > 0

    def work(story_id: int) -> tuple[bool, str | None]:
        """(kept: the brief stood with no call, the LLM's error if it failed)."""
        try:
            if novelty_check and story_id in briefed:
                sources = joined_sources(db, story_id)
                if not brings_news(sources, settings.service):
                    keep_brief(db, story_id, sources.version, clock())
                    return True, None
            summarise_story(db, story_id, engine(), settings, clock=clock)
            return False, None
        except EngineError as exc:  # the LLM is down: the story waits for the next cycle
            log.warning("story %s stays pending: %s", story_id, exc)
            return False, str(exc)

    # Claimed a round of the pool at a time, so several workers share the stories: each
    # briefs those it holds and that are still pending once held.
    chunk = settings.service.summarise_concurrency * 2
    # Workers return their outcome; only this thread writes the report.
    with ThreadPoolExecutor(max_workers=settings.service.summarise_concurrency) as pool:
        for start in range(0, len(pending), chunk):
            held = fleet.take(STORY, pending[start:start + chunk])
            try:
                left = still_pending(db, held)
                mine = [story_id for story_id in held if story_id in left]
                for story_id, (kept, error) in zip(mine, pool.map(work, mine), strict=True):
                    if error is not None:
                        report.failed[story_id] = error
                    else:
                        (report.kept if kept else report.summarised).append(story_id)
                    outcome = "failed" if error is not None else "kept" if kept else "briefed"
                    STORIES_BRIEFED.labels(outcome=outcome).inc()
            finally:
                fleet.done(STORY, held)
    if report.kept:
        log.info("%d stories kept their brief: their new sources retell it", len(report.kept))
    return report


def brings_news(sources: JoinedSources, service: ServiceSettings) -> bool:
    """Whether the sources that joined a briefed story say enough its brief's sources do
    not (`service.rebrief_novelty`, `briefing.stories.novelty`) to brief it again."""
    found = novelty(sources.earlier, sources.joined)
    log.debug("%d of %d joined sentences new, %d with changed figures", found.new,
              found.sentences, found.changed)
    return found.brings_news(service.rebrief_novelty)

"""Debounced re-briefing (issue #12): a story that gains sources is briefed again once no
source has joined it for the quiet period, never later than the max delay after the first
source its brief lacks; a first brief never waits. Time is an injected clock throughout,
on both store backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from briefing.briefs.engines.extractive import ExtractiveEngine
from briefing.briefs.pipeline import summarise
from briefing.config import ServiceSettings, Settings, load_settings
from briefing.errors import ConfigError
from briefing.service.summaries import SummaryReport, rebrief_due, summarise_pending
from briefing.store.articles import NewArticle, add_article
from briefing.store.db import Database
from briefing.store.models import BriefHistoryRow, BriefRow, StoryRow
from briefing.store.stories import (
    PendingStory,
    pending_stories,
    pending_story_ids,
    save_result,
    story_history,
    story_to_brief,
)
from briefing.stories.signature import signature
from tests.conftest import NEWS, service_settings
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply

T0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
_TITLE, _TEXT = NEWS["tram"]


def minutes(n: float) -> datetime:
    """`n` minutes after T0."""
    return T0 + timedelta(minutes=n)


def add_source(db: Database, story_id: int | None, number: int, at: datetime) -> int:
    """Store source `number` at `at`, in story `story_id` (None: a story of its own); the
    story chosen here, not by clustering, so only the debouncing is under test."""
    text = f"{_TEXT} Le média numéro {number} publie ce récit à son tour ce matin."
    new = NewArticle(content_hash=f"hash-{number}", text=text, language="fr", title=_TITLE,
                     outlet=f"outlet{number}.example", published=at,
                     published_text=at.isoformat(),
                     signature=signature(text, _TITLE, "fr", at),
                     url=f"https://outlet{number}.example/tram")
    stored = add_article(db, new, lambda _candidates: story_id, at)
    assert stored.story_id is not None and not stored.duplicate
    return stored.story_id


def cycle(db: Database, settings: Settings, at: datetime) -> SummaryReport:
    """One summarising pass at `at`."""
    return summarise_pending(db, settings, clock=lambda: at)


def settings_with(store_url: str, tmp_path: Path, **service: object) -> Settings:
    """Offline service settings (the built-in defaults unless `service` says otherwise;
    the sources here retell one text, so the novelty check is off unless asked for: the
    debounce is under test)."""
    return service_settings(store_url, tmp_path, **{"rebrief_novelty": 0.0, **service})


def test_the_defaults_debounce() -> None:
    service = ServiceSettings()
    assert (service.rebrief_quiet_minutes, service.rebrief_max_delay_minutes) == (10.0, 30.0)


def test_a_burst_of_sources_is_briefed_once_after_the_quiet_period(
    db: Database, store_url: str, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = lambda req: Reply.content(good_answer(req))
    settings = settings_with(store_url, tmp_path)
    llm = settings.llm.model_copy(update={"engine": "llm", "base_url": fake_openai.base_url,
                                          "model": "fake-model", "max_retries": 0})
    settings = settings.model_copy(update={"llm": llm})
    story = add_source(db, None, 0, T0)
    assert cycle(db, settings, T0).summarised == [story]  # the first brief: at once
    assert fake_openai.calls == 1
    # Nine outlets follow, one every two minutes, each seen by a pass of its own.
    for number in range(1, 10):
        at = minutes(2 * number)
        add_source(db, story, number, at)
        report = cycle(db, settings, at)
        assert (report.summarised, report.deferred) == ([], [story])
    last = minutes(18)
    assert cycle(db, settings, last + timedelta(minutes=9, seconds=59)).summarised == []
    assert cycle(db, settings, last + timedelta(minutes=10)).summarised == [story]
    assert fake_openai.calls == 2  # one brief for the burst, not one per outlet
    assert pending_story_ids(db) == []
    assert story_to_brief(db, story)[0].sources[-1].outlet == "outlet9.example"


def test_a_story_gaining_a_source_every_minute_is_briefed_at_the_max_delay(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = settings_with(store_url, tmp_path)
    story = add_source(db, None, 0, T0)
    cycle(db, settings, T0)
    briefed_at: list[float] = []
    for minute in range(1, 121):  # for two hours, never a quiet minute
        add_source(db, story, minute, minutes(minute))
        if cycle(db, settings, minutes(minute)).summarised:
            briefed_at.append(minute)
    # Each brief comes 30 min after the first source the previous one lacked (it takes in
    # the source of its own minute, so the next wait starts a minute later).
    assert briefed_at == [31, 62, 93]


def test_a_first_brief_never_waits(db: Database, store_url: str, tmp_path: Path) -> None:
    settings = settings_with(store_url, tmp_path)
    story = add_source(db, None, 0, T0)
    add_source(db, story, 1, T0 + timedelta(seconds=30))  # another outlet, in the same cycle
    assert cycle(db, settings, T0 + timedelta(seconds=30)).summarised == [story]
    # The next source makes a re-brief: that one waits.
    add_source(db, story, 2, minutes(2))
    assert cycle(db, settings, minutes(2)).deferred == [story]


def test_a_story_whose_brief_was_lost_is_briefed_at_once(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """summarised_version back at 0 (a save lost): it is a first brief again."""
    settings = settings_with(store_url, tmp_path)
    story = add_source(db, None, 0, T0)
    add_source(db, story, 1, minutes(1))
    (pending,) = pending_stories(db)
    assert pending == PendingStory(story, briefed=False, first_waiting=T0, last_joined=minutes(1))
    assert cycle(db, settings, minutes(1)).summarised == [story]


def test_zero_quiet_and_max_delay_re_brief_at_the_next_pass(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = settings_with(store_url, tmp_path, rebrief_quiet_minutes=0,
                             rebrief_max_delay_minutes=0)
    story = add_source(db, None, 0, T0)
    briefed = 0
    for number in range(5):
        if number:
            add_source(db, story, number, minutes(number))
        briefed += len(cycle(db, settings, minutes(number)).summarised)
    assert briefed == 5  # one brief per source, as before debouncing


def test_the_sources_a_brief_lacks_are_found_by_their_rank(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """A source that joins while the brief is being written is stored before `briefed_at`
    but is not in the brief: its arrival starts the wait, not the next source's."""
    settings = settings_with(store_url, tmp_path)
    story = add_source(db, None, 0, T0)
    read, version = story_to_brief(db, story)
    add_source(db, story, 1, minutes(1))  # joins meanwhile
    result = summarise(read, settings, ExtractiveEngine(settings))
    save_result(db, story, version, result, minutes(2))
    add_source(db, story, 2, minutes(5))
    (pending,) = pending_stories(db)
    assert pending == PendingStory(story, briefed=True, first_waiting=minutes(1),
                                   last_joined=minutes(5))
    assert cycle(db, settings, minutes(14)).deferred == [story]  # quiet for 9 min only
    add_source(db, story, 3, minutes(23))
    assert cycle(db, settings, minutes(30)).deferred == [story]  # 29 min since minute 1
    # 30 min after the source the brief lacks, though another has just joined.
    add_source(db, story, 4, minutes(31))
    assert cycle(db, settings, minutes(31)).summarised == [story]


def test_only_the_due_stories_are_briefed_in_a_pass(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    settings = settings_with(store_url, tmp_path)
    quiet, busy = add_source(db, None, 0, T0), add_source(db, None, 1, T0)
    cycle(db, settings, T0)
    add_source(db, quiet, 2, minutes(1))
    add_source(db, busy, 3, minutes(1))
    add_source(db, busy, 4, minutes(8))
    report = cycle(db, settings, minutes(11))
    assert (report.summarised, report.deferred) == ([quiet], [busy])
    assert cycle(db, settings, minutes(18)).summarised == [busy]


# --- the decision alone, and the settings ---------------------------------------------


def waiting(first: float, last: float, briefed: bool = True) -> PendingStory:
    """A pending story whose first lacking source came at minute `first`, its last at `last`."""
    return PendingStory(1, briefed, minutes(first), minutes(last))


@pytest.mark.parametrize(
    ("story", "now", "due"),
    [
        (waiting(0, 0, briefed=False), 0, True),  # a first brief
        (waiting(0, 5), 9.9, False),  # sources joined 4.9 min ago
        (waiting(0, 5), 15, True),  # quiet for 10 min
        (waiting(0, 29), 30, True),  # the first lacking source waited 30 min
        (waiting(0, 29), 29.9, False),
        (PendingStory(1, True, None, None), 0, True),  # no arrival times: never stuck
    ],
)
def test_when_a_re_brief_is_due(story: PendingStory, now: float, due: bool) -> None:
    assert rebrief_due(story, minutes(now), ServiceSettings()) is due


def test_a_max_delay_of_zero_turns_debouncing_off() -> None:
    service = ServiceSettings(rebrief_quiet_minutes=0, rebrief_max_delay_minutes=0)
    # Even when the clock is behind the arrival times (another process's clock).
    assert rebrief_due(waiting(5, 5), minutes(0), service)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("rebrief_quiet_minutes = -1\n", "service.rebrief_quiet_minutes"),
        ("rebrief_max_delay_minutes = -0.5\n", "service.rebrief_max_delay_minutes"),
        ("rebrief_max_delay_minutes = 1441\n", "service.rebrief_max_delay_minutes"),
        ("rebrief_quiet_minutes = \"soon\"\n", "service.rebrief_quiet_minutes"),
        ("rebrief_quiet_minutes = 40\n", "service"),  # above the max delay (30)
        ("rebrief_quiet_minutes = 5\nrebrief_max_delay_minutes = 4\n", "service"),
    ],
)
def test_the_debounce_settings_are_range_checked(
    tmp_path: Path, content: str, where: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f"[service]\n{content}", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert message.startswith(f"invalid setting {where}") and str(path) in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BRIEFING_SERVICE__REBRIEF_QUIET_MINUTES": "2.5"}, (2.5, 30.0)),
        ({"BRIEFING_SERVICE__REBRIEF_QUIET_MINUTES": "0",
          "BRIEFING_SERVICE__REBRIEF_MAX_DELAY_MINUTES": "0"}, (0.0, 0.0)),
        ({"BRIEFING_SERVICE__REBRIEF_MAX_DELAY_MINUTES": "1440"}, (10.0, 1440.0)),
    ],
)
def test_the_debounce_settings_come_from_the_environment(
    env: dict[str, str], expected: Sequence[float]
) -> None:
    service = load_settings(env=env).service
    assert (service.rebrief_quiet_minutes, service.rebrief_max_delay_minutes) == expected


def test_a_quiet_period_above_the_max_delay_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="BRIEFING_SERVICE__REBRIEF_QUIET_MINUTES"):
        load_settings(env={"BRIEFING_SERVICE__REBRIEF_QUIET_MINUTES": "45"})


# --- a re-brief only when the joined sources bring news ------------------------------------

LATER = ("Le premier tramway roulera à l'essai dès le mois de mars, a précisé la métropole. "
         "Une seconde ligne vers Joué-lès-Tours sera étudiée l'an prochain. "
         "Les commerçants du centre demandent des indemnités pour les mois de travaux.")


def add_text(db: Database, story_id: int, number: int, at: datetime, text: str,
             language: str = "fr") -> None:
    """Store source `number` with this text in story `story_id`."""
    new = NewArticle(content_hash=f"text-{number}", text=text, language=language,
                     title=_TITLE, outlet=f"outlet{number}.example", published=at,
                     published_text=at.isoformat(), signature=signature(text, _TITLE, language, at),
                     url=f"https://outlet{number}.example/tram")
    assert add_article(db, new, lambda _candidates: story_id, at).story_id == story_id


def briefed_at_of(db: Database, story_id: int) -> datetime | None:
    """When the story's brief was last made (digests cover what was briefed since)."""
    with db.session() as session:
        return session.get_one(StoryRow, story_id).briefed_at


def llm_settings(store_url: str, tmp_path: Path, fake_openai: FakeOpenAI) -> Settings:
    """The built-in defaults (novelty check on), the LLM at the fake."""
    fake_openai.default = lambda req: Reply.content(good_answer(req))
    settings = service_settings(store_url, tmp_path)
    llm = settings.llm.model_copy(update={"engine": "llm", "base_url": fake_openai.base_url,
                                          "model": "fake-model", "max_retries": 0})
    return settings.model_copy(update={"llm": llm})


def test_outlets_retelling_the_story_keep_its_brief_with_no_llm_call(
    db: Database, store_url: str, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings = llm_settings(store_url, tmp_path, fake_openai)
    story = add_source(db, None, 0, T0)
    cycle(db, settings, T0)
    briefed_at = briefed_at_of(db, story)
    for number, outlet in enumerate(("Le Parisien", "Ouest-France", "La Nouvelle République"),
                                    start=1):  # the same text, each outlet's own closing line
        add_text(db, story, number, minutes(number), f"{_TEXT} Un récit repris par {outlet}.")
    report = cycle(db, settings, minutes(20))
    assert (report.kept, report.summarised, fake_openai.calls) == ([story], [], 1)
    assert pending_story_ids(db) == []
    history = story_history(db, story, "fr")
    assert [v.story_version for v in history] == [1, 4]
    assert history[1].sources[-1] == "outlet3.example"  # the sources line grows
    assert (history[1].headline, history[1].points) == (history[0].headline, history[0].points)
    # A digest does not show the story again for retellings.
    assert briefed_at_of(db, story) == briefed_at


@pytest.mark.parametrize(("joined", "language"), [
    pytest.param(f"{_TEXT} {LATER}", "fr", id="new-facts"),
    pytest.param(_TEXT.replace("48 millions", "61 millions"), "fr", id="a-changed-number"),
    pytest.param("Tours' tramway works resumed on Monday after eight months, the metropolis "
                 "said. The works will cost 48 million euros more than planned.", "en",
                 id="english"),
])
def test_a_source_with_news_is_briefed_again(
    db: Database, store_url: str, tmp_path: Path, fake_openai: FakeOpenAI, joined: str,
    language: str
) -> None:
    settings = llm_settings(store_url, tmp_path, fake_openai)
    story = add_source(db, None, 0, T0)
    cycle(db, settings, T0)
    add_text(db, story, 1, minutes(1), joined, language)
    report = cycle(db, settings, minutes(20))
    assert (report.summarised, report.kept, fake_openai.calls) == ([story], [], 2)


def test_a_novelty_of_zero_always_calls_the_llm(
    db: Database, store_url: str, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings = llm_settings(store_url, tmp_path, fake_openai)
    settings = settings.model_copy(update={"service": settings.service.model_copy(
        update={"rebrief_novelty": 0.0})})
    story = add_source(db, None, 0, T0)
    cycle(db, settings, T0)
    add_source(db, story, 1, minutes(1))
    assert cycle(db, settings, minutes(20)).summarised == [story]
    assert fake_openai.calls == 2


def test_a_version_saved_by_another_worker_first_is_not_saved_again(
    db: Database, store_url: str, tmp_path: Path
) -> None:
    """Two workers that briefed one version at once (a lease lost during a stall): the
    second save is dropped, the first brief stands, and no row is written twice."""
    settings = settings_with(store_url, tmp_path)
    story = add_source(db, None, 0, T0)
    read, version = story_to_brief(db, story)
    first = summarise(read, settings, ExtractiveEngine(settings))
    assert save_result(db, story, version, first, minutes(1))
    later = replace(first, engine="another-worker")
    assert not save_result(db, story, version, later, minutes(2))
    assert pending_stories(db) == []
    with db.session() as session:
        engines = set(session.scalars(select(BriefRow.engine).where(BriefRow.story_id == story)))
        history = session.scalar(select(func.count(BriefHistoryRow.id))
                                 .where(BriefHistoryRow.story_id == story))
    assert engines == {first.engine}
    assert history == len(first.briefs)

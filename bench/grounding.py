"""Grounded points: what the checks do with good, misleading and fixing models.

Stories: the 20 OrangeSum articles of the shared corpus (one source each; skipped, with a
message, when the corpus is absent) and the seed story (the two articles
`tests/fixtures/000_*.txt` and `001_*.txt`, loaded with `load_story`: two sources). Each
goes through the real pipeline (`summarise`, default settings, both briefs in one call)
against the project's fake OpenAI-compatible server, with the real `openai` client, in
every mode:

- `good`: `tests/fakes/briefs.good_answer`, points restating source sentences with their
  ids;
- `<mode> stubborn`: `adversarial_answer(mode)` for each of `ADVERSARIAL_MODES`
  (a swapped name, a changed number, a true sentence citing another one, ids that do not
  exist, no support, another source's sentence): the same misleading points again on the
  retry;
- `<mode> fixes`: `adversarial_answer(mode, fix_on_retry=True)`: misleading first, the good
  model's points on the retry;
- `offline`: the extractive engine (`llm.engine = "extractive"`), no LLM: the baseline.

Per mode: stories, points proposed (first answer), supported (delivered), retried (sent
back once; share of proposed), dropped by reason, fallback (the offline engine's points
given to a brief left with none), misleading points sent and delivered, LLM calls per
story (and against the good mode, same run), stories whose text gave the mode nothing to
mislead with (no two full names, no number, one source only: the model's briefs come
with no point, and get the offline engine's), stories withheld from readers (the
pipeline's warnings about them are silenced: the table counts them).

A misleading point is a (text, cited ids) pair the misleading model sent
(`adversarial_points` of its request, recorded by the fake; counted once per story, though
it is sent in both briefs); it is delivered when a brief holds a point with the same text
citing the same ids. Each one delivered, and each point of the good model rejected, is
listed after the tables. Targets: 0 misleading points delivered in every mode; the good
model is never retried (1 call per story).

Run: .venv/bin/python -m bench.grounding            (about 30 s)
     .venv/bin/python -m bench.grounding --quick    (3 OrangeSum articles and the seed story)
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import MODEL, ORANGESUM, load_orangesum, story_from_text
from bench.harness import (
    ROOT,
    Served,
    context,
    finish,
    parser,
    print_context,
    print_table,
    ratio,
    result_name,
    times,
)
from briefing.briefs.models import POINT_REASONS, Result
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.sources.load import load_story
from briefing.sources.models import Story
from tests.fakes.briefs import (
    ADVERSARIAL_MODES,
    RETRY_MARK,
    adversarial_answer,
    adversarial_points,
    good_answer,
    is_map_request,
)
from tests.fakes.openai_server import FakeOpenAI, Reply

QUICK_ARTICLES = 3
FIXTURES = ROOT / "tests" / "fixtures"
Claim = tuple[str, tuple[str, ...]]  # a point's text and the sentence ids it cites


@dataclass(frozen=True)
class Mode:
    """One way the model answers: good, misleading (stubborn or fixing), or no model."""

    name: str
    adversarial: str | None = None  # one of ADVERSARIAL_MODES
    fix_on_retry: bool = False
    offline: bool = False


MODES = (Mode("good"),
         *(Mode(f"{m} stubborn", m) for m in ADVERSARIAL_MODES),
         *(Mode(f"{m} fixes", m, fix_on_retry=True) for m in ADVERSARIAL_MODES),
         Mode("offline", offline=True))

# ---------------------------------------------------------------- the fake server


@dataclass(frozen=True)
class Answered:
    """One request the fake answered: whether it was the pipeline's retry, and the
    misleading points it sent (none for the good model's answers)."""

    retry: bool
    misleading: tuple[Claim, ...]
    empty: bool  # a misleading answer with no point: the story gave the mode nothing


class GroundingServer:
    """The fake LLM answering as the current mode says, recording what it sent."""

    def __init__(self) -> None:
        self.mode = Mode("good")
        self.answered: list[Answered] = []
        self.fake = FakeOpenAI(default=self._reply).start()

    def use(self, mode: Mode) -> None:
        """Answer as `mode` from now on."""
        self.mode = mode

    def _reply(self, request: dict[str, Any]) -> Reply:
        retry = RETRY_MARK in str(request["messages"][-1].get("content", ""))
        mode = self.mode
        if mode.adversarial is None:
            self.answered.append(Answered(retry, (), False))
            return Reply.content(good_answer(request))
        misleading: tuple[Claim, ...] = ()
        sends_misleading = not is_map_request(request) and not (retry and mode.fix_on_retry)
        if sends_misleading:
            misleading = tuple((p["text"], tuple(p["support"]))
                               for p in adversarial_points(request, mode.adversarial))
        self.answered.append(Answered(retry, misleading, sends_misleading and not misleading))
        reply: Callable[[dict[str, Any]], str] = adversarial_answer(
            mode.adversarial, fix_on_retry=mode.fix_on_retry)
        return Reply.content(reply(request))

    def base_url(self) -> str:
        """Where the fake listens (127.0.0.1)."""
        return self.fake.base_url

    def calls(self) -> int:
        """Chat requests received so far."""
        return len(self.answered)

    def since(self, start: int) -> list[Answered]:
        """What the fake answered after the first `start` requests."""
        return self.answered[start:]

    def close(self) -> None:
        """Stop the fake."""
        self.fake.stop()


# ---------------------------------------------------------------- stories


@dataclass(frozen=True)
class StorySet:
    """Stories measured together: a name, and (id, story) pairs."""

    name: str
    stories: tuple[tuple[str, Story], ...]


def seed_story(settings: Settings) -> Story:
    """The seed story: the two fixture articles as sources S1 and S2."""
    paths = [next(FIXTURES.glob(f"{prefix}_*.txt"), None) for prefix in ("000", "001")]
    if any(p is None for p in paths):
        sys.exit(f"seed articles not found in {FIXTURES} (000_*.txt and 001_*.txt)")
    return load_story([str(p) for p in paths if p is not None], settings.fetch)


def story_sets(quick: bool) -> list[StorySet]:
    """OrangeSum (when the corpus is there) and the seed story."""
    sets = []
    if ORANGESUM.is_file():
        articles = load_orangesum()
        chosen = articles[:QUICK_ARTICLES] if quick else articles
        sets.append(StorySet(f"OrangeSum ({len(chosen)} articles, 1 source each)",
                             tuple((a.id, story_from_text(a.text, f"{a.id}.txt"))
                                   for a in chosen)))
    else:
        print(f"OrangeSum skipped: corpus not found at {ORANGESUM} "
              "(expected ../shared/corpus next to the project)\n")
    sets.append(StorySet("seed story (tests/fixtures 000 + 001, 2 sources)",
                         (("seed", seed_story(Settings())),)))
    return sets


# ---------------------------------------------------------------- running the pipeline


def settings_for(base_url: str, mode: Mode) -> Settings:
    """Default settings (no briefing.toml, no environment), the LLM at the fake or none."""
    llm: dict[str, Any] = {"engine": "llm", "base_url": base_url, "api_key": "dummy",
                           "model": MODEL, "timeout": 60.0, "max_retries": 0}
    if mode.offline:
        llm = {"engine": "extractive"}
    return Settings.model_validate({"llm": llm})


def delivered(result: Result) -> set[Claim]:
    """(text, cited ids) of every point the briefs deliver."""
    return {(p.text, tuple(f"{s.source}:{s.sentence}" for s in p.support))
            for brief in result.briefs.values() for p in brief.points}


@dataclass
class Tally:
    """What happened to the points of one mode over a set of stories."""

    stories: int = 0
    calls: int = 0
    stories_retried: int = 0
    proposed: int = 0
    supported: int = 0
    retried: int = 0
    fallback: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POINT_REASONS, 0))
    misleading_sent: int = 0
    misleading_delivered: int = 0
    nothing: int = 0
    withheld: int = 0
    delivered_points: int = 0
    # Each misleading point delivered: story, briefs holding it, text, cited ids.
    leaks: list[dict[str, Any]] = field(default_factory=list)
    # Each point that failed its check (for the good model, every one is a false rejection).
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def add(self, story_id: str, result: Result, answered: list[Answered]) -> None:
        """Count one story's result and what the fake answered for it."""
        c = result.citations
        self.stories += 1
        self.calls += result.usage.calls
        self.stories_retried += any(a.retry for a in answered)
        self.proposed += c.points_proposed
        self.supported += c.points_supported
        self.retried += c.points_retried
        self.fallback += c.points_fallback
        for reason in POINT_REASONS:
            self.dropped[reason] += getattr(c, f"points_dropped_{reason}")
        bad = {claim for a in answered for claim in a.misleading}
        self.misleading_sent += len(bad)
        leaked = bad & delivered(result)
        self.misleading_delivered += len(leaked)
        for text, ids in sorted(leaked):
            briefs = [lang for lang, b in result.briefs.items()
                      if any((p.text, tuple(f"{s.source}:{s.sentence}" for s in p.support))
                             == (text, ids) for p in b.points)]
            self.leaks.append({"story": story_id, "briefs": briefs, "text": text,
                               "support": list(ids)})
        self.rejections += [{"story": story_id, "brief": r.language, "text": r.point.text,
                             "support": [str(ref) for ref in r.point.support],
                             "reason": r.reason, "hint": r.hint}
                            for r in result.rejected_points]
        self.nothing += bool(answered) and answered[0].empty
        self.withheld += result.withheld is not None
        self.delivered_points += sum(len(b.points) for b in result.briefs.values())

    def as_dict(self) -> dict[str, Any]:
        """Every count, with the derived shares, for the results file."""
        return {**{k: v for k, v in vars(self).items()},
                "dropped_total": sum(self.dropped.values()),
                "retried_share": ratio(self.retried, self.proposed),
                "calls_per_story": ratio(self.calls, self.stories)}


def run_mode(fake: Served, mode: Mode, stories: Sequence[tuple[str, Story]]) -> Tally:
    """Every story through the pipeline in one mode."""
    fake.call("use", mode)
    settings = settings_for(fake.call("base_url"), mode)
    tally = Tally()
    for story_id, story in stories:
        before: int = fake.call("calls")
        result = summarise(story, settings)
        expected = "extractive" if mode.offline else "llm"
        if result.engine != expected:
            sys.exit(f"{mode.name}, {story_id}: the {expected} engine did not write the briefs "
                     f"({result.engine}): {result.notes}")
        answered: list[Answered] = fake.call("since", before)
        if len(answered) != result.usage.calls:
            sys.exit(f"{mode.name}, {story_id}: {result.usage.calls} calls in the usage, "
                     f"{len(answered)} at the fake")
        tally.add(story_id, result, answered)
    return tally


# ---------------------------------------------------------------- reporting


def _dropped(dropped: dict[str, int]) -> str:
    shown = [f"{reason} {n}" for reason, n in dropped.items() if n]
    return ", ".join(shown) or "-"


def print_set(name: str, tallies: dict[str, Tally]) -> None:
    """One table: a row per mode."""
    good = tallies["good"]
    good_calls = ratio(good.calls, good.stories)
    print(name)
    print_table(
        ["mode", "stories", "proposed", "supported", "retried", "share", "st.retried",
         "dropped (reason n)", "fallback", "mislead.sent", "mislead.deliv", "calls/story",
         "vs good", "nothing", "withheld"],
        [[mode, t.stories, t.proposed, t.supported, t.retried,
          f"{ratio(t.retried, t.proposed):.2f}" if t.proposed else "-", t.stories_retried,
          _dropped(t.dropped), t.fallback, t.misleading_sent, t.misleading_delivered,
          f"{ratio(t.calls, t.stories):.2f}", times(ratio(ratio(t.calls, t.stories), good_calls)),
          t.nothing, t.withheld]
         for mode, t in tallies.items()])
    print()


def main(argv: Sequence[str] | None = None) -> None:
    """Run every story in every mode and report what the checks did."""
    options = parser(__doc__, servers=True)
    args = options.parse_args(argv)
    # The pipeline warns of each brief withheld from readers: the tables count them instead.
    logging.getLogger("briefing").setLevel(logging.ERROR)
    info = context("grounding", args.quick)
    print_context(info)
    sets = story_sets(args.quick)
    results: dict[str, dict[str, Tally]] = {}
    with Served(GroundingServer, in_process=args.in_process) as fake:
        for story_set in sets:
            results[story_set.name] = {m.name: run_mode(fake, m, story_set.stories)
                                       for m in MODES}
    print(f"Points through the real pipeline (summarise, default settings, both briefs in one "
          f"call), fake LLM {fake.where}; 'share' = retried / proposed; 'vs good' = calls per "
          "story against the good model's, this run; 'mislead.' = distinct misleading points "
          "(text, cited ids) sent per story / delivered in a brief; 'nothing' = stories the "
          "mode had nothing to mislead with (no point sent)\n")
    for name, tallies in results.items():
        print_set(name, tallies)
    every = [t for tallies in results.values() for t in tallies.values()]
    misleading = sum(t.misleading_delivered for t in every)
    sent = sum(t.misleading_sent for t in every)
    good = [tallies["good"] for tallies in results.values()]
    good_retried = sum(t.stories_retried for t in good)
    good_calls = sum(t.calls for t in good)
    good_stories = sum(t.stories for t in good)
    for tallies in results.values():
        for mode, t in tallies.items():
            for leak in t.leaks:
                print(f"MISLEADING POINT DELIVERED ({mode}, {leak['story']}, brief "
                      f"{'+'.join(leak['briefs'])}, citing {', '.join(leak['support'])}): "
                      f"{leak['text']!r}")
        for r in tallies["good"].rejections:
            print(f"GOOD POINT REJECTED ({r['story']}, brief {r['brief']}, citing "
                  f"{', '.join(r['support'])}, {r['reason']}: {r['hint']}): {r['text']!r}")
    print("\nSUMMARY")
    print(f"misleading points delivered: {misleading} of {sent} sent, over every mode and "
          f"story (target 0): {'pass' if misleading == 0 else 'FAIL'}")
    print(f"good model: {good_retried} of {good_stories} stories retried, "
          f"{good_calls / good_stories:.2f} calls per story (target 0 retries, 1 call): "
          f"{'pass' if good_retried == 0 and good_calls == good_stories else 'FAIL'}")
    data = {"sets": {name: {mode: t.as_dict() for mode, t in tallies.items()}
                     for name, tallies in results.items()},
            "modes": [vars(m) for m in MODES]}
    finish(info, result_name("grounding", args.quick), json.loads(json.dumps(data, default=str)),
           {"misleading_delivered": misleading, "misleading_sent": sent,
            "good_stories_retried": good_retried,
            "good_calls_per_story": round(good_calls / good_stories, 3),
            "stories": {name: next(iter(t.values())).stories for name, t in results.items()}})


if __name__ == "__main__":
    main()

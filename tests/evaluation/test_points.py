"""`briefing eval`'s point support: what the check made of each point, on a model whose
points are scripted (so each point's fate is known in advance), on the offline engine over
OrangeSum, and next to the judge's verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from briefing.briefs.engines.extractive import ExtractiveEngine
from briefing.briefs.models import Brief, CitationCounts, Point, Result, Support
from briefing.briefs.pipeline import summarise
from briefing.config import Settings
from briefing.evaluation.corpus import load_item, read_corpus
from briefing.evaluation.report import overall_rows, print_run, write_markdown
from briefing.evaluation.runner import Options, Prices, Run, run_eval
from briefing.evaluation.signals import measure
from briefing.evaluation.summary import overall, to_json
from briefing.llm.usage import Usage
from briefing.sources.models import Document, Story
from tests.conftest import SEEDS, shared_path
from tests.fakes.briefs import numbered
from tests.fakes.openai_server import FakeOpenAI, Reply

PRICES = Prices(input=1.0, output=2.0, cached=0.5)
# One article at a time: briefing/text/stems.py shares one Snowball stemmer between threads,
# and concurrent articles can get wrong stems (so wrong point checks) or an IndexError.
# Exact counts must not depend on that race; the runner's concurrency is tested elsewhere.
SERIAL = 1
HENS = "Les poules de la ferme pondent chaque matin des oeufs très colorés."
REASONS = ("no_support", "unknown_sentence", "wrong_source", "numbers", "names", "words")


def seed_corpus(tmp_path: Path) -> Path:
    """The two seed articles as a JSONL corpus."""
    rows = [{"id": f"seed-{i}", "text": p.read_text(encoding="utf-8"), "language": "fr"}
            for i, p in enumerate(SEEDS)]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def french_only(settings: Settings) -> Settings:
    """Briefs in French only, so every point is checked in its source's language."""
    brief = settings.brief.model_copy(update={"languages": ("fr",)})
    return settings.model_copy(update={"brief": brief})


def evaluate(corpus: Path, settings: Settings, engine: str, judge: str | None = None) -> Run:
    items = read_corpus(corpus)
    return run_eval(str(corpus), items, settings, Options(engine, judge, SERIAL), PRICES)


def figure_rows(run: Run) -> dict[str, str]:
    """The overall table as {figure: value}."""
    return {row[0]: row[1] for row in overall_rows(overall(run))}


def usable(request: dict[str, Any]) -> list[tuple[str, int, str]]:
    """The article's sentences a model would restate (neither tiny nor huge)."""
    return [(sid, n, text) for sid, n, text in numbered(request) if 8 <= len(text.split()) <= 40]


def scripted_points(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Six points of known fate, by what they are meant to become: one its cited sentence
    says, and one for each way a point of a one-source story fails (a point that another
    source would support, `wrong_source`, needs two sources)."""
    (sid, a, said), (_, b, other), (_, _, third) = usable(request)[:3]
    lowered = said[0].lower() + said[1:]
    return {
        "supported": {"text": said, "support": [f"{sid}:{a}"]},
        "no_support": {"text": other, "support": []},
        "unknown_sentence": {"text": third, "support": [f"{sid}:999"]},
        "numbers": {"text": said.rstrip(".") + ", pour 4 700 dollars.", "support": [f"{sid}:{a}"]},
        "names": {"text": f"Selon Zorglub Bidochon, {lowered}", "support": [f"{sid}:{a}"]},
        "words": {"text": HENS, "support": [f"{sid}:{b}"]},
    }


def quotes(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"text": text, "source": sid, "translation": None}
            for sid, _, text in usable(request)[:2]]


def answer(points: list[dict[str, Any]], request: dict[str, Any]) -> Reply:
    return Reply.json({"fr": {"headline": "Amazon et le Pentagone", "points": points,
                              "quotes": quotes(request)}})


def six_points(request: dict[str, Any]) -> Reply:
    """The same six points in the first answer and in the retry."""
    return answer(list(scripted_points(request).values()), request)


def no_good_point(request: dict[str, Any]) -> Reply:
    scripted = scripted_points(request)
    return answer([scripted["words"], scripted["no_support"]], request)


def test_point_support_counts_what_became_of_each_scripted_point(
    tmp_path: Path, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.default = six_points
    run = evaluate(seed_corpus(tmp_path), french_only(llm_settings), "llm")
    assert [a.error for a in run.articles] == [None, None]
    figures = overall(run)["points"]
    # Per article: 6 proposed, 1 supported, 5 rejected and sent back, still rejected after
    # the retry (it answers the same), each for its own reason.
    assert figures["proposed"] == 12 and figures["supported"] == 2
    assert figures["retried"] == 10 and figures["dropped"] == 10
    assert figures["dropped_by_reason"] == {r: 0 if r == "wrong_source" else 2 for r in REASONS}
    assert figures["supported_share"] == round(1 / 6, 4)
    assert figures["dropped_share"] == round(5 / 6, 4)
    assert figures["retried_share"] == round(5 / 6, 4)
    assert figures["dropped_share_by_reason"]["words"] == round(1 / 6, 4)
    assert figures["fallback"] == 0 and figures["fallback_articles"] == 0
    assert fake_openai.calls == 4  # one retry per article

    data = to_json(run)
    first = data["articles"][0]
    assert first["point_support"]["proposed"] == 6 and first["point_support"]["supported"] == 1
    checks = {p["check"]: p for p in first["points"]}
    assert set(checks) == {"supported", *(r for r in REASONS if r != "wrong_source")}
    assert checks["supported"]["support"] and checks["no_support"]["support"] == []
    assert checks["unknown_sentence"]["support"] == ["S1:999"]
    assert "4 700" in checks["numbers"]["hint"] and "Zorglub" in checks["names"]["hint"]
    assert checks["words"]["text"] == HENS
    assert all(p["judge"] is None for p in first["points"])

    rows = figure_rows(run)
    assert rows["points proposed / retried"] == "12 / 10 (83.3% retried)"
    assert rows["points supported by their cited sentences"] == "2 (16.7%)"
    assert rows["points dropped"] == "10 (83.3%)"
    assert rows["points dropped by reason"] == ("no support 2, unknown sentence 2, wrong source "
                                                "0, numbers 2, names 2, words 2")
    console = Console(record=True, width=200)
    print_run(run, console)
    shown = console.export_text()
    assert "6/1/5/0" in shown  # the per-article points column: proposed/supported/dropped/fallback


def test_a_brief_left_with_no_point_counts_the_offline_engines_points(
    tmp_path: Path, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.default = no_good_point
    settings = french_only(llm_settings)
    run = evaluate(seed_corpus(tmp_path), settings, "llm")
    # What the offline engine gives each seed's French brief, counted on its own run.
    offline = [summarise(load_item(item, settings.fetch), settings, ExtractiveEngine(settings))
               for item in read_corpus(seed_corpus(tmp_path))]
    expected = [r.citations.points_supported for r in offline]
    assert all(n > 0 for n in expected)
    figures = overall(run)["points"]
    assert figures["supported"] == 0 and figures["dropped"] == 4
    assert figures["fallback"] == sum(expected) and figures["fallback_articles"] == 2
    assert [a.citations.points_fallback for a in run.articles] == expected
    rows = figure_rows(run)
    assert rows["points from the offline fallback"] == f"{sum(expected)} (in 2 articles)"
    # The fallback's points are delivered, so they are listed as supported.
    delivered = [p for p in run.articles[0].points if p.delivered]
    assert len(delivered) >= 1 and all(p.text != HENS for p in delivered)


def better_on_retry(request: dict[str, Any]) -> Reply:
    """First a good point and a bad one; on the retry three good points."""
    scripted = scripted_points(request)
    if not any(m["role"] == "assistant" for m in request["messages"]):
        return answer([scripted["supported"], scripted["words"]], request)
    good = [{"text": text, "support": [f"{sid}:{n}"]} for sid, n, text in usable(request)[:3]]
    return answer(good, request)


def test_shares_are_of_the_final_points_when_the_retry_brings_more(
    tmp_path: Path, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.default = better_on_retry
    figures = overall(evaluate(seed_corpus(tmp_path), french_only(llm_settings), "llm"))["points"]
    assert (figures["proposed"], figures["retried"]) == (4, 2)
    assert (figures["supported"], figures["dropped"]) == (6, 0)
    # 6 of 6 final points, not 6 of the 4 first proposed.
    assert figures["supported_share"] == 1.0 and figures["dropped_share"] == 0.0
    assert figures["retried_share"] == 0.5


def test_the_offline_engines_points_are_all_supported_on_orangesum(
    offline_settings: Settings
) -> None:
    corpus = shared_path("corpus", "orangesum", "test-first20.jsonl")
    run = evaluate(corpus, offline_settings, "extractive")
    figures = overall(run)
    assert figures["errors"] == 0
    points = figures["points"]
    assert points["proposed"] >= 40  # at least one point per brief, in French and English
    assert points["supported"] == points["proposed"] and points["supported_share"] == 1.0
    assert points["dropped"] == 0 and points["retried"] == 0 and points["fallback"] == 0
    listed = [p for a in run.articles for p in a.points]
    assert listed and all(p.check == "supported" and p.support for p in listed)
    # A sentence of the source cites itself: its numbers and names are as written there.
    faith = figures["faithfulness"]
    assert faith["numbers"]["fr"]["total"] > 0 and faith["names"]["fr"]["total"] > 0
    assert faith["numbers"]["fr"]["cited_share"] == faith["names"]["fr"]["cited_share"] == 1.0
    assert "en" not in faith["names"]  # the untranslated copy is not counted twice


def test_names_and_numbers_are_looked_up_as_written_in_the_cited_sentences() -> None:
    text = "Le Pentagone dépensera 10 milliards. Jeff Bezos conteste le contrat JEDI."
    story = Story((Document("S1", text, "fr"),))
    first, second = text.split(". ")
    one = Support("S1", 1, 0, len(first) + 1, first + ".")
    two = Support("S1", 2, len(first) + 2, len(text), second)
    fr = Brief("fr", "Contrat", (Point("Le Pentagone dépensera 10 milliards.", (one,)),), ())
    en = Brief("en", "Contract", (
        # "Pentagon" is not written in "Pentagone"; "10" is. Bezos is named, but in the other
        # sentence; "10 000" is written nowhere.
        Point("The Pentagon will spend 10 billion, says Jeff Bezos.", (one,)),
        Point("Jeff Bezos contests the 10 000 JEDI contract.", (two,)),
    ), ())
    result = Result(story, {"fr": fr, "en": en}, "llm", "m", Usage(), CitationCounts())
    signals = measure(result)
    assert (signals.numbers["fr"].total, signals.numbers["fr"].cited) == (1, 1)
    assert (signals.names["fr"].total, signals.names["fr"].cited) == (1, 1)
    numbers, names = signals.numbers["en"], signals.names["en"]
    assert (numbers.total, numbers.cited, numbers.story) == (2, 1, 1)
    # Pentagon, Jeff Bezos; Jeff Bezos, JEDI.
    assert (names.total, names.cited, names.story) == (4, 2, 3)


# --- the judge next to the check --------------------------------------------------------------

def two_points(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    scripted = scripted_points(request)
    return {"delivered": scripted["supported"], "rejected": scripted["no_support"]}


def engine_or_judge(request: dict[str, Any]) -> Reply:
    """The engine gives a point its sentence says and a true one citing nothing; the judge
    says the first is not supported and the second is: the two disagree on both."""
    points = two_points(request)
    if request["model"] != "judge-model":
        return answer(list(points.values()), request)
    assert request["response_format"]["json_schema"]["name"] == "judgement"
    listing = request["messages"][1]["content"].split("each with the sentences it cites:")[1]
    texts = re.findall(r"^(\d+)\. (.*)$", listing, re.M)
    verdict = {points["delivered"]["text"]: "not", points["rejected"]["text"]: "supported"}
    return Reply.json({"verdicts": [
        {"point": int(n), "verdict": verdict.get(text, "partly"), "reason": f"reason {n}"}
        for n, text in texts]})


def test_the_judge_matrix_counts_where_the_judge_and_the_check_disagree(
    tmp_path: Path, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    fake_openai.default = engine_or_judge
    run = evaluate(seed_corpus(tmp_path), french_only(llm_settings), "llm", judge="judge-model")
    assert [a.judge_error for a in run.articles] == [None, None]
    judge = overall(run)["judge"]
    assert judge["matrix"] == {"supported": {"supported": 0, "partly": 0, "not": 2},
                               "rejected": {"supported": 2, "partly": 0, "not": 0}}
    assert judge["rejected_by_reason"]["no_support"] == {"supported": 2, "partly": 0, "not": 0}
    assert judge["rejected_by_reason"]["words"] == {"supported": 0, "partly": 0, "not": 0}
    assert judge["disagreements"] == {"delivered_judged_not": 2, "rejected_judged_supported": 2}
    assert judge["points"] == 2 and judge["rejected_points"] == 2 and judge["not_share"] == 1.0

    # The judge read each point with the sentences it cites.
    judged = [r.json for r in fake_openai.chat_requests if r.json["model"] == "judge-model"]
    assert len(judged) == 2
    prompt = judged[0]["messages"][1]["content"]
    (sid, a, said), *_ = usable(judged[0])
    assert f"cites {sid}:{a}: «{said}»" in prompt and "cites no sentence" in prompt

    first = to_json(run)["articles"][0]
    both = {p["check"]: (p["judge"], p["judge_reason"]) for p in first["points"]}
    assert set(both) == {"supported", "no_support"}
    assert both["supported"][0] == "not" and both["no_support"][0] == "supported"
    assert all(reason.startswith("reason ") for _, reason in both.values())
    assert first["check_vs_judge"]["disagreements"] == {"delivered_judged_not": 1,
                                                        "rejected_judged_supported": 1}

    report = tmp_path / "report.md"
    write_markdown(run, report)
    text = report.read_text(encoding="utf-8")
    assert "| supported (delivered) | 0 | 0 | 2 | 2 |" in text
    assert "| rejected | 2 | 0 | 0 | 2 |" in text
    assert "| rejected: no support | 2 | 0 | 0 | 2 |" in text
    assert text.count("| rejected: no support | supported |") == 2  # the disagreements listed
    rows = figure_rows(run)
    assert rows["check and judge disagree"] == ("2 delivered judged not, 2 rejected judged "
                                                "supported")


@pytest.mark.parametrize("answered", [
    {"verdicts": [{"point": 1, "verdict": "not", "reason": "The source says otherwise."}]},
    {"verdicts": [{"point": 1, "verdict": "not"}]},  # a judge that gives no reason
])
def test_judge_verdicts_keep_their_reason(answered: dict[str, Any]) -> None:
    from briefing.evaluation.judge import Verdict, parse_verdicts

    [verdict] = parse_verdicts(json.dumps(answered), 1)
    assert verdict == Verdict("not", answered["verdicts"][0].get("reason", ""))

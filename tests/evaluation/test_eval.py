"""`briefing eval`: figures on the offline engine over OrangeSum, and on the fake LLM
when it behaves, invents quotes or truncates; errors, resume, report, command line."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from briefing.config import Settings
from briefing.errors import BadInput
from briefing.evaluation.corpus import read_corpus
from briefing.evaluation.judge import parse_verdicts
from briefing.evaluation.report import print_run, write_markdown
from briefing.evaluation.rouge import Tokenizer, rouge
from briefing.evaluation.runner import Options, Prices, Run, run_eval
from briefing.evaluation.summary import overall, percentile, to_json
from briefing.llm.answers import InvalidAnswer
from tests.conftest import SEEDS, one_line_error, orangesum, run, shared_path
from tests.fakes.briefs import brief_answer, good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply

PRICES = Prices(input=1.0, output=2.0, cached=0.5)
# Exact figures over the whole corpus are taken one article at a time: briefing/text/stems.py
# shares one Snowball stemmer between threads, so concurrent articles can get wrong stems.
SERIAL = 1
REFERENCE = "Amazon conteste en justice l'attribution du contrat JEDI du Pentagone à Microsoft."


def seed_corpus(tmp_path: Path, copies: int = 1) -> Path:
    """A JSONL corpus of the two seed articles (each `copies` times), with a reference."""
    rows = [{"id": f"seed-{n}-{i}", "text": p.read_text(encoding="utf-8"), "language": "fr",
             "reference_abstract": REFERENCE}
            for n in range(copies) for i, p in enumerate(SEEDS)]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def evaluate(corpus: Path, settings: Settings, engine: str, **options: Any) -> Run:
    items = read_corpus(corpus, options.pop("limit", None))
    return run_eval(str(corpus), items, settings, Options(engine, **options), PRICES)


# --- the offline engine over the shared OrangeSum corpus -----------------------------------

def test_offline_engine_on_orangesum_verifies_every_quote_and_scores_rouge(
    offline_settings: Settings,
) -> None:
    corpus = shared_path("corpus", "orangesum", "test-first20.jsonl")
    result = evaluate(corpus, offline_settings, "extractive", concurrency=SERIAL)
    figures = overall(result)
    assert figures["evaluated"] == len(orangesum()) == 20 and figures["errors"] == 0
    cites = figures["citations"]
    assert cites["proposed"] > 0 and cites["rejected"] == 0 and cites["repaired"] == 0
    assert cites["verified_share"] == 1.0 and cites["engine_fallbacks"] == 0
    assert figures["faithfulness"]["numbers"]["fr"]["story_share"] == 1.0
    assert figures["faithfulness"]["language_ok_share"]["fr"] == 1.0
    scores = figures["rouge"]
    assert scores["articles"] == 20
    for system in ("offline", "lead2"):
        assert 10 < scores[system]["rouge1"] < 60 and scores[system]["rouge2"] > 0
        assert scores[system]["rouge2"] < scores[system]["rouge1"]
    assert figures["cost"]["calls"] == 0 and figures["cost"]["price_usd"] == 0


def test_json_output_has_the_overall_figures_and_one_entry_per_article(
    tmp_path: Path, offline_settings: Settings
) -> None:
    data = to_json(evaluate(seed_corpus(tmp_path), offline_settings, "extractive"))
    json.dumps(data)  # JSON-ready
    assert data["engine"] == "extractive" and data["model"] is None
    assert set(data["overall"]) == {"articles", "evaluated", "errors", "citations", "points",
                                    "faithfulness", "rouge", "cost", "judge"}
    assert {"verified_share", "quotes_per_brief", "fallback_share"} <= set(
        data["overall"]["citations"])
    assert {"tokens_per_article_token", "latency_seconds", "wall_seconds"} <= set(
        data["overall"]["cost"])
    assert [a["id"] for a in data["articles"]] == ["seed-0-0", "seed-0-1"]
    first = data["articles"][0]
    assert first["error"] is None and first["citations"]["rejected"] == 0
    assert set(first["rouge"]) == {"brief", "offline", "lead2"}
    assert first["usage"]["calls"] == 0 and first["article_tokens"] > 0


# --- the LLM engine on the fake server ------------------------------------------------------

def inventing(request: dict[str, Any]) -> Reply:
    """A model that makes its quotes up."""
    invented = {"text": "Le ministre a affirmé que ce contrat ne posait aucun problème.",
                "source": "S1", "translation": None}
    answer = brief_answer(request)
    for brief in answer.values():
        brief["quotes"] = [invented, dict(invented, text="Microsoft a remporté le marché "
                                          "sans aucune contestation de la part de quiconque.")]
    return Reply.json(answer)


def truncating(request: dict[str, Any]) -> Reply:
    """A model whose answers are cut off at the length limit."""
    return Reply.content(good_answer(request)[:60], finish_reason="length")


def behaving(request: dict[str, Any]) -> Reply:
    return Reply.content(good_answer(request))


def test_figures_move_the_expected_way_when_the_model_invents_or_truncates(
    tmp_path: Path, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    corpus = seed_corpus(tmp_path)
    figures = {}
    for name, reply in (("good", behaving), ("invents", inventing), ("truncates", truncating)):
        fake_openai.default = reply
        figures[name] = overall(evaluate(corpus, llm_settings, "llm"))
    good, invents, cut = (figures[k]["citations"] for k in ("good", "invents", "truncates"))
    assert good["verified_share"] == 1.0 and good["rejected"] == 0
    assert good["fallback_share"] == 0.0 and good["engine_fallbacks"] == 0
    assert invents["verified_share"] < good["verified_share"]
    assert invents["rejected"] > good["rejected"]
    assert invents["fallback_share"] > good["fallback_share"]
    assert cut["fallback_share"] > good["fallback_share"] and cut["engine_fallbacks"] == 2
    cost = figures["good"]["cost"]
    assert cost["calls"] == 2 and cost["prompt_tokens"] > 0 and cost["completion_tokens"] > 0
    assert cost["tokens_per_article_token"] > 1 and cost["price_usd"] > 0
    assert cost["latency_seconds"]["p50"] is not None
    assert figures["invents"]["cost"]["calls"] == 4  # one retry round per article
    assert figures["truncates"]["cost"]["calls"] == 4  # one repair round per article


def test_a_second_run_with_the_same_cache_makes_no_new_llm_call(
    tmp_path: Path, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    corpus, cache = seed_corpus(tmp_path), tmp_path / "cache.sqlite"
    fake_openai.default = inventing  # with retries: the replayed conversations must match too
    first = overall(evaluate(corpus, llm_settings, "llm", cache=cache))
    paid = fake_openai.calls
    assert paid == 4 and first["cost"]["resumed_calls"] == 0
    second = overall(evaluate(corpus, llm_settings, "llm", cache=cache))
    assert fake_openai.calls == paid
    assert second["cost"]["resumed_calls"] == second["cost"]["calls"] == 4
    assert second["citations"] == first["citations"]
    for key in ("prompt_tokens", "completion_tokens", "price_usd"):
        assert second["cost"][key] == first["cost"][key]


def test_llm_calls_in_flight_never_exceed_the_concurrency(
    tmp_path: Path, fake_openai: FakeOpenAI, llm_settings: Settings
) -> None:
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def slow(request: dict[str, Any]) -> Reply:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return behaving(request)

    fake_openai.default = slow
    result = evaluate(seed_corpus(tmp_path, copies=3), llm_settings, "llm", concurrency=2)
    assert overall(result)["evaluated"] == 6 and fake_openai.calls == 6
    assert state["max"] <= 2


def test_the_judge_gives_a_verdict_per_point(
    tmp_path: Path, fake_openai: FakeOpenAI, offline_settings: Settings, llm_settings: Settings
) -> None:
    def judge(request: dict[str, Any]) -> Reply:
        assert request["response_format"]["json_schema"]["name"] == "judgement"
        listing = request["messages"][1]["content"].split("to check against")[1]
        points = len(re.findall(r"^\d+\. ", listing, re.M))
        verdicts = ["supported", "partly", "not"] * 3
        return Reply.json({"verdicts": [{"point": i, "verdict": verdicts[i - 1], "reason": "."}
                                        for i in range(1, points + 1)]})

    fake_openai.default = judge
    settings = offline_settings.model_copy(update={"llm": llm_settings.llm})
    result = evaluate(seed_corpus(tmp_path), settings, "extractive", judge="judge-model")
    figures = overall(result)["judge"]
    assert [a.judge_error for a in result.articles] == [None, None]
    assert figures["errors"] == 0 and figures["points"] > 0
    assert figures["supported_share"] > 0 and figures["not_share"] is not None
    assert fake_openai.calls == 2  # the French brief of each article (the English one is a notice)
    assert fake_openai.last_request.json["model"] == "judge-model"
    assert overall(result)["cost"]["judge"]["calls"] == 2


def test_judge_answers_must_have_one_known_verdict_per_point() -> None:
    ok = json.dumps({"verdicts": [{"point": 2, "verdict": "not", "reason": ""},
                                  {"point": 1, "verdict": "supported", "reason": ""}]})
    assert [v.verdict for v in parse_verdicts(ok, 2)] == ["supported", "not"]
    for bad in ("{", '{"verdicts": [{"point": 1, "verdict": "maybe"}]}', ok):
        with pytest.raises(InvalidAnswer):
            parse_verdicts(bad, 1 if "maybe" in bad else 3)


# --- bad articles, the report, the command line ----------------------------------------------

def test_bad_articles_are_errors_with_their_reason_and_the_run_goes_on(
    tmp_path: Path, offline_settings: Settings
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a-good.txt").write_bytes(SEEDS[0].read_bytes())
    (folder / "a-good.ref.txt").write_text(REFERENCE, encoding="utf-8")
    (folder / "b-empty.txt").write_text("  \n", encoding="utf-8")
    (folder / "c-undecodable.txt").write_bytes(b"\x81\x8d\x8f\x90\x9d" * 40)
    (folder / "d-picture.png").write_bytes(b"\x89PNG\r\n")
    (folder / "e-good.md").write_bytes(SEEDS[1].read_bytes())
    result = evaluate(folder, offline_settings, "extractive")
    errors = {a.id: a.error for a in result.articles}
    assert errors["a-good.txt"] is None and errors["e-good.md"] is None
    assert "empty" in (errors["b-empty.txt"] or "")
    assert "undecodable" in (errors["c-undecodable.txt"] or "")
    assert "unsupported file type" in (errors["d-picture.png"] or "")
    figures = overall(result)
    assert figures["errors"] == 3 and figures["evaluated"] == 2
    assert figures["rouge"]["articles"] == 1  # only a-good.txt has a reference


def test_bad_jsonl_lines_are_errors_too(tmp_path: Path, offline_settings: Settings) -> None:
    path = tmp_path / "corpus.jsonl"
    good = json.dumps({"id": "ok", "text": SEEDS[0].read_text(encoding="utf-8")})
    path.write_text("\n".join([good, "{broken", json.dumps({"id": "e", "text": ""}),
                               json.dumps({"id": "nothing"})]), encoding="utf-8")
    result = evaluate(path, offline_settings, "extractive")
    errors = [a.error for a in result.articles]
    assert errors[0] is None and "invalid JSON" in (errors[1] or "")
    assert "empty" in (errors[2] or "") and "no text, html or url" in (errors[3] or "")
    assert evaluate(path, offline_settings, "extractive", limit=1).articles[0].id == "ok"


def test_a_missing_or_empty_corpus_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such corpus"):
        read_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(BadInput, match="no article"):
        read_corpus(tmp_path / "empty.jsonl")


def test_markdown_report_with_its_chart(tmp_path: Path, offline_settings: Settings) -> None:
    from rich.console import Console

    result = evaluate(seed_corpus(tmp_path), offline_settings, "extractive")
    chart = write_markdown(result, tmp_path / "out" / "report.md")
    text = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert chart == tmp_path / "out" / "report.png"
    assert chart.read_bytes().startswith(b"\x89PNG") and "](report.png)" in text
    assert "| lead-2 |" in text and "seed-0-1" in text and "verified exactly" in text
    console = Console(record=True, width=100)
    print_run(result, console)
    shown = console.export_text()
    assert "lead-2" in shown and "seed-0-0" in shown


def test_french_tokeniser_splits_elisions_folds_accents_and_stems() -> None:
    assert Tokenizer("fr").tokenize("L'État, l'article") == ["l", "etat", "l", "articl"]
    assert rouge("l'Etat français", "L'État français", "fr")["rouge1"] == 100.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([], 90) is None


def test_eval_command_prints_json_and_writes_the_report(tmp_path: Path) -> None:
    corpus = seed_corpus(tmp_path)
    proc = run("eval", str(corpus), "--engine", "extractive", "--json", "--out",
               str(tmp_path / "r" / "report.md"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["overall"]["evaluated"] == 2 and data["overall"]["citations"]["rejected"] == 0
    assert data["overall"]["points"]["supported_share"] == 1.0
    points = data["articles"][0]["points"]
    assert points and all(p["check"] == "supported" and p["judge"] is None for p in points)
    assert all(re.fullmatch(r"S1:\d+", ref) for p in points for ref in p["support"])
    assert (tmp_path / "r" / "report.md").is_file() and (tmp_path / "r" / "report.png").is_file()
    assert not (tmp_path / "r" / "eval-cache.sqlite").exists()  # no LLM, no cache


def test_eval_command_on_a_missing_corpus_is_a_one_line_error(tmp_path: Path) -> None:
    one_line_error(run("eval", str(tmp_path / "missing.jsonl"), cwd=tmp_path), 2,
                   "no such corpus")


# --- how the offline brief reads ------------------------------------------------------------

def test_offline_brief_meets_the_quality_bar_on_orangesum(offline_settings: Settings) -> None:
    from briefing.evaluation.report import overall_rows

    corpus = shared_path("corpus", "orangesum", "test-first20.jsonl")
    figures = overall(evaluate(corpus, offline_settings, "extractive", concurrency=SERIAL))
    scores, faith = figures["rouge"], figures["faithfulness"]
    rows = {row[0]: row[1] for row in overall_rows(figures)}
    assert rows["points ending with an ellipsis"].startswith("0 of ")
    assert rows["quotes with unbalanced quotation marks"].startswith("0 of ")
    for metric in ("rouge1", "rougeL"):
        assert scores["offline"][metric] >= scores["lead2"][metric], metric
    assert faith["points"] > 20 and faith["points_ellipsis"] == 0
    assert faith["quotes_checked"] > 40 and faith["quotes_unbalanced_share"] <= 0.02


def test_cut_points_and_unbalanced_quotes_are_counted() -> None:
    from briefing.briefs.models import Brief, CitationCounts, Point, Quote, Result
    from briefing.evaluation.signals import measure
    from briefing.llm.usage import Usage
    from briefing.sources.models import Document, Story

    text = ("Le maire a parlé « d'un vote historique » mardi. "
            "Pour lui, « cette séquence normalise un comportement. Puis il est parti.")
    story = Story((Document("S1", text, "fr"),))
    whole = Quote("Le maire a parlé « d'un vote historique » mardi.", "S1", 0, 48)
    start = text.index("« cette")
    half = Quote(text[start : start + 30], "S1", start, start + 30)
    brief = Brief("fr", "Le maire parle",
                  (Point("Un point entier.", ()), Point("Un point coupé au milieu…", ())),
                  (whole, half))
    copy = Brief("en", brief.headline, brief.points, brief.quotes, original_language="fr")
    result = Result(story, {"fr": brief, "en": copy}, "extractive", None, Usage(),
                    CitationCounts())
    signals = measure(result)
    # The untranslated copy repeats the French brief: it is not counted twice.
    assert (signals.points, signals.points_ellipsis) == (2, 1)
    assert (signals.quotes_checked, signals.quotes_unbalanced) == (2, 1)
    assert signals.language_ok["en"] == signals.language_ok["fr"]


def test_judge_verdicts_in_a_markdown_fence_are_read() -> None:
    from briefing.evaluation.judge import parse_verdicts

    fenced = '```json\n{"verdicts": [{"point": 1, "verdict": "supported"}]}\n```'
    assert [v.verdict for v in parse_verdicts(fenced, 1)] == ["supported"]

"""Story clustering: near-duplicates, the same-event rule, assign, and the labelled set."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from briefing.sources.extract import extract
from briefing.stories.assign import assign, same_event, same_story
from briefing.stories.signature import Signature, near_duplicate, signature
from tests.conftest import ROOT, SEEDS, orangesum

LABELLED = ROOT / "bench" / "data" / "clusters.jsonl"
DAY = datetime(2020, 5, 29, 9, 0, tzinfo=UTC)

RENAULT_FR = (
    "Le constructeur automobile Renault a annoncé vendredi la suppression d'environ 15.000 postes "
    "dans le monde, dont 4.600 en France, dans le cadre d'un plan d'économies de plus de deux "
    "milliards d'euros sur trois ans. Le président du groupe, Jean-Dominique Senard, a assuré "
    "qu'il n'y aurait aucun licenciement sec. L'usine de Flins, dans les Yvelines, cessera "
    "d'assembler des voitures, tandis que le site de Choisy-le-Roi sera transféré. « Ce projet "
    "est vital », a déclaré la directrice générale par intérim, Clotilde Delbos. Les syndicats "
    "dénoncent un plan « brutal » et appellent à la mobilisation."
)
RENAULT_EN = (
    "French carmaker Renault said on Friday it would cut around 15,000 jobs worldwide, including "
    "4,600 in France, as part of a plan to save more than 2 billion euros over three years. "
    "Chairman Jean-Dominique Senard said there would be no forced redundancies. The Flins plant "
    "west of Paris will stop assembling cars and the Choisy-le-Roi site will be moved. \"This "
    "project is vital,\" interim chief executive Clotilde Delbos said. Unions called the plan "
    "brutal and urged workers to protest."
)
MACRON_VISIT = (
    "Emmanuel Macron a reçu lundi la chancelière allemande Angela Merkel au fort de Brégançon, "
    "dans le Var, pour préparer le sommet du G7 de Biarritz. Les deux dirigeants ont évoqué le "
    "Brexit, l'Iran et les incendies en Amazonie. « Nous partageons la même ambition pour "
    "l'Europe », a déclaré la chancelière devant la presse."
)
MACRON_PENSIONS = (
    "Emmanuel Macron a défendu lundi soir à Rodez, dans l'Aveyron, sa réforme des retraites "
    "devant quelque 500 personnes lors d'un débat de plus de deux heures. Le chef de l'État a "
    "plaidé pour un système universel par points et écarté tout report de l'âge légal. Le "
    "haut-commissaire Jean-Paul Delevoye doit rendre ses conclusions à la rentrée."
)
TRUMP_TRADE = (
    "President Donald Trump said on Tuesday he would delay tariffs on some Chinese goods, "
    "including laptops and mobile phones, until December 15, easing fears for the holiday "
    "shopping season. Stocks rallied after the announcement."
)
TRUMP_GREENLAND = (
    "President Donald Trump confirmed on Sunday that he was interested in buying Greenland, "
    "calling it a large real estate deal, but said it was not a priority. Denmark's prime "
    "minister Mette Frederiksen called the idea absurd."
)


def sig(text: str, title: str | None = None, language: str = "fr",
        published: datetime | None = DAY) -> Signature:
    """A signature with the defaults of these tests."""
    return signature(text, title, language, published)


def repost(text: str) -> str:
    """A re-post: outlet boilerplate around the text, one sentence dropped, guillemets changed."""
    sentences = text.split(". ")
    del sentences[2]
    body = ". ".join(sentences).replace("« ", '"').replace(" »", '"')
    return f"Par La Rédaction avec AFP\n\n{body}\n\nSuivez toute l'actualité sur Facebook."


# ---------------------------------------------------------------- the seeds


def test_the_two_seeds_are_one_story() -> None:
    first, second = (extract(p.read_bytes(), name=p.name) for p in SEEDS)
    a = sig(first.text, first.title, first.language, datetime(2020, 2, 10, 20, tzinfo=UTC))
    b = sig(second.text, second.title, second.language, datetime(2020, 2, 11, 9, tzinfo=UTC))
    assert same_story(a, b)
    assert assign(b, {7: [a]}) == 7


def test_the_seeds_are_one_story_without_dates() -> None:
    first, second = (extract(p.read_bytes(), name=p.name) for p in SEEDS)
    assert same_story(sig(first.text, published=None), sig(second.text, published=None))


# ---------------------------------------------------------------- near-duplicates


def test_a_repost_with_another_title_is_a_near_duplicate() -> None:
    original = sig(RENAULT_FR, "Renault va supprimer 15.000 postes")
    copy = sig(repost(RENAULT_FR), "Plan d'économies : Renault taille dans ses effectifs",
               published=DAY + timedelta(hours=5))
    assert near_duplicate(original, copy)
    assert same_story(original, copy)


def test_different_articles_are_not_near_duplicates() -> None:
    assert not near_duplicate(sig(RENAULT_FR), sig(MACRON_PENSIONS))


def test_empty_texts_are_not_near_duplicates() -> None:
    assert not near_duplicate(sig(""), sig(""))


def test_an_unrelated_orangesum_pair_is_not_one_story() -> None:
    rows = {row["id"]: row for row in _labelled()}
    a, b = rows["os-7"], rows["os-17"]  # two Covid-19 articles published a day apart
    sa, sb = (sig(r["text"], r["title"], r["language"], _date(r)) for r in (a, b))
    assert not near_duplicate(sa, sb)
    assert not same_story(sa, sb)


def test_no_two_orangesum_articles_are_one_story_even_without_dates() -> None:
    sigs = [sig(article["text"], published=None) for article in orangesum()]
    merged = [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(sigs), 2)
              if same_story(a, b)]
    assert merged == []


# ---------------------------------------------------------------- same event


def test_a_french_article_and_its_english_version_are_the_same_event() -> None:
    french = sig(RENAULT_FR, "Renault va supprimer 15.000 postes dans le monde")
    english = sig(RENAULT_EN, "Renault to cut 15,000 jobs worldwide", "en",
                  DAY + timedelta(hours=3))
    assert not near_duplicate(french, english)
    same, reason = same_event(french, english)
    assert same, reason
    assert assign(english, {1: [sig(MACRON_PENSIONS)], 2: [french]}) == 2


def test_numbers_match_across_thousands_and_decimal_marks() -> None:
    assert "15000" in sig(RENAULT_FR).numbers
    assert "15000" in sig(RENAULT_EN, language="en").numbers
    assert sig("Un bilan de 1,5 %", language="fr").numbers == sig("a 1.5% toll").numbers


def test_years_clock_times_and_small_numbers_are_not_evidence() -> None:
    numbers = sig("En 2019, vers 21H00 et à 3:30 am, 7 pompiers du Codis 28 et 250 voitures.")
    assert numbers.numbers == ("250",)


def test_names_fold_simple_variants_across_languages() -> None:
    french = sig("Le Pentagone a choisi Microsoft, selon Israël et l'OCDE.")
    english = sig("The Pentagon chose Microsoft, Israel and the OECD said.", language="en")
    assert {"pentagon", "microsoft", "israel", "oecd"} <= set(french.names) & set(english.names)


def test_two_stories_sharing_one_famous_name_are_not_one_story() -> None:
    same, reason = same_event(sig(MACRON_VISIT), sig(MACRON_PENSIONS))
    assert not same
    assert "not enough" in reason
    assert not same_story(sig(TRUMP_TRADE, language="en"), sig(TRUMP_GREENLAND, language="en"))


def test_shared_first_names_do_not_count() -> None:
    a = sig("David Pecker et Mark Esper ont parlé à Jeff Bezos et Laurent Fabius à Lyon.")
    b = sig("David Geffen et Mark Ruffalo ont parlé à Jeff Koons et Laurent Wauquiez à Lyon.")
    assert not same_event(a, b)[0]


def test_the_time_window_blocks_a_similar_pair_ten_days_apart() -> None:
    french = sig(RENAULT_FR)
    later = sig(RENAULT_EN, language="en", published=DAY + timedelta(days=10))
    same, reason = same_event(french, later)
    assert not same
    assert "72 h" in reason
    assert not same_story(french, later)
    assert same_event(french, sig(RENAULT_EN, language="en", published=None))[0]


# ---------------------------------------------------------------- signature and assign


def test_signature_json_round_trip() -> None:
    original = sig(RENAULT_FR, "Renault va supprimer 15.000 postes")
    data = json.loads(json.dumps(original.to_json()))
    assert data["published"] == "2020-05-29T09:00:00+00:00"
    assert Signature.from_json(data) == original
    assert len(original.minhash) == 64


def test_signature_json_round_trip_without_a_date() -> None:
    original = sig(RENAULT_EN, language="en", published=None)
    assert Signature.from_json(json.loads(json.dumps(original.to_json()))) == original


def test_naive_dates_are_taken_as_utc() -> None:
    naive = sig(RENAULT_FR, published=datetime(2020, 5, 29, 9, 0))
    assert naive.published == DAY


def test_assign_returns_none_for_no_stories_or_no_match() -> None:
    article = sig(RENAULT_FR)
    assert assign(article, {}) is None
    assert assign(article, {3: [sig(MACRON_VISIT)], 4: []}) is None


def test_assign_prefers_the_near_duplicate() -> None:
    article = sig(RENAULT_FR)
    stories = {1: [sig(RENAULT_EN, language="en")], 2: [sig(repost(RENAULT_FR))]}
    assert assign(article, stories) == 2


# ---------------------------------------------------------------- the labelled set


def _labelled(path: Path = LABELLED) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[dict[str, str]] = [json.loads(line) for line in lines if line.strip()]
    return rows


def _date(row: dict[str, str]) -> datetime | None:
    return datetime.fromisoformat(row["published"]) if row.get("published") else None


def _precision_recall(truth: list[bool], predicted: list[bool]) -> tuple[float, float]:
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    return tp / max(sum(predicted), 1), tp / max(sum(truth), 1)


@pytest.fixture(scope="module")
def labelled() -> tuple[list[dict[str, str]], list[Signature]]:
    """The labelled rows and their signatures."""
    rows = _labelled()
    return rows, [sig(r["text"], r["title"], r["language"], _date(r)) for r in rows]


def test_labelled_set_is_big_enough(labelled: tuple[list[dict[str, str]], list[Signature]]) -> None:
    rows, _ = labelled
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row["story"]] = sizes.get(row["story"], 0) + 1
    assert len(rows) >= 60
    assert sum(n > 1 for n in sizes.values()) >= 20
    assert {r["language"] for r in rows} == {"fr", "en"}


def test_labelled_set_pairwise_precision_and_recall(
    labelled: tuple[list[dict[str, str]], list[Signature]],
) -> None:
    rows, sigs = labelled
    pairs = list(itertools.combinations(range(len(rows)), 2))
    truth = [rows[i]["story"] == rows[j]["story"] for i, j in pairs]
    predicted = [same_story(sigs[i], sigs[j]) for i, j in pairs]
    precision, recall = _precision_recall(truth, predicted)
    assert precision >= 0.95
    assert recall >= 0.85


def test_labelled_set_greedy_clustering(
    labelled: tuple[list[dict[str, str]], list[Signature]],
) -> None:
    rows, sigs = labelled
    stories: dict[int, list[Signature]] = {}
    cluster: dict[int, int] = {}
    for i in sorted(range(len(rows)), key=lambda i: (rows[i]["published"], i)):
        found = assign(sigs[i], stories)
        if found is None:
            found = len(stories)
        stories.setdefault(found, []).append(sigs[i])
        cluster[i] = found
    pairs = list(itertools.combinations(range(len(rows)), 2))
    truth = [rows[i]["story"] == rows[j]["story"] for i, j in pairs]
    predicted = [cluster[i] == cluster[j] for i, j in pairs]
    precision, recall = _precision_recall(truth, predicted)
    assert precision >= 0.95
    assert recall >= 0.85

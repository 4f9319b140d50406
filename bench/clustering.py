"""Story clustering quality on the labelled set `bench/data/clusters.jsonl`.

Targets: pairwise "same story" precision >= 0.95 and recall >= 0.85.

Every pair of labelled articles is a "same story" pair when both carry the same
`story` label. Two figures are computed over all pairs:

* pairwise: `same_story(a, b)` on every pair, as a classifier of pairs;
* greedy: incremental clustering as the application does it, articles in
  published order, each joining the story `assign` returns (or a new one);
  a pair is predicted "same story" when both end in the same cluster.

The other rows are context, not targets: the pairs that involve a held-out
article (15 rows written after the rule was frozen, see bench/data/README.md),
the cross-language pairs, near-duplicate and same-event matches on their own,
and the two figures again with every publication date removed, so that only
the content decides. Misclassified pairs are listed with the rule's reason.
Also printed: the median time per `signature` and per `assign` call.

Run: .venv/bin/python -m bench.clustering           (reads only the labelled file, ~2 s)
     .venv/bin/python -m bench.clustering --build   (rewrites it from ../shared/corpus,
                                                      keeping the hand-written rows)
(`--quick` is accepted like everywhere, and changes nothing: the set is small.)
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import CORPUS
from bench.harness import (
    ROOT,
    context,
    finish,
    median,
    parser,
    print_context,
    print_table,
    result_name,
    timed,
    yes_no,
)
from briefing.errors import ExtractionError
from briefing.sources.extract import extract
from briefing.stories.assign import assign, same_event, same_story
from briefing.stories.signature import Signature, near_duplicate, signature
from briefing.text.sentences import split_sentences

LABELLED = ROOT / "bench" / "data" / "clusters.jsonl"
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.85

# ---------------------------------------------------------------- the labelled set


@dataclass(frozen=True)
class Row:
    """One labelled article."""

    id: str
    language: str
    title: str | None
    text: str
    published: datetime | None
    story: str
    split: str = "tune"

    @classmethod
    def of(cls, data: dict[str, Any]) -> Row:
        """A row from its JSON object."""
        when = data.get("published")
        return cls(data["id"], data["language"], data.get("title"), data["text"],
                   datetime.fromisoformat(when) if when else None, data["story"],
                   data.get("split", "tune"))


def load_rows(path: Path = LABELLED) -> list[Row]:
    """The labelled articles, in file order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Row.of(json.loads(line)) for line in lines if line.strip()]


# ---------------------------------------------------------------- building it (--build)

# Our titles and plausible publication dates for the 20 OrangeSum articles (UTC).
ORIGINALS: dict[int, tuple[str, str]] = {
    0: ("Nouilles dans le slip : Bruno Donnet dénonce « l'abjection » de TPMP", "2017-05-20T10:00"),
    1: ("FO : 126 responsables fichés par des proches de Pascal Pavageau", "2018-10-10T08:30"),
    2: ("États-Unis : des bagarres d'adolescents sèment la panique dans les centres commerciaux",
        "2016-12-27T09:00"),
    3: ("François Hollande annonce la mort de son père, confiné dans un Ehpad", "2020-04-07T11:00"),
    4: ("Simone Veil au Panthéon : Nicolas Sarkozy salue « une héroïne du XXe siècle »",
        "2018-07-01T07:00"),
    5: ("Coronavirus : les premiers rapatriés de Wuhan quittent Carry-le-Rouet",
        "2020-02-14T12:00"),
    6: ("L'Iran exécute un homme accusé d'espionnage pour les États-Unis et Israël",
        "2020-07-20T10:00"),
    7: ("L'état d'urgence sanitaire ne sera pas prolongé au-delà du 10 juillet",
        "2020-06-09T16:00"),
    8: ("Mort de Toni Morrison, prix Nobel de littérature, à 88 ans", "2019-08-06T09:00"),
    9: ("Financement libyen : Thierry Gaubert, proche de Nicolas Sarkozy, mis en examen",
        "2020-02-03T15:00"),
    10: ("Emmanuel Macron a rendu visite à Jacques Chirac cet été", "2017-09-12T09:00"),
    11: ("Affaire Maëlys : le frère de Nordahl Lelandais croit à « deux accidents »",
         "2018-12-17T08:00"),
    12: ("Zidane salue le « parcours exceptionnel » des Parisiens", "2020-08-19T14:00"),
    13: ("Gilets jaunes : ce qu'il faut attendre de l'acte 8", "2019-01-04T18:00"),
    14: ("Bernard Tapie, combatif face au cancer, au concours d'éloquence des avocats",
         "2020-09-08T10:00"),
    15: ("A10 : des automobilistes bloqués toute la nuit après l'incendie d'un poids lourd",
         "2020-01-21T09:30"),
    16: ("Paris : un jeune homme en trottinette électrique tué dans une collision",
         "2019-06-11T10:00"),
    17: ("Covid-19 : l'OCDE prévoit une récession d'au moins 6 % en 2020", "2020-06-10T17:00"),
    18: ("Nordahl Lelandais en garde à vue pour une agression sexuelle sur une cousine",
         "2020-02-07T19:00"),
    19: ("Orages et pluies : 16 départements en vigilance orange", "2020-06-12T11:00"),
}

HEADERS = {
    "afp": "(AFP) -",
    "redac": "Par La Rédaction avec AFP | Publié le {when:%d/%m/%Y} à {when:%Hh%M}",
    "20min": "20 Minutes avec agence",
    "actu": "ACTUALITÉ | Mis à jour le {when:%d.%m.%Y}",
}
FOOTERS = {
    "follow": "Suivez toute l'actualité sur notre fil Facebook et Twitter.",
    "copy": "© AFP. Tous droits de reproduction et de représentation réservés.",
    "read": "À lire aussi : notre dossier complet.",
    "news": "Recevez chaque matin l'essentiel de l'actualité avec notre newsletter.",
}
EDITS = (("a indiqué", "a fait savoir"), ("a précisé", "a souligné"), ("a expliqué", "a détaillé"),
         ("a déclaré", "a affirmé"), ("selon", "d'après"), ("Selon", "D'après"))


@dataclass(frozen=True)
class Repost:
    """How a re-posted variant differs from its OrangeSum original."""

    index: int
    variant: str
    title: str
    hours: int
    header: str
    footer: str
    drop: bool = True  # drop the middle sentence
    guillemets: bool = False  # "..." -> « ... »


REPOSTS = (
    Repost(0, "a", "TPMP : la séquence des nouilles jugée « abjecte » par un journaliste", 20,
           "actu", "follow"),
    Repost(1, "a", "Force ouvrière : le fichier qui embarrasse Pascal Pavageau", 6, "afp", "copy",
           drop=False, guillemets=True),
    Repost(3, "a", "Le père de François Hollande est mort dans son Ehpad", 4, "redac", "read"),
    Repost(4, "a", "Panthéon : l'hommage de Nicolas Sarkozy à Simone Veil", 3, "20min", "news",
           guillemets=True),
    Repost(5, "a", "Quarantaine à Carry-le-Rouet : 181 rapatriés libérés", 2, "afp", "copy",
           drop=False, guillemets=True),
    Repost(5, "b", "Fin de la quarantaine pour les premiers rapatriés de Chine", 26, "redac",
           "follow"),
    Repost(7, "a", "Covid-19 : fin de l'état d'urgence sanitaire le 10 juillet", 1, "afp", "copy"),
    Repost(7, "b", "Matignon annonce une sortie progressive de l'état d'urgence", 30, "actu",
           "news", guillemets=True),
    Repost(9, "a", "Libye : un proche de Sarkozy mis en examen", 5, "20min", "read", drop=False),
    Repost(10, "a", "Jacques Chirac a offert un portrait du général de Gaulle à Emmanuel Macron", 8,
           "redac", "follow", guillemets=True),
    Repost(11, "a", "Maëlys : pour son frère, Nordahl Lelandais n'est « pas un tueur froid »", 10,
           "actu", "copy"),
    Repost(13, "a", "Acte 8 des gilets jaunes : les rassemblements prévus samedi", 14, "redac",
           "news", guillemets=True),
    Repost(14, "a", "Bernard Tapie : « vos cellules cancéreuses s'en foutent »", 12, "redac",
           "follow"),
    Repost(15, "a", "Nuit de galère pour des centaines d'automobilistes sur l'A10", 4, "actu",
           "read"),
    Repost(16, "a", "Trottinette électrique : un mort à Paris après une collision", 3, "20min",
           "follow"),
    Repost(18, "a", "Nordahl Lelandais entendu pour l'agression présumée d'une petite cousine", 2,
           "afp", "copy", guillemets=True),
)

# file name, row id, story, published (UTC)
HTML_PAGES = (
    ("franceculture.fr.idees.html", "html-franceculture", "html-franceculture", "2020-01-14T07:00"),
    ("nationalgeographic.co.uk.goats.html", "html-goats", "html-goats", "2020-01-06T12:00"),
    ("reuters.com.parasite.html", "html-parasite", "html-parasite", "2020-01-20T06:00"),
)
SEEDS = (
    ("000_42c6c87a2fe0d3f2.txt", "seed-000", "2020-02-10T20:00"),
    ("001_e65f6cd78ecb6eaa.txt", "seed-001", "2020-02-11T09:00"),
)


def _row(id_: str, language: str, title: str | None, text: str, published: str, story: str,
         provenance: str) -> dict[str, Any]:
    when = datetime.fromisoformat(published).replace(tzinfo=None).isoformat() + "+00:00"
    return {"id": id_, "language": language, "title": title, "text": text, "published": when,
            "story": story, "provenance": provenance}


def reposted(text: str, spec: Repost, when: datetime) -> str:
    """The re-posted variant: boilerplate header and footer, a sentence dropped, light edits."""
    if spec.drop:
        spans = split_sentences(text)
        if len(spans) > 2:
            middle = spans[len(spans) // 2]
            text = text[: middle.start] + text[middle.end :].lstrip()
    edits = [(old, new) for old, new in EDITS if old in text][:3]
    for old, new in edits:
        text = text.replace(old, new)
    if spec.guillemets:
        text = re.sub(r'"([^"]*)"', r"« \1 »", text)
    header = HEADERS[spec.header].format(when=when)
    return f"{header}\n\n{text}\n\n{FOOTERS[spec.footer]}"


def build_orangesum() -> list[dict[str, Any]]:
    """The 20 OrangeSum originals and their re-posted variants."""
    path = CORPUS / "orangesum" / "test-first20.jsonl"
    articles = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows = []
    for index, (title, published) in ORIGINALS.items():
        art = articles[index]
        rows.append(_row(f"os-{index}", "fr", title, art["text"], published, f"os-{index}",
                         "orangesum"))
    for spec in REPOSTS:
        base = datetime.fromisoformat(ORIGINALS[spec.index][1]) + timedelta(hours=spec.hours)
        text = reposted(articles[spec.index]["text"], spec, base)
        rows.append(_row(f"os-{spec.index}-repost-{spec.variant}", "fr", spec.title, text,
                         base.isoformat(), f"os-{spec.index}", "orangesum-repost"))
    return rows


def build_pages() -> list[dict[str, Any]]:
    """The HTML pages that extract (one raises ExtractionError: skipped) and the two seeds."""
    rows = []
    for name, id_, story, published in HTML_PAGES:
        try:
            got = extract((CORPUS / "html" / name).read_bytes(), name=name)
        except ExtractionError:
            continue
        rows.append(_row(id_, got.language, got.title, got.text, published, story, "html"))
    for name, id_, published in SEEDS:
        got = extract((ROOT / "tests" / "fixtures" / name).read_bytes(), name=name)
        rows.append(_row(id_, got.language, got.title, got.text, published, "seed-jedi", "seed"))
    return rows


def build(path: Path = LABELLED) -> int:
    """Rewrite the labelled file: corpus-derived rows rebuilt, hand-written rows kept."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    hand = [json.loads(line) for line in lines if line.strip()]
    hand = [row for row in hand if row.get("provenance") == "hand"]
    rows = [*build_orangesum(), *build_pages(), *hand]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return len(rows)


# ---------------------------------------------------------------- scoring


@dataclass
class PairCounts:
    """Pairwise confusion counts for "same story"."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, predicted: bool) -> None:
        """Count one pair."""
        if truth and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        """TP / (TP + FP), 1 when nothing is predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN), 1 when there is nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def as_dict(self) -> dict[str, float | int]:
        """The counts and the two ratios."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4)}


@dataclass(frozen=True)
class Outcome:
    """One pair of labelled articles: the truth and the prediction."""

    i: int
    j: int
    truth: bool
    predicted: bool


def outcomes(rows: Sequence[Row], predict: Callable[[int, int], bool]) -> list[Outcome]:
    """Truth and prediction for every pair of rows."""
    return [Outcome(i, j, rows[i].story == rows[j].story, predict(i, j))
            for i, j in itertools.combinations(range(len(rows)), 2)]


def count(pairs: Sequence[Outcome], keep: Callable[[Outcome], bool] = lambda o: True) -> PairCounts:
    """Confusion counts over the kept pairs."""
    counts = PairCounts()
    for pair in pairs:
        if keep(pair):
            counts.add(pair.truth, pair.predicted)
    return counts


def greedy(rows: Sequence[Row], sigs: Sequence[Signature]) -> tuple[list[int], list[float]]:
    """Cluster ids from incremental `assign` in published order, and the seconds per call."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i].published is None,
                                                    rows[i].published or datetime.min, i))
    stories: dict[int, list[Signature]] = {}
    cluster = [0] * len(rows)
    times = []
    for i in order:
        found, _, wall = timed(partial(assign, sigs[i], stories))
        times.append(wall)
        if found is None:
            found = len(stories)
            stories[found] = []
        stories[found].append(sigs[i])
        cluster[i] = found
    return cluster, times


def signatures(rows: Sequence[Row]) -> tuple[list[Signature], list[float]]:
    """Each row's signature, and the seconds each took."""
    sigs, times = [], []
    for row in rows:
        making = partial(signature, row.text, row.title, row.language, row.published)
        sig, _, wall = timed(making)
        sigs.append(sig)
        times.append(wall)
    return sigs, times


@dataclass(frozen=True)
class Evaluation:
    """Pair outcomes of the pairwise rule and of greedy clustering, for one set of signatures."""

    rows: Sequence[Row]
    sigs: Sequence[Signature]
    pairwise: list[Outcome]
    near_dup: list[Outcome]
    event: list[Outcome]
    greedy: list[Outcome]
    assign_seconds: list[float]

    def explain(self, pair: Outcome) -> str:
        """One line on a misclassified pair."""
        a, b = self.sigs[pair.i], self.sigs[pair.j]
        truth = "same story" if pair.truth else "different stories"
        why = "near-duplicates" if near_duplicate(a, b) else same_event(a, b)[1]
        return f"  {self.rows[pair.i].id} / {self.rows[pair.j].id} ({truth}): {why}"


def evaluate(rows: Sequence[Row], sigs: Sequence[Signature]) -> Evaluation:
    """Pairwise and greedy-clustering outcomes for these signatures."""
    clusters, times = greedy(rows, sigs)
    return Evaluation(
        rows, sigs,
        pairwise=outcomes(rows, lambda i, j: same_story(sigs[i], sigs[j])),
        near_dup=outcomes(rows, lambda i, j: near_duplicate(sigs[i], sigs[j])),
        event=outcomes(rows, lambda i, j: same_event(sigs[i], sigs[j])[0]),
        greedy=outcomes(rows, lambda i, j: clusters[i] == clusters[j]),
        assign_seconds=times,
    )


def describe(rows: Sequence[Row]) -> dict[str, int]:
    """Size of the labelled set."""
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row.story] = sizes.get(row.story, 0) + 1
    cross = sum(1 for a, b in itertools.combinations(rows, 2)
                if a.story == b.story and a.language != b.language)
    return {"articles": len(rows), "held_out_articles": sum(r.split == "holdout" for r in rows),
            "stories": len(sizes), "multi_article_stories": sum(n > 1 for n in sizes.values()),
            "pairs": len(rows) * (len(rows) - 1) // 2,
            "same_story_pairs": sum(n * (n - 1) // 2 for n in sizes.values()),
            "cross_language_same_story_pairs": cross}


def table_rows(dated: Evaluation, undated: Evaluation) -> list[tuple[str, PairCounts]]:
    """The rows of the printed table."""
    rows = dated.rows

    def held_out(o: Outcome) -> bool:
        return "holdout" in (rows[o.i].split, rows[o.j].split)

    def cross(o: Outcome) -> bool:
        return rows[o.i].language != rows[o.j].language

    return [
        ("pairwise same_story", count(dated.pairwise)),
        ("greedy assign clusters", count(dated.greedy)),
        ("  pairwise, tuning pairs", count(dated.pairwise, lambda o: not held_out(o))),
        ("  pairwise, held-out pairs", count(dated.pairwise, held_out)),
        ("  greedy, held-out pairs", count(dated.greedy, held_out)),
        ("  pairwise, cross-language", count(dated.pairwise, cross)),
        ("  near_duplicate alone", count(dated.near_dup)),
        ("  same_event alone", count(dated.event)),
        ("pairwise, dates removed", count(undated.pairwise)),
        ("greedy, dates removed", count(undated.greedy)),
    ]


def print_errors(title: str, evaluation: Evaluation, pairs: Sequence[Outcome]) -> None:
    """The misclassified pairs, one a line."""
    wrong = [p for p in pairs if p.truth != p.predicted]
    if wrong:
        print(f"\n{title}:")
        for pair in wrong:
            print(evaluation.explain(pair))


def main(argv: Sequence[str] | None = None) -> None:
    """Build (with --build) or evaluate the labelled set."""
    options = parser(__doc__)
    options.add_argument("--build", action="store_true", help="rewrite the labelled file")
    args = options.parse_args(argv)
    if args.build:
        print(f"wrote {build()} rows to {LABELLED.relative_to(ROOT)}")
        return
    info = context("clustering", args.quick)
    print_context(info)
    rows = load_rows()
    sizes = describe(rows)
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sizes.items()))
    sigs, sig_seconds = signatures(rows)
    dated = evaluate(rows, sigs)
    undated = evaluate(rows, [replace(s, published=None) for s in sigs])
    table = table_rows(dated, undated)
    print()
    print_table(["evaluation", "TP", "FP", "FN", "precision", "recall"],
                [(name, c.tp, c.fp, c.fn, f"{c.precision:.3f}", f"{c.recall:.3f}")
                 for name, c in table])
    print_errors("pairwise errors", dated, dated.pairwise)
    print_errors("greedy errors", dated, dated.greedy)
    print_errors("pairwise errors, dates removed", undated, undated.pairwise)
    sig_ms, assign_ms = median(sig_seconds) * 1000, median(dated.assign_seconds) * 1000
    print(f"\nmedian time: signature {sig_ms:.2f} ms, assign {assign_ms:.3f} ms "
          f"(greedy run, up to {sizes['stories']} stories)")
    ok = all(c.precision >= TARGET_PRECISION and c.recall >= TARGET_RECALL
             for _, c in table[:2])
    print(f"targets precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL} "
          f"(pairwise and greedy): {yes_no(ok)}")
    results = {name.strip(): c.as_dict() for name, c in table}
    finish(info, result_name("clustering", args.quick), {
        "labelled_set": sizes,
        "targets": {"precision": TARGET_PRECISION, "recall": TARGET_RECALL, "met": ok},
        "results": results,
        "median_ms": {"signature": round(sig_ms, 3), "assign": round(assign_ms, 4)},
    }, {"pairwise": {k: results["pairwise same_story"][k] for k in ("precision", "recall")},
        "greedy": {k: results["greedy assign clusters"][k] for k in ("precision", "recall")},
        "targets_met": ok, "signature_ms": round(sig_ms, 3), "assign_ms": round(assign_ms, 4)})


if __name__ == "__main__":
    main()

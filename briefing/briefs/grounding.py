"""Point checks: every point must be said by the source sentences it cites.

An engine proposes each point with the ids of the sentences it rests on ("S1:3": source
S1, sentence 3, as the prompt numbers them). A point is accepted when:

1. it cites at least one sentence (`no_support` otherwise), and every sentence it cites
   exists (`unknown_sentence`);
2. every number in it, in any notation ("10 milliards", "10 billion", "10bn"), is a value
   of a number of the cited sentences themselves, not merely of the story (`numbers`);
3. every name in it (capitalised words) is in the cited sentences (`names`). In another
   language than the source, a name may be spelt differently ("Pentagon" / "Pentagone",
   ratio of at least `NAME_LIKENESS`) or translated (countries, languages, months, days
   and cities by their names in Babel's French and English locale data). A word of a
   name that the story never uses in any spelling ("Secretary" for "secrétaire") cannot
   be checked: one such word is let through ("EU" for "UE", "Secretary" in "Defense
   Secretary Mark Esper"), two are a name the sources do not give ("John Smith"; a
   translated name of two words, "White House" for "Maison-Blanche", fails too). A word
   the story uses elsewhere fails (a name swapped for another of the story's);
4. in the source's own language, at least `brief.point_word_share` of its content words
   (Snowball-stemmed, accent-folded, stop words left out) are in the cited sentences
   (`words`). That holds too for a point of the other language's brief that is in fact
   written in the source's language (untranslated, detected from `UNTRANSLATED_WORDS`
   words). Across languages words cannot be compared: names and numbers are checked.

A point failing 2-4 that another source's sentence would support is `wrong_source`.
Each rejection comes with a hint for the engine's one retry: what is missing, and the
closest sentence by its id. Headlines are not points: they are not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale
from rapidfuzz import fuzz

from briefing.briefs.models import DraftPoint, Point, RejectedPoint, SentenceRef, Support
from briefing.sources.models import Document, Story
from briefing.text import numbers
from briefing.text.language import detect_language
from briefing.text.sentences import numbered, sentence_number
from briefing.text.stems import stems
from briefing.text.words import fold

NAME_LIKENESS = 80  # rapidfuzz ratio of two spellings of one name across languages
# Sentences of each source searched for the closest one to a rejected point (a hint for the
# retry): a news article has a few hundred; a 5 MB document would cost seconds a point.
CLOSEST_SENTENCES = 3_000
# From this many words, a point's language is told reliably enough to compare its words
# with a source in that language even in the other language's brief.
UNTRANSLATED_WORDS = 8
_NAME = re.compile(r"\b(?:[dlDL]['’])?([A-ZÀ-ÖØ-Þ][\w\-]*(?:\s+[A-ZÀ-ÖØ-Þ][\w\-]*)*)")
# Words of names, digits included: "A10" and "A17" are two roads, "D8" is no "D".
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SOURCE_ID = re.compile(r"\bS\d+\b")
# Capitalised words that start sentences without being names.
_COMMON_CAPS = frozenset(
    """le la les un une des ce cette ces il elle ils elles on en au aux du de dans pour par
    selon après avant mais et ou si lors face malgré depuis alors the a an in on at for by
    after before but and or if as this that these those it he she they while with from""".split()
)


def names(text: str) -> list[str]:
    """The names of a text: runs of capitalised words, less a sentence's first word alone,
    the article or preposition that starts a sentence ("Selon", "The"), and source ids a
    model let slip ("S2": renderers replace them with the outlet's name)."""
    found = []
    text = _SOURCE_ID.sub(" ", text)
    for match in _NAME.finditer(text):
        name = match.group(1)
        first = name.split()[0]
        at_start = text[: match.start(1)].strip(" \"'«“([-–—") == ""
        if at_start and " " not in name and not first.isupper():
            continue  # a lone capitalised first word is usually not a name
        if fold(first) in _COMMON_CAPS:
            name = " ".join(name.split()[1:])
        if name:
            found.append(name)
    return found


@cache
def _translations() -> dict[str, frozenset[str]]:
    """Folded names in French or English, each with its folded names in the other language:
    countries, languages, months, days (Babel's locale data) and cities (time zones)."""
    fr, en = Locale("fr"), Locale("en")
    pairs: list[tuple[str, str]] = []
    for table in ("territories", "languages"):
        french, english = getattr(fr, table), getattr(en, table)
        pairs += [(french[k], english[k]) for k in french if k in english]
    for kind in ("months", "days"):
        french, english = getattr(fr, kind)["format"]["wide"], getattr(en, kind)["format"]["wide"]
        pairs += [(french[k], english[k]) for k in french]
    for zone, names_ in fr.time_zones.items():
        city = names_.get("city")
        if city and "/" in zone:
            pairs.append((city, zone.rsplit("/", 1)[1].replace("_", " ")))
    other: dict[str, set[str]] = {}
    for french, english in pairs:
        a, b = fold(french), fold(english)
        if a != b:
            other.setdefault(a, set()).add(b)
            other.setdefault(b, set()).add(a)
    return {k: frozenset(v) for k, v in other.items()}


@dataclass(frozen=True)
class _Cited:
    """What the checks look up in the sentences a point cites."""

    folded: str
    words: frozenset[str]  # folded words, for spellings across languages
    values: frozenset[Decimal]
    stems: dict[str, frozenset[str]] = field(default_factory=dict)  # by source language
    languages: frozenset[str] = frozenset()


def _cited(support: Sequence[Support], story: Story) -> _Cited:
    by_language: dict[str, list[str]] = {}
    for s in support:
        doc = story.source(s.source)
        by_language.setdefault(doc.language if doc else "und", []).append(s.text)
    text = "\n".join(s.text for s in support)
    # A source's number words of any language count: the point may be in another one.
    values = frozenset(v for lang, texts in by_language.items()
                       for t in texts for v in numbers.values(t, lang, any_words=True))
    stem_sets = {lang: frozenset(st for t in texts for st in stems(t, lang))
                 for lang, texts in by_language.items()}
    return _Cited(fold(text), frozenset(_WORD.findall(fold(text))), values, stem_sets,
                  frozenset(by_language))


@lru_cache(maxsize=16)
def _story_words(story: Story) -> frozenset[str]:
    return frozenset(w for doc in story.sources
                     for w in _WORD.findall(fold(doc.text + "\n" + (doc.title or ""))))


def _said(name: str, cited: _Cited) -> bool:
    return all(w in cited.words for w in _WORD.findall(fold(name)))


def _near(word: str, pool: frozenset[str]) -> bool:
    """The word in the pool, or spelt differently; a word with digits only as written
    ("A10" is not "A100")."""
    if word in pool:
        return True
    if any(ch.isdigit() for ch in word):
        return False
    return any(fuzz.ratio(word, other) >= NAME_LIKENESS for other in pool)


def _said_across(name: str, cited: _Cited, story: Story) -> bool:
    """Whether the cited sentences say a name of a point in another language: translated
    (the whole name or one word), or word by word up to spelling, with at most one word
    the story never uses, and none it uses elsewhere (someone else's name)."""
    folded = fold(name)
    if any(t in cited.folded for t in _translations().get(folded, ())):
        return True
    words = _WORD.findall(folded)
    verified = 0
    for word in words:
        if _near(word, cited.words) or any(t in cited.folded
                                           for t in _translations().get(word, ())):
            verified += 1
        elif (_near(word, _story_words(story)) or word in _translations()
              or any(ch.isdigit() for ch in word)):  # "A100" is no translation of anything
            return False
    # One word the story never uses ("EU" for "UE", "Secretary" in "Defense Secretary Mark
    # Esper") may be a translation we cannot check; two are a name the sources do not give.
    return len(words) - verified <= 1


def _unknown_names(text: str, cited: _Cited, story: Story, same_language: bool) -> list[str]:
    missing = []
    for name in names(text):
        if _said(name, cited):
            continue
        if same_language or not _said_across(name, cited, story):
            missing.append(name)
    return missing


def _untranslated(text: str, cited: _Cited) -> str | None:
    """The cited sentences' language when a point of a brief in another language is in fact
    written in it (a model that did not translate): its words can be compared after all."""
    if len(text.split()) < UNTRANSLATED_WORDS:
        return None
    detected = detect_language(text)
    return detected if detected in cited.languages else None


def _disagreement(text: str, language: str, support: Sequence[Support], story: Story,
                  word_share: float) -> tuple[str, str] | None:
    """Why the cited sentences do not say the point (reason, detail), or None when they do."""
    cited = _cited(support, story)
    missing_numbers = numbers.missing(text, language, cited.values)
    if missing_numbers:
        return "numbers", f"the cited sentences do not state {', '.join(missing_numbers)}"
    written_in = language if language in cited.languages else _untranslated(text, cited)
    unknown = _unknown_names(text, cited, story, written_in is not None)
    if unknown:
        return "names", f"the cited sentences do not name {', '.join(unknown)}"
    if written_in is not None:
        own = stems(text, written_in)
        if own:
            found = cited.stems.get(written_in, frozenset())
            share = sum(s in found for s in own) / len(own)
            if share < word_share:
                absent = [w for w, s in zip(_content_words(text, written_in), own, strict=False)
                          if s not in found]
                return "words", ("most of its words are not in the cited sentences"
                                 + (f" ({', '.join(absent[:5])})" if absent else ""))
    return None


def _content_words(text: str, language: str) -> list[str]:
    """The words `stems` keeps, as written (for hints)."""
    kept = []
    for word in re.findall(r"[^\W_]+(?:[-'’][^\W_]+)*", text):
        if stems(word, language):
            kept.append(word)
    return kept


def supports(ref: SentenceRef, story: Story) -> Support | None:
    """The sentence an id names, or None when the source or the sentence does not exist."""
    doc = story.source(ref.source)
    if doc is None:
        return None
    spans = numbered(doc.text)
    if not 1 <= ref.sentence <= len(spans):
        return None
    span = spans[ref.sentence - 1]
    return Support(doc.id, ref.sentence, span.start, span.end, doc.text[span.start:span.end])


def support_of(doc: Document, start: int) -> SentenceRef:
    """The id of the sentence of `doc` holding offset `start` (an offline point's own)."""
    return SentenceRef(doc.id, sentence_number(doc.text, start))


def _closest(text: str, language: str, story: Story, word_share: float
             ) -> tuple[Support | None, bool]:
    """The sentence of the story sharing most stems with the point, and whether it alone
    would support the point."""
    own = set(stems(text, language)) or set(_WORD.findall(fold(text)))
    best: tuple[float, Support] | None = None
    for doc in story.sources:
        for number, span in enumerate(numbered(doc.text)[:CLOSEST_SENTENCES], start=1):
            sentence = doc.text[span.start:span.end]
            found = set(stems(sentence, doc.language)) | set(_WORD.findall(fold(sentence)))
            score = len(own & found)
            if score and (best is None or score > best[0]):
                best = (score, Support(doc.id, number, span.start, span.end, sentence))
    if best is None:
        return None, False
    return best[1], _disagreement(text, language, [best[1]], story, word_share) is None


def check_point(draft: DraftPoint, language: str, story: Story, word_share: float
                ) -> Point | RejectedPoint:
    """A checked point, or why it is rejected (with a hint for the retry).

    `language` is the language the point is written in; `word_share` the share of its
    content words the cited sentences must hold when they are in that language."""
    def rejected(reason: str, hint: str) -> RejectedPoint:
        return RejectedPoint(language, draft, reason, hint)

    if not draft.support:
        return rejected("no_support", "it cites no sentence: give the ids of the sentences "
                        "that state it")
    support: list[Support] = []
    for ref in dict.fromkeys(draft.support):
        found = supports(ref, story)
        if found is None:
            return rejected("unknown_sentence", f"{ref} is not a numbered sentence of the "
                            "sources")
        support.append(found)
    problem = _disagreement(draft.text, language, support, story, word_share)
    if problem is None:
        return Point(draft.text, tuple(support))
    reason, detail = problem
    closest, alone = _closest(draft.text, language, story, word_share)
    if closest is not None and alone and closest.source not in {s.source for s in support}:
        return rejected("wrong_source", f"{detail}; it is {closest.source}:{closest.sentence} "
                        f"of another source that says it")
    if closest is not None and all(s != closest for s in support):
        detail += f"; the closest sentence is {closest.source}:{closest.sentence}"
    return rejected(reason, detail)


@dataclass
class PointCheck:
    """Checked points by language, and the points rejected (in order)."""

    points: dict[str, list[Point]] = field(default_factory=dict)
    rejected: list[RejectedPoint] = field(default_factory=list)


def verify_points(drafts: Mapping[str, tuple[str, Sequence[DraftPoint]]], story: Story,
                  word_share: float) -> PointCheck:
    """Check the draft points of each brief: `drafts[lang]` is (the language the points are
    written in, the points). A point repeated in one brief is kept once."""
    check = PointCheck()
    for lang, (written_in, points) in drafts.items():
        kept = check.points.setdefault(lang, [])
        for draft in points:
            outcome = check_point(draft, written_in, story, word_share)
            if isinstance(outcome, RejectedPoint):
                check.rejected.append(RejectedPoint(lang, draft, outcome.reason, outcome.hint))
            elif all(p.text != outcome.text for p in kept):
                kept.append(outcome)
    return check

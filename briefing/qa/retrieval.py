"""Retrieval for follow-up questions: the question's language, a BM25 index of a story, and
how close each of several stories is to a question.

1. **Language**: the question's language (French or English), from question
   words, accents and French spacing before `?`, then py3langid restricted to
   those two; the answer is written in it, quotes stay in their source's language.
2. **Retrieval**: the story's sentences ranked by Okapi BM25 (k1=1.5, b=0.75)
   over folded terms. Each word gives its folded form, a 5-letter prefix (so
   French and English cognates meet: "contract"/"contrat", "secretary"/
   "secrétaire", plurals too) and an unordered pair with the previous word's
   prefix (so "secrétaire à la Défense" beats a sentence that has both words
   apart). Numbers are kept whole, so they match across languages. A question
   asking for an amount ("combien", "worth") or a time ("quand", "when") also
   looks for sentences stating one, but only among sentences that share a word
   with it (or alone when it has no other word: "Combien ?").
   Words that frame a question ("qui", "what", "sources", "say") are not searched.
   BM25 is a dozen lines here: a story has 50-500 sentences, so a library would
   add a dependency and no speed (the index of a 1,000-word story builds in about
   2 ms, a question is scored in about 0.05 ms); the index is cached (LRU, keyed
   by the story itself, so equal stories loaded twice from the store share it).
3. **Which story**: `story_scores` pools the sentences (and headlines) of several
   stories into one BM25 index, so their scores compare (`briefing.qa.choice` uses it).

The answers built from these passages are in `briefing.qa.answer`.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import py3langid

from briefing.briefs.citations import MIN_QUOTE_WORDS
from briefing.sources.models import Story
from briefing.text.sentences import Span, split_sentences
from briefing.text.words import STOPWORDS, fold

K1, B = 1.5, 0.75
PREFIX = 5  # letters of a word's prefix: French/English cognates and plurals share it
MAX_QUESTION_CHARS = 1000  # a question longer than a long paragraph is cut
LANGID_MIN_WORDS = 3  # py3langid guesses at random on a word or two
LANGUAGE_NAMES = {"fr": "French", "en": "English"}

_WORD = re.compile(r"[^\W_]+")

# Words that ask, or point at the story itself, rather than tell: never search terms.
_QUESTION_WORDS = frozenset(
    """qui quoi quel quelle quels quelles quand comment pourquoi combien lequel laquelle lesquels
    lesquelles dit disent parle parlent parler passe passee mentionne mentionnes what who whom
    whose which when where why how much many does did do done there any tell know say happen
    happened happens mention mentioned mentions source sources article articles story stories
    brief briefs""".split()
)
_IGNORED = STOPWORDS | _QUESTION_WORDS

# Kinds of answer a question may ask for, and the virtual term of sentences that give one.
_AMOUNT, _WHEN = "#amount", "#when"
_AMOUNT_CUES = frozenset(
    """combien montant montants cout couts coute coutera prix valeur vaut valait somme sommes
    worth cost costs price value amount sum much many""".split()
)
_WHEN_CUES = frozenset("quand date dates annee when year".split())
_AMOUNT_WORDS = frozenset(
    """million millions milliard milliards billion billions trillion trillions dollar dollars
    euro euros livres pounds percent pourcent""".split()
)
_WHEN_WORDS = frozenset(
    """janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    january february march april may june july august september october november december
    lundi mardi mercredi jeudi vendredi samedi dimanche monday tuesday wednesday thursday friday
    saturday sunday hier demain yesterday today tomorrow""".split()
)
_AMOUNT_SIGN = re.compile(r"[$€£%]")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")

# Cues of a question's language (folded words), beyond its accents and punctuation.
_FR_CUES = frozenset(
    """qui quoi quel quelle quels quelles quand comment pourquoi combien lequel laquelle ou est
    sont etait ont les des du le la une que qu dans pour avec sur par il elle ils elles ce cette
    ces c l d n s j y t leur leurs fait dit ete aux au nous vous et mais donc ni""".split()
)
_EN_CUES = frozenset(
    """what who whom whose which when where why how is are was were the of did does do has have
    will would can could much many about with for from this that it they he she won say said
    there their an to be been any whats and or but in at not""".split()
)
_FR_ACCENTS = re.compile(r"[éèêëàâîïôûùçœæ]", re.I)
_FR_SPACING = re.compile(r"\s[?!:;]")
_EN_CONTRACTION = re.compile(r"\b\w+['’](?:s|t|re|ve|ll|d|m)\b", re.I)


# --------------------------------------------------------------------------- passages


@dataclass(frozen=True)
class Passage:
    """A sentence of a source, `text == story.source(source).text[start:end]`, and its score."""

    source: str
    start: int
    end: int
    text: str
    score: float


# --------------------------------------------------------------------------- language


def _cue_scores(question: str) -> tuple[int, int]:
    """(French, English) evidence: question words, accents, French spacing, contractions."""
    words = re.findall(r"[a-z]+", fold(question).replace("'", " ").replace("’", " "))
    french = sum(w in _FR_CUES for w in words)
    english = sum(w in _EN_CUES for w in words)
    french += bool(_FR_ACCENTS.search(question)) + bool(_FR_SPACING.search(question))
    english += bool(_EN_CONTRACTION.search(question))
    return french, english


def _langid_french(question: str) -> float:
    """Probability that the question is French rather than English, per py3langid."""
    ranks = dict(py3langid.rank(question))
    diff = float(ranks.get("fr", 0.0)) - float(ranks.get("en", 0.0))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, diff))))


def question_language(question: str, default: str = "en") -> str:
    """The question's language, "fr" or "en"; `default` when nothing says which.

    Short questions ("Why?", "Combien ?") are decided by their question words,
    accents and French spacing before `?`; a longer question whose cues are
    close is decided by py3langid, restricted to French and English.
    """
    text = question.strip()[:MAX_QUESTION_CHARS]
    french, english = _cue_scores(text)
    margin = french - english
    if margin and (abs(margin) >= 2 or len(text.split()) <= 4):
        return "fr" if margin > 0 else "en"
    if len(text.split()) >= LANGID_MIN_WORDS:
        p_french = _langid_french(text)
        if p_french >= 0.9 or p_french <= 0.1:
            return "fr" if p_french >= 0.5 else "en"
    if margin:
        return "fr" if margin > 0 else "en"
    return default if default in LANGUAGE_NAMES else "en"


# Folded first words that open a question (or a request to be told) in French or English.
_OPENINGS = frozenset(
    """qui que qu quoi quel quelle quels quelles quand comment pourquoi combien ou lequel
    laquelle lesquels lesquelles est dis dites explique expliquez raconte racontez
    what whats who whos whom whose which when where why how is are was were do does did can
    could will would should has have had tell explain""".split()
)
# French inversion: "poursuit-il", "a-t-elle", "peut-on".
_INVERSION = re.compile(r"[^\W\d_]-(?:t-)?(?:il|elle|ils|elles|on)\b", re.I)


def looks_like_question(text: str) -> bool:
    """Whether a message reads as a question: a question mark, an interrogative (or
    "tell me", "explique") opening in French or English, or a French inversion."""
    if "?" in text or _INVERSION.search(text):
        return True
    first = _WORD.findall(fold(text).replace("'", " ").replace("’", " "))[:1]
    return bool(first) and first[0] in _OPENINGS


# --------------------------------------------------------------------------- terms


def question_terms(text: str) -> list[str]:
    """Folded content words; numbers kept whatever their length."""
    return [w for w in _WORD.findall(fold(text))
            if (len(w) > 2 or w.isdigit()) and w not in _IGNORED]


def _expand(words: Sequence[str]) -> list[str]:
    """Index terms: each word, its prefix, and the unordered pair of neighbouring prefixes."""
    out: list[str] = []
    previous = ""
    for word in words:
        out.append(word)
        head = word[:PREFIX]
        if len(word) > PREFIX:
            out.append(head + "~")
        if previous:
            out.append(f"{previous}+{head}" if previous < head else f"{head}+{previous}")
        previous = head
    return out


def _kinds(text: str, words: Iterable[str]) -> list[str]:
    """Virtual terms for what a sentence states: an amount, a time."""
    found: list[str] = []
    has = set(words)
    numbers = [w for w in has if w.isdigit()]
    if has & _AMOUNT_WORDS or _AMOUNT_SIGN.search(text) or any(not _YEAR.match(n) for n in numbers):
        found.append(_AMOUNT)
    if has & _WHEN_WORDS or any(_YEAR.match(n) for n in numbers):
        found.append(_WHEN)
    return found


def _question_kinds(question: str) -> list[str]:
    """Virtual terms for what a question asks for."""
    asked = set(_WORD.findall(fold(question)))
    kinds = [_AMOUNT] if asked & _AMOUNT_CUES else []
    return kinds + ([_WHEN] if asked & _WHEN_CUES else [])


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class _Sentence:
    source: str
    start: int
    end: int
    terms: frozenset[str]


@dataclass(frozen=True)
class _Index:
    """BM25 statistics of one story's sentences."""

    sentences: tuple[_Sentence, ...]
    counts: tuple[Counter[str], ...]  # term frequencies, per sentence
    df: Counter[str]  # sentences holding each term
    norms: tuple[float, ...]  # K1 * (1 - B + B * length / average length), per sentence

    def idf(self, term: str) -> float:
        """Lucene's BM25 idf: never negative, even for a term in most sentences."""
        df = self.df[term]
        return math.log(1.0 + (len(self.counts) - df + 0.5) / (df + 0.5))


def _story_sentences(story: Story) -> Iterable[tuple[str, Span, str]]:
    """(source id, span, text) of every sentence long enough to quote."""
    for doc in story.sources:
        for span in split_sentences(doc.text):
            text = doc.text[span.start:span.end]
            if len(text.split()) >= MIN_QUOTE_WORDS:
                yield doc.id, span, text


def _term_counts(text: str, words: Sequence[str]) -> Counter[str]:
    """The index terms of one sentence (or headline), with their frequencies."""
    tf = Counter(_expand(words))
    tf.update(_kinds(text, words))
    return tf


def _norms(counts: Sequence[Counter[str]]) -> tuple[float, ...]:
    lengths = [tf.total() for tf in counts]
    average = (sum(lengths) / len(lengths) if lengths else 0.0) or 1.0
    return tuple(K1 * (1.0 - B + B * length / average) for length in lengths)


def _build(story: Story) -> _Index:
    sentences: list[_Sentence] = []
    counts: list[Counter[str]] = []
    df: Counter[str] = Counter()
    for source, span, text in _story_sentences(story):
        words = question_terms(text)
        tf = _term_counts(text, words)
        df.update(tf.keys())
        counts.append(tf)
        sentences.append(_Sentence(source, span.start, span.end, frozenset(words)))
    return _Index(tuple(sentences), tuple(counts), df, _norms(counts))


@lru_cache(maxsize=256)
def story_index(story: Story) -> _Index:
    """The story's BM25 index, built once per story (equal stories share it)."""
    return _build(story)


def _add(scores: dict[int, float], index: _Index, terms: set[str], only: bool) -> None:
    """Add the BM25 weight of `terms` to every sentence (`only`: to those already scored)."""
    idf = {t: index.idf(t) for t in terms if index.df[t]}
    if not idf:
        return
    for number, tf in enumerate(index.counts):
        if only and number not in scores:
            continue
        weight = 0.0
        for term, term_idf in idf.items():
            f = tf.get(term)
            if f:
                weight += term_idf * f * (K1 + 1.0) / (f + index.norms[number])
        if weight:
            scores[number] = scores.get(number, 0.0) + weight


def _score(index: _Index, question: str) -> dict[int, float]:
    """BM25 score of every sentence sharing a term with the question."""
    scores: dict[int, float] = {}
    lexical = set(_expand(question_terms(question)))
    _add(scores, index, lexical, only=False)
    # A kind of answer (an amount, a time) only ranks what matched, unless nothing could.
    _add(scores, index, set(_question_kinds(question)), only=bool(lexical))
    return scores


def retrieve(story: Story, question: str, k: int = 6) -> list[Passage]:
    """The `k` sentences of the story closest to the question (score > 0), best first."""
    index = story_index(story)
    scores = _score(index, question[:MAX_QUESTION_CHARS])
    best = heapq.nsmallest(k, scores.items(), key=lambda item: (-item[1], item[0]))
    return [_passage(story, index.sentences[number], score) for number, score in best]


def _passage(story: Story, sentence: _Sentence, score: float) -> Passage:
    doc = story.source(sentence.source)
    text = doc.text[sentence.start:sentence.end] if doc else ""
    return Passage(sentence.source, sentence.start, sentence.end, text, score)


def lead_passages(story: Story, k: int = 6) -> list[Passage]:
    """The first sentences of each source (score 0): context for a question nothing matched."""
    per_source = max(1, math.ceil(k / max(1, len(story.sources))))
    taken: Counter[str] = Counter()
    lead: list[Passage] = []
    for sentence in story_index(story).sentences:
        if taken[sentence.source] < per_source and len(lead) < k:
            taken[sentence.source] += 1
            lead.append(_passage(story, sentence, 0.0))
    return lead


# --------------------------------------------------------------------------- which story


def story_scores(stories: Sequence[Story], question: str,
                 headlines: Sequence[Sequence[str]] = ()) -> list[float]:
    """How close each story is to the question, in the order given (0: nothing shared).

    The sentences of every story, and each story's headlines (`headlines[i]` are story
    i's, in any language), are pooled into one BM25 index, so the scores of different
    stories compare: a word every candidate has counts little, one only a story has counts
    much. A story's score adds, for each term of the question, its best weight in one of
    the story's sentences or headlines: a story that tells every part of what is asked,
    even in different sentences, beats one whose single sentence shares a phrase with it.
    (Word pairs still reward the parts found together.) What a question asks for (an
    amount, a time) only counts in a story that shares a word with it, unless it has none.
    Each story's own index (cached) gives its sentences' terms.
    """
    sentences: list[_Sentence] = []
    counts: list[Counter[str]] = []
    owners: list[int] = []
    df: Counter[str] = Counter()
    for number, story in enumerate(stories):
        index = story_index(story)
        sentences += index.sentences
        counts += index.counts
        owners += [number] * len(index.counts)
        df.update(index.df)
        for headline in headlines[number] if number < len(headlines) else ():
            words = question_terms(headline)
            tf = _term_counts(headline, words)
            sentences.append(_Sentence("", 0, len(headline), frozenset(words)))
            counts.append(tf)
            owners.append(number)
            df.update(tf.keys())
    pooled = _Index(tuple(sentences), tuple(counts), df, _norms(counts))
    text = question[:MAX_QUESTION_CHARS]
    lexical = _best_weights(pooled, owners, len(stories), set(_expand(question_terms(text))))
    kinds = _best_weights(pooled, owners, len(stories), set(_question_kinds(text)))
    scores = [sum(found.values()) for found in lexical]
    has_words = bool(question_terms(text))
    return [score + sum(kind.values()) if score or not has_words else 0.0
            for score, kind in zip(scores, kinds, strict=True)]


def _best_weights(index: _Index, owners: Sequence[int], stories: int,
                  terms: set[str]) -> list[dict[str, float]]:
    """For each story, the best BM25 weight of each term in one of its units."""
    best: list[dict[str, float]] = [{} for _ in range(stories)]
    idf = {t: index.idf(t) for t in terms if index.df[t]}
    for number, tf in enumerate(index.counts):
        found = best[owners[number]]
        for term, term_idf in idf.items():
            f = tf.get(term)
            if f:
                weight = term_idf * f * (K1 + 1.0) / (f + index.norms[number])
                found[term] = max(found.get(term, 0.0), weight)
    return best

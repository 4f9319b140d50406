"""Follow-up questions about a story, answered from its sources only.

A reader replies to a brief (or sends `/ask question`); the answer comes from
the story's own sources, never from outside knowledge:

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
3. **Without an LLM**: the best passages (up to 3, none scoring under half the
   best, no repeats) are the answer, as quotes built from the source offsets, so
   verified by construction; a sentence too long to quote is cut to its best window.
4. **With an LLM**: the question and the passages go in the user message as
   delimited data (`<question>`, then numbered `<source>` sentences); the answer
   is strict JSON. Every quote is checked like a brief's (`check_quote`);
   rejected ones are dropped and counted; a supported answer left without a
   quote gets the best passage; a sentence of the answer stating a number no
   source contains is dropped. "Not supported" is always said with a fixed
   sentence, never the model's words. If the LLM fails, the passages are the answer.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import py3langid
from pydantic import BaseModel, ConfigDict, ValidationError

from briefing.checks import SourceFacts, unsupported_numbers
from briefing.citations import MAX_QUOTE_WORDS, MIN_QUOTE_WORDS, check_quote
from briefing.config import Settings
from briefing.engines.prompting import Conversation, SourceFormatter
from briefing.engines.schema import InvalidAnswer
from briefing.errors import LLMError
from briefing.models import DraftQuote, Quote, Story, Usage
from briefing.prompts import render_prompt
from briefing.sentences import Span, split_sentences
from briefing.text import STOPWORDS

if TYPE_CHECKING:  # the extractive path never imports the openai SDK
    from briefing.engines.llm import LLMEngine

log = logging.getLogger(__name__)

K1, B = 1.5, 0.75
PREFIX = 5  # letters of a word's prefix: French/English cognates and plurals share it
MAX_QUESTION_CHARS = 1000  # a question longer than a long paragraph is cut
EXTRACTIVE_QUOTES = 3  # passages shown when there is no LLM
ANSWER_QUOTES = 3  # checked quotes kept under an LLM answer
CLIP_WORDS = 45  # a sentence longer than a quote may be is cut to its best window
SAME_PASSAGE = 0.7  # term overlap above which two passages say the same thing
RELATIVE = 0.5  # without an LLM, a passage scoring under half the best one is left out
LANGID_MIN_WORDS = 3  # py3langid guesses at random on a word or two
LANGUAGE_NAMES = {"fr": "French", "en": "English"}

LEAD = {
    "fr": "Voici les passages des sources les plus proches de votre question :",
    "en": "Here are the passages of the sources closest to your question:",
}
NOT_SAID = {
    "fr": "Les sources de cette information ne le disent pas.",
    "en": "The sources of this story do not say.",
}

_WORD = re.compile(r"[^\W_]+")
_COMBINING = re.compile(r"[\u0300-\u036f]+")

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
_DELIMITER = re.compile(r"<(?=/?(?:question|source)\b)", re.I)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Passage:
    """A sentence of a source, `text == story.source(source).text[start:end]`, and its score."""

    source: str
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    """The answer to a follow-up question, ready to render."""

    language: str  # "fr" or "en": the question's language
    text: str  # the answer (plain text, not HTML); the fixed sentence when not supported
    quotes: tuple[Quote, ...]  # checked quotes (text == source.text[start:end])
    supported: bool  # False: the sources do not say
    engine: str  # "llm" or "extractive": what wrote `text`
    usage: Usage
    rejected: int = 0  # quotes the model proposed that failed the check


# --------------------------------------------------------------------------- language


def _fold(text: str) -> str:
    """Lower-case and strip accents (a regex over NFKD: faster than a character loop)."""
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.lower()))


def _cue_scores(question: str) -> tuple[int, int]:
    """(French, English) evidence: question words, accents, French spacing, contractions."""
    words = re.findall(r"[a-z]+", _fold(question).replace("'", " ").replace("’", " "))
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


# --------------------------------------------------------------------------- terms


def _words(text: str) -> list[str]:
    """Folded content words; numbers kept whatever their length."""
    return [w for w in _WORD.findall(_fold(text))
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
    asked = set(_WORD.findall(_fold(question)))
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
        return math.log(1.0 + (len(self.sentences) - df + 0.5) / (df + 0.5))


def _story_sentences(story: Story) -> Iterable[tuple[str, Span, str]]:
    """(source id, span, text) of every sentence long enough to quote."""
    for doc in story.sources:
        for span in split_sentences(doc.text):
            text = doc.text[span.start:span.end]
            if len(text.split()) >= MIN_QUOTE_WORDS:
                yield doc.id, span, text


def _build(story: Story) -> _Index:
    sentences: list[_Sentence] = []
    counts: list[Counter[str]] = []
    df: Counter[str] = Counter()
    for source, span, text in _story_sentences(story):
        words = _words(text)
        tf = Counter(_expand(words))
        tf.update(_kinds(text, words))
        df.update(tf.keys())
        counts.append(tf)
        sentences.append(_Sentence(source, span.start, span.end, frozenset(words)))
    lengths = [tf.total() for tf in counts]
    average = (sum(lengths) / len(lengths) if lengths else 0.0) or 1.0
    norms = tuple(K1 * (1.0 - B + B * length / average) for length in lengths)
    return _Index(tuple(sentences), tuple(counts), df, norms)


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
    lexical = set(_expand(_words(question)))
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


# --------------------------------------------------------------------------- quotes from passages


def _clip(passage: Passage, question: str) -> tuple[int, int]:
    """Offsets of the passage, or of its best window of CLIP_WORDS words when too long to quote."""
    spans = [m.span() for m in re.finditer(r"\S+", passage.text)]
    if len(spans) <= MAX_QUOTE_WORDS:
        return passage.start, passage.end
    wanted = set(_words(question))
    wanted |= {w[:PREFIX] for w in wanted}
    hits = [any(w in wanted or w[:PREFIX] in wanted for w in _words(passage.text[a:b]))
            for a, b in spans]
    best = max(range(len(spans) - CLIP_WORDS + 1), key=lambda i: sum(hits[i:i + CLIP_WORDS]))
    return passage.start + spans[best][0], passage.start + spans[best + CLIP_WORDS - 1][1]


def passage_quote(story: Story, passage: Passage, question: str = "") -> Quote:
    """A quote of the passage, from the source's own characters: checked by construction."""
    doc = story.source(passage.source)
    if doc is None:
        raise ValueError(f"passage from an unknown source {passage.source!r}")
    start, end = _clip(passage, question)
    return Quote(doc.text[start:end], doc.id, start, end)


def _distinct(passages: Sequence[Passage], n: int) -> list[Passage]:
    """Up to `n` passages, leaving out repeats (one quote reported by two outlets)."""
    chosen: list[tuple[Passage, set[str]]] = []
    for passage in passages:
        words = set(_words(passage.text))
        if all(len(words & seen) <= SAME_PASSAGE * min(len(words), len(seen))
               for _, seen in chosen):
            chosen.append((passage, words))
        if len(chosen) == n:
            break
    return [p for p, _ in chosen]


def extractive_answer(
    story: Story, question: str, language: str, passages: Sequence[Passage] | None = None,
    usage: Usage | None = None,
) -> Answer:
    """The passages closest to the question, as checked quotes; or "the sources do not say".

    Passages scoring under RELATIVE times the best one share only a word or two
    with the question: they are left out rather than shown as an answer.
    """
    ranked = passages if passages is not None else retrieve(story, question)
    best = max((p.score for p in ranked), default=0.0)
    found = [p for p in ranked if p.score > 0 and p.score >= RELATIVE * best]
    quotes = tuple(passage_quote(story, p, question) for p in _distinct(found, EXTRACTIVE_QUOTES))
    text = LEAD[language] if quotes else NOT_SAID[language]
    return Answer(language, text, quotes, bool(quotes), "extractive", usage or Usage())


# --------------------------------------------------------------------------- the LLM answer

_QUOTE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text", "source"],
    "properties": {"text": {"type": "string"}, "source": {"type": "string"}},
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answer", "supported", "quotes"],
    "properties": {
        "answer": {"type": "string"},
        "supported": {"type": "boolean"},
        "quotes": {"type": "array", "items": _QUOTE_SCHEMA},
    },
}


class _QuoteOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str
    source: str


class _AnswerOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    answer: str
    supported: bool
    quotes: list[_QuoteOut]


@dataclass(frozen=True)
class DraftAnswer:
    """The model's answer, not yet checked."""

    text: str
    supported: bool
    quotes: tuple[DraftQuote, ...]


def parse_answer(content: str) -> DraftAnswer:
    """Validate the model's JSON into a draft answer (InvalidAnswer triggers a repair round)."""
    text = content.strip()
    if text.startswith("```"):  # some local models wrap JSON in a Markdown fence
        text = text.strip("`").removeprefix("json").strip()
    try:
        out = _AnswerOut.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    except ValidationError as exc:
        raise InvalidAnswer(f"answer: {exc.errors()[0]['msg']}") from None
    quotes = tuple(DraftQuote(q.text, q.source) for q in out.quotes)
    return DraftAnswer(out.answer.strip(), out.supported, quotes)


def _defuse_question(question: str) -> str:
    """The question as data: it cannot close its own delimiter or open a source."""
    return _DELIMITER.sub("<\\\\", question.strip()[:MAX_QUESTION_CHARS])


_FORMATTER = SourceFormatter()


def format_passages(story: Story, passages: Sequence[Passage]) -> str:
    """Passages as `<source ...>` blocks of numbered sentences, in story and reading order."""
    blocks = []
    for doc in story.sources:
        spans = sorted((Span(p.start, p.end) for p in passages if p.source == doc.id),
                       key=lambda span: span.start)
        if spans:
            blocks.append(_FORMATTER.chunk(doc, spans))
    return "\n\n".join(blocks)


def _conversation(story: Story, question: str, language: str, passages: Sequence[Passage],
                  settings: Settings) -> Conversation:
    convo = Conversation.start(render_prompt(settings.prompts_dir, "qa_system"))
    convo.user(render_prompt(
        settings.prompts_dir, "qa_user", language=LANGUAGE_NAMES[language],
        question=_defuse_question(question), sources=format_passages(story, passages),
    ))
    return convo


def _check(story: Story, drafts: Sequence[DraftQuote]) -> tuple[list[Quote], int]:
    """The quotes found in the sources (exact characters), and how many were rejected."""
    kept: list[Quote] = []
    rejected = 0
    for draft in drafts:
        quote, reason = check_quote(draft, story)
        if quote is None:
            rejected += 1
            log.info("follow-up quote rejected: %s", reason)
        elif all((q.source, q.start) != (quote.source, quote.start) for q in kept):
            kept.append(quote)
    return kept[:ANSWER_QUOTES], rejected


def _sourced_text(text: str, story: Story) -> str:
    """The answer without its sentences that state a number no source contains."""
    facts = SourceFacts.of("\n".join(doc.text for doc in story.sources))
    kept = [text[s.start:s.end] for s in split_sentences(text)
            if not unsupported_numbers(text[s.start:s.end], facts)]
    return " ".join(kept)


def _checked_answer(story: Story, draft: DraftAnswer, language: str, question: str,
                    context: Sequence[Passage], usage: Usage) -> Answer:
    if not draft.supported or not draft.text:
        return Answer(language, NOT_SAID[language], (), False, "llm", usage)
    quotes, rejected = _check(story, draft.quotes)
    if not quotes and context:  # supported, but nothing checkable: the best passage backs it
        quotes = [passage_quote(story, context[0], question)]
    text = _sourced_text(draft.text, story)
    if not text or not quotes:
        log.info("follow-up answer unusable (numbers not in the sources); passages instead")
        return replace(extractive_answer(story, question, language, context, usage),
                       rejected=rejected)
    return Answer(language, text, tuple(quotes), True, "llm", usage, rejected)


def _llm_answer(story: Story, question: str, language: str, passages: Sequence[Passage],
                settings: Settings, engine: LLMEngine, usage: Usage) -> Answer:
    context = list(passages) or lead_passages(story)
    if not context or not question.strip():  # nothing to ask about, or nothing asked
        return extractive_answer(story, question, language, passages, usage)
    convo = _conversation(story, question, language, context, settings)
    draft, _ = engine.ask(convo, "answer", ANSWER_SCHEMA, parse_answer, usage)
    return _checked_answer(story, draft, language, question, context, usage)


def answer(
    story: Story, question: str, settings: Settings, engine: LLMEngine | None = None,
    default_language: str = "en",
) -> Answer:
    """Answer a reader's question about the story from its sources only.

    Without an engine, or when the LLM fails, the answer is the closest passages.
    """
    language = question_language(question, default_language)
    passages = retrieve(story, question)
    if engine is None:
        return extractive_answer(story, question, language, passages)
    usage = Usage()
    try:
        return _llm_answer(story, question, language, passages, settings, engine, usage)
    except LLMError as exc:
        log.warning("follow-up answer: the LLM failed (%s); passages instead", exc)
        return extractive_answer(story, question, language, passages, usage)

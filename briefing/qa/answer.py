"""Follow-up questions about a story, answered from its sources only.

A reader replies to a brief (or sends `/ask question`); the answer comes from
the story's own sources, never from outside knowledge:

1. **Language**: the question's language (French or English); the answer is
   written in it, quotes stay in their source's language.
2. **Retrieval**: the story's sentences ranked by Okapi BM25 over folded terms.
   Both are in `briefing.qa.retrieval`, which documents them.
3. **Without an LLM**: the best passages (up to 3, none scoring under half the
   best, no repeats) are the answer, as quotes built from the source offsets, so
   verified by construction; a sentence too long to quote is cut to its best window.
4. **With an LLM**: the question and the passages go in the user message as
   delimited data (`<question>`, then numbered `<source>` sentences); the answer
   is strict JSON (the prompt and its parsing are in `briefing.qa.drafting`). Every
   quote is checked like a brief's (`check_quote`), and keeps the translation the
   model gave when its source is in another language than the question;
   rejected ones are dropped and counted; a supported answer left without a
   quote gets the best passage. Each sentence of the answer cites the source
   sentences it rests on and is checked like a brief's point (numbers, names,
   and in the source's language its words): one that fails is dropped and
   counted, and an answer left with none is answered with the passages.
   "Not supported" is always said with a fixed sentence, never the model's
   words. If the LLM fails, the passages are the answer.
5. **Quotes in another language** than the question carry a translation (an LLM's) or
   are marked untranslated, as in briefs (`Quote.in_brief`).

Which story a question is about, when the reader does not say, is `briefing.qa.choice`'s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from briefing.briefs.citations import MAX_QUOTE_WORDS, check_quote
from briefing.briefs.grounding import check_point
from briefing.briefs.models import DraftQuote, Point, Quote
from briefing.config import Settings
from briefing.errors import LLMError
from briefing.llm.usage import Usage
from briefing.qa.drafting import (
    ANSWER_SCHEMA,
    DraftAnswer,
    answer_conversation,
    parse_answer,
)
from briefing.qa.retrieval import (
    PREFIX,
    Passage,
    lead_passages,
    question_language,
    question_terms,
    retrieve,
)
from briefing.sources.models import Story
from briefing.text import catalogue

if TYPE_CHECKING:  # the extractive path never imports the openai SDK
    from briefing.llm.client import LLMClient


log = logging.getLogger(__name__)

EXTRACTIVE_QUOTES = 3  # passages shown when there is no LLM
ANSWER_QUOTES = 3  # checked quotes kept under an LLM answer
CLIP_WORDS = 45  # a sentence longer than a quote may be is cut to its best window
SAME_PASSAGE = 0.7  # term overlap above which two passages say the same thing
RELATIVE = 0.5  # without an LLM, a passage scoring under half the best one is left out



# --------------------------------------------------------------------------- the answer


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
    # The answer's sentences with the source sentences each rests on (checked like a brief's
    # points); `text` is them joined. Empty for the fixed sentences and passage answers.
    points: tuple[Point, ...] = ()
    points_rejected: int = 0  # sentences of the model's answer that failed the check


# --------------------------------------------------------------------------- quotes from passages


def _clip(passage: Passage, question: str) -> tuple[int, int]:
    """Offsets of the passage, or of its best window of CLIP_WORDS words when too long to quote."""
    spans = [m.span() for m in re.finditer(r"\S+", passage.text)]
    if len(spans) <= MAX_QUOTE_WORDS:
        return passage.start, passage.end
    wanted = set(question_terms(question))
    wanted |= {w[:PREFIX] for w in wanted}
    hits = [any(w in wanted or w[:PREFIX] in wanted for w in question_terms(passage.text[a:b]))
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


def _in_language(story: Story, quotes: Sequence[Quote], language: str) -> tuple[Quote, ...]:
    """The quotes as an answer in `language` shows them: one from a source in another
    language carries a translation or is marked untranslated, like a brief's
    (`Quote.in_brief`); a source of unknown language is taken at its word."""
    shown = []
    for quote in quotes:
        doc = story.source(quote.source)
        source_language = doc.language if doc is not None else "und"
        if source_language in ("", "und"):
            source_language = language
        shown.append(quote.in_brief(language, source_language))
    return tuple(shown)


def _distinct(passages: Sequence[Passage], n: int) -> list[Passage]:
    """Up to `n` passages, leaving out repeats (one quote reported by two outlets)."""
    chosen: list[tuple[Passage, set[str]]] = []
    for passage in passages:
        words = set(question_terms(passage.text))
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
    quotes = _in_language(story, [passage_quote(story, p, question)
                                  for p in _distinct(found, EXTRACTIVE_QUOTES)], language)
    text = catalogue.text("answer_lead" if quotes else "answer_not_said",
                          language)
    return Answer(language, text, quotes, bool(quotes), "extractive", usage or Usage())


# --------------------------------------------------------------------------- the LLM answer


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


def _grounded(story: Story, draft: DraftAnswer, language: str, settings: Settings
              ) -> tuple[list[Point], int]:
    """The answer's sentences that the source sentences they cite say (checked like a
    brief's points, `briefing.briefs.grounding`), and how many failed."""
    kept: list[Point] = []
    failed = 0
    for point in draft.points:
        outcome = check_point(point, language, story, settings.brief.point_word_share)
        if isinstance(outcome, Point):
            kept.append(outcome)
        else:
            failed += 1
            log.info("follow-up sentence dropped (%s): %s", outcome.reason, outcome.hint)
    return kept, failed


def _checked_answer(story: Story, draft: DraftAnswer, language: str, question: str,
                    context: Sequence[Passage], settings: Settings, usage: Usage) -> Answer:
    if not draft.supported or not draft.points:
        said = catalogue.text("answer_not_said", language)
        return Answer(language, said, (), False, "llm", usage)
    quotes, rejected = _check(story, draft.quotes)
    if not quotes and context:  # supported, but nothing checkable: the best passage backs it
        quotes = [passage_quote(story, context[0], question)]
    points, failed = _grounded(story, draft, language, settings)
    if not points or not quotes:
        log.info("follow-up answer unusable (no sentence passed the check); passages instead")
        return replace(extractive_answer(story, question, language, context, usage),
                       rejected=rejected, points_rejected=failed)
    return Answer(language, " ".join(p.text for p in points),
                  _in_language(story, quotes, language), True, "llm", usage, rejected,
                  tuple(points), failed)


def _llm_answer(story: Story, question: str, language: str, passages: Sequence[Passage],
                settings: Settings, llm: LLMClient, usage: Usage) -> Answer:
    context = list(passages) or lead_passages(story)
    if not context or not question.strip():  # nothing to ask about, or nothing asked
        return extractive_answer(story, question, language, passages, usage)
    convo = answer_conversation(story, question, language, context, settings)
    draft, _ = llm.structured(convo, "answer", ANSWER_SCHEMA, parse_answer, usage)
    return _checked_answer(story, draft, language, question, context, settings, usage)


def answer_question(
    story: Story, question: str, settings: Settings, llm: LLMClient | None = None,
    default_language: str = "en",
) -> Answer:
    """Answer a reader's question about the story from its sources only.

    Without an LLM client, or when the LLM fails, the answer is the closest passages.
    """
    language = question_language(question, default_language)
    passages = retrieve(story, question)
    if llm is None:
        return extractive_answer(story, question, language, passages)
    usage = Usage()
    try:
        return _llm_answer(story, question, language, passages, settings, llm, usage)
    except LLMError as exc:
        log.warning("follow-up answer: the LLM failed (%s); passages instead", exc)
        return extractive_answer(story, question, language, passages, usage)

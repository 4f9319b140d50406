"""The LLM engine: any OpenAI-compatible server through the `openai` SDK.

Both briefs come from one call when the story fits the token budget; a longer
story is split into sentence-aligned chunks, each turned into notes and
candidate quotes (map), then briefed once from the notes (reduce). Static
instructions come first and the article last, so providers' prompt caching
applies. The article always travels as delimited data in the user message. Every call goes
through the one client, `briefing.llm.client.LLMClient.structured`.
"""

from __future__ import annotations

import logging

from briefing.briefs.citations import check_quote
from briefing.briefs.engines.schema import (
    NOTES_SCHEMA,
    brief_schema,
    parse_briefs,
    parse_notes,
)
from briefing.briefs.models import DraftBrief, DraftPoint, DraftQuote, Feedback, Proposal
from briefing.config import Settings
from briefing.errors import LLMError
from briefing.llm.calls import LLMCache
from briefing.llm.client import LLMClient
from briefing.llm.conversation import Conversation, SourceFormatter
from briefing.llm.usage import Usage
from briefing.sources.models import Story
from briefing.text.tokens import chunk, count_tokens, get_encoding

log = logging.getLogger(__name__)
NUMBERED_SHARE = 0.85


class LLMEngine:
    """Briefs written by a language model, in one call when the story fits."""

    name = "llm"

    def __init__(self, settings: Settings, llm: LLMClient | None = None,
                 cache: LLMCache | None = None) -> None:
        self.settings = settings
        self.llm = llm or LLMClient(settings, cache=cache)
        self.model = self.llm.model
        self.encoding = get_encoding(self.model, settings.llm.encoding)
        self.languages = settings.brief.languages
        self.schema = brief_schema(self.languages)
        self.formatter = SourceFormatter()
        self.system = self._system()
        self.budget = self._budget()

    # -- the engine interface ------------------------------------------------------------
    def propose(self, story: Story, feedback: Feedback | None = None) -> Proposal:
        """Draft briefs for the story, or fix the quotes `feedback` says were rejected."""
        usage = Usage()
        try:
            return self._propose(story, feedback, usage)
        except LLMError as exc:
            exc.usage = usage  # what the failed attempt spent still counts
            raise

    def _propose(self, story: Story, feedback: Feedback | None, usage: Usage) -> Proposal:
        if feedback is not None:
            convo = Conversation(list(feedback.previous.transcript))
            convo.user(self._prompt("retry", rejections=_rejections(feedback)))
        else:
            body = self.formatter.story(story)
            if count_tokens(body, self.encoding) <= self.budget:
                convo = self._single_pass(story, body)
            else:
                convo = self._reduce(story, self._map(story, usage))
        briefs, convo = self.llm.structured(convo, "briefs", self.schema, self._parse_briefs, usage)
        return Proposal(briefs, self.name, self.model, usage, tuple(convo.messages))

    # -- building conversations ------------------------------------------------------------
    def _prompt(self, name: str, **values: object) -> str:
        return self.llm.prompt(name, **values)

    def _system(self) -> str:
        cfg = self.settings.brief
        return self._prompt(
            "brief_system", languages=", ".join(self.languages), max_points=cfg.max_points,
            max_words=cfg.max_words, min_quotes=cfg.min_quotes, max_quotes=cfg.max_quotes,
        )

    def _budget(self) -> int:
        """Tokens the article may take in one call: context less output and instructions."""
        llm = self.settings.llm
        overhead = count_tokens(self.system, self.encoding) + 300
        return max(256, llm.context_tokens - llm.max_output_tokens - overhead)

    def _single_pass(self, story: Story, body: str) -> Conversation:
        convo = Conversation.start(self.system)
        convo.user(self._prompt("brief_user", count=len(story.sources), sources=body))
        return convo

    def _map(self, story: Story, usage: Usage) -> list[str]:
        # Sentence numbers and delimiters add about a tenth to a chunk's raw tokens.
        budget = int(self.budget * NUMBERED_SHARE)
        overlap = self.settings.llm.chunk_overlap_tokens
        parts = [(doc, piece) for doc in story.sources
                 for piece in chunk(doc.text, budget, overlap, self.encoding)]
        system = self._prompt("map_system")
        blocks = []
        for number, (doc, piece) in enumerate(parts, start=1):
            convo = Conversation.start(system)
            body = self.formatter.chunk(doc, piece.units)
            convo.user(self._prompt("map_user", part=number, parts=len(parts), sources=body))
            (notes, quotes), _ = self.llm.structured(convo, "notes", NOTES_SCHEMA, parse_notes,
                                                     usage)
            blocks.append(_notes_block(number, doc.id, notes, _checked(quotes, story)))
        return blocks

    def _reduce(self, story: Story, blocks: list[str]) -> Conversation:
        convo = Conversation.start(self.system)
        listing = "; ".join(self.formatter.label(doc) for doc in story.sources)
        convo.user(self._prompt("reduce_user", sources=listing, notes="\n\n".join(blocks)))
        return convo

    def _parse_briefs(self, content: str) -> dict[str, DraftBrief]:
        return parse_briefs(content, self.languages)


def _rejections(feedback: Feedback) -> str:
    quotes = [f"- quote [{lang}] {quote.text!r} ({quote.source}): {reason}"
              for lang, quote, reason in feedback.rejected]
    points = [f"- point [{r.language}] {r.point.text!r} "
              f"(support: {', '.join(map(str, r.point.support)) or 'none'}): {r.hint}"
              for r in feedback.rejected_points]
    return "\n".join(quotes + points)


def _checked(quotes: tuple[DraftQuote, ...], story: Story) -> list[DraftQuote]:
    """Only candidate quotes found in the source go on to the reduce step."""
    kept = []
    for draft in quotes:
        quote, _ = check_quote(draft, story)
        if quote is not None:
            kept.append(DraftQuote(quote.text, quote.source))
    return kept


def _notes_block(number: int, source: str, notes: tuple[DraftPoint, ...],
                 quotes: list[DraftQuote]) -> str:
    # Each note keeps the ids of its sentences, so the reduce step's points can cite them.
    lines = [f"Part {number} ({source}):",
             *(f"- {n.text} [{', '.join(map(str, n.support))}]" for n in notes)]
    lines += [f'- quote [{q.source}]: "{q.text}"' for q in quotes]
    return "\n".join(lines)

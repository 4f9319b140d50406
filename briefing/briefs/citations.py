"""Citation checks: every proposed quote is located in its source, or rejected.

A quote is accepted when it is found exactly, or when it is found after
normalising typography only (whitespace, straight/curly quotes and apostrophes,
dashes, case, ellipses at the ends); then it is replaced by the exact source
characters. A quote whose words differ is rejected, never repaired.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz

from briefing.briefs.models import CitationCounts, DraftQuote, Quote
from briefing.sources.models import Story
from briefing.text.marks import QUOTE_MARKS, pair_marks

MIN_QUOTE_WORDS = 3
MAX_QUOTE_WORDS = 60

_ELLIPSIS_EDGE = re.compile(r"^(?:\.\.\.|…)\s*|\s*(?:\.\.\.|…)$")
_FOLD = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′`´", "'"),
        **dict.fromkeys("“”„‟«»″‹›", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
    }
)
# Spaces that typography adds or removes: around double quotes, before : ; ! ?
_SOFT_SPACE_BEFORE = frozenset('":;!?')
_SOFT_SPACE_AFTER = frozenset('"')


@dataclass(frozen=True)
class Normalised:
    """A typography-folded text, with the source offset of every character."""

    text: str
    offsets: array[int]  # 4 bytes a character: sources can be long


def _fold_char(ch: str) -> str:
    if ch.isspace():
        return " "
    if ch == "…":
        return "..."
    return ch.translate(_FOLD).lower()


def _drop_soft_spaces(chars: list[tuple[str, int]]) -> list[tuple[str, int]]:
    kept: list[tuple[str, int]] = []
    for i, (ch, pos) in enumerate(chars):
        if ch == " ":
            prev = kept[-1][0] if kept else ""
            nxt = chars[i + 1][0] if i + 1 < len(chars) else ""
            if prev in ("", " ") or prev in _SOFT_SPACE_AFTER or nxt in _SOFT_SPACE_BEFORE:
                continue
            if nxt == "":
                continue
        kept.append((ch, pos))
    return kept


@lru_cache(maxsize=16)
def normalise(text: str) -> Normalised:
    """Fold typography so that only differences of words remain."""
    chars = [(out, pos) for pos, ch in enumerate(text) for out in _fold_char(ch)]
    kept = _drop_soft_spaces(chars)
    return Normalised("".join(c for c, _ in kept), array("I", (p for _, p in kept)))


def strip_edges(quote: str) -> str:
    """Take off the quotation marks, ellipses and spaces around a quote.

    A mark at an edge goes when it wraps the whole quote together with the mark at the
    other edge, or when its partner is not in the quote; a mark closing one opened inside
    the quote stays (`signifié « d'envoyer paître Amazon »` keeps its `»`).
    """
    core = quote.strip()
    while core:
        before = core
        core = _ELLIPSIS_EDGE.sub("", core).strip()
        if not core:
            break
        last = len(core) - 1
        partners = pair_marks(core).partners()
        if core[0] in QUOTE_MARKS and partners.get(0) == last and last > 0:
            core = core[1:-1].strip()
        elif core[0] in QUOTE_MARKS and 0 not in partners:
            core = core[1:].strip()
        elif core[-1] in QUOTE_MARKS and last not in partners:
            core = core[:-1].strip()
        if core == before:
            break
    return core


def locate(quote: str, text: str) -> tuple[int, int] | None:
    """Offsets of `quote` in `text`, exactly or up to typography; None when absent."""
    core = strip_edges(quote)
    if not core:
        return None
    exact = text.find(core)
    if exact >= 0:
        return exact, exact + len(core)
    needle = normalise(core).text
    hay = normalise(text)
    found = hay.text.find(needle) if needle else -1
    if found < 0:
        return None
    return hay.offsets[found], hay.offsets[found + len(needle) - 1] + 1


def _closest(quote: str, text: str) -> str:
    """A short hint naming the most similar source passage, for the retry prompt."""
    needle, hay = normalise(strip_edges(quote)).text, normalise(text)
    if not needle:
        return "empty quote"
    match = fuzz.partial_ratio_alignment(needle, hay.text)
    if match is None or match.score < 60:
        return "no similar passage in the sources"
    start = hay.offsets[match.dest_start]
    end = hay.offsets[max(match.dest_start, match.dest_end - 1)] + 1
    return f"words differ from the source, whose closest passage is: {text[start:end]!r}"


@dataclass
class QuoteCheck:
    """Accepted quotes by language, the counts, and why each rejected quote failed."""

    quotes: dict[str, list[Quote]] = field(default_factory=dict)
    counts: CitationCounts = field(default_factory=CitationCounts)
    rejected: list[tuple[str, DraftQuote, str]] = field(default_factory=list)


def _search_order(story: Story, source_id: str) -> list[str]:
    ids = [s.id for s in story.sources]
    return [source_id, *[i for i in ids if i != source_id]] if source_id in ids else ids


def check_quote(draft: DraftQuote, story: Story) -> tuple[Quote | None, str]:
    """Verify one quote: (quote, "exact"|"repaired") or (None, reason for rejection)."""
    words = len(strip_edges(draft.text).split())
    if words < MIN_QUOTE_WORDS or words > MAX_QUOTE_WORDS:
        return None, f"a quote must have {MIN_QUOTE_WORDS} to {MAX_QUOTE_WORDS} words"
    for source_id in _search_order(story, draft.source):
        doc = story.source(source_id)
        found = locate(draft.text, doc.text) if doc else None
        if doc is not None and found is not None:
            text = doc.text[found[0] : found[1]]
            # Quotation marks and ellipses around a quote are presentation, not a repair.
            same = text == strip_edges(draft.text) and source_id == draft.source
            kind = "exact" if same else "repaired"
            return Quote(text, source_id, found[0], found[1], draft.translation), kind
    doc = story.source(draft.source) or story.sources[0]
    return None, _closest(draft.text, doc.text)


def _keep(accepted: list[Quote], quote: Quote) -> None:
    if all((q.source, q.start) != (quote.source, quote.start) for q in accepted):
        accepted.append(quote)


def verify_quotes(
    drafts: dict[str, list[DraftQuote]], story: Story, check: QuoteCheck | None = None
) -> QuoteCheck:
    """Check every draft quote of every brief, adding to `check` (a new one by default)."""
    check = check or QuoteCheck()
    for lang, quotes in drafts.items():
        accepted = check.quotes.setdefault(lang, [])
        for draft in quotes:
            if any(q.text == strip_edges(draft.text) for q in accepted):
                continue  # the same quote twice in one brief is not news
            check.counts.proposed += 1
            quote, outcome = check_quote(draft, story)
            if quote is None:
                check.counts.rejected += 1
                check.rejected.append((lang, draft, outcome))
            elif outcome == "exact":
                check.counts.verified += 1
                _keep(accepted, quote)
            else:
                check.counts.repaired += 1
                _keep(accepted, quote)
    return check

"""Story clustering: which articles tell the same story, in French and English.

An article is reduced once to a `Signature` (JSON-serialisable, so the store can
keep it); signatures are then compared without the texts.

**Near-duplicates** (wire copies, re-posts under another title, light edits):
MinHash over word shingles of the body text, see `briefing.stories.signature`.

**Same event** (different outlets, possibly different languages). The rule,
as `same_event` checks it (it also returns the reason):

1. *Time*: both publication dates known and more than `WINDOW` (72 h) apart:
   not the same event. A missing date never blocks.
2. Count what both articles share:
   - *names*: capitalised words and acronyms (`Signature.names`), folded, with
     a trailing "s" then "e" taken off so that simple French/English variants
     meet ("Pentagone"/"Pentagon", "Israël"/"Israel"), and French acronyms of
     international bodies mapped to the English ones (`ACRONYMS`: OCDE = OECD).
     A name of several words counts once ("Donald Trump" and "Trump" are one
     name); a first name alone does not count ("David Pecker" and "David
     Geffen" share no name). Very common names are ignored (`COMMON_NAMES`:
     days and months, agencies and platforms of boilerplate, generic
     institutions, "France", "Paris", "Washington", "Covid"...);
   - *numbers* (`Signature.numbers`): thousands separators removed and the
     decimal mark made a point, so "63.851" = "63,851" and "1,5" = "1.5"
     ("10 milliards" and "$10 billion" share 10). Numbers below 10, bare years
     (1800-2100), clock times ("21H00", "3:30 am") and numbers that belong to
     a name ("Codis 28", "Europe 1") are left out as coincidental;
   - *lead overlap*: the overlap coefficient of the folded content words of the
     title and the first `LEAD_WORDS` (40) words.
3. Same event when one of these holds:
   - at least `MIN_NAMES_WITH_NUMBER` (2) shared names and a shared number;
   - at least `MIN_NAMES_ALONE` (4) shared names;
   - at least `MIN_NUMBERS_WITH_LEAD` (2) shared numbers and a lead overlap of
     at least `MIN_LEAD_OVERLAP` (0.25), for stories with few names
     (government measures, weather).

Across languages, where words differ, names and numbers carry the decision; the
lead overlap mostly matters within one language. One shared famous name
("Trump", "Macron") never joins two stories, and two or three shared names need
a shared number to do so.

`same_story` is `near_duplicate or same_event`; `assign` puts an article into
the existing story holding its best-matching member, or returns None.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from briefing.stories.signature import (
    Signature,
    jaccard,
    near_duplicate,
)

WINDOW = timedelta(hours=72)
MIN_NAMES_WITH_NUMBER = 2
MIN_NAMES_ALONE = 4
MIN_NUMBERS_WITH_LEAD = 2
MIN_LEAD_OVERLAP = 0.25


@dataclass(frozen=True)
class Evidence:
    """What two signatures share, the inputs of the same-event rule."""

    names: int
    numbers: int
    lead_overlap: float


# --- comparing signatures -----------------------------------------------------------------


def _pairs(names: Iterable[str]) -> set[tuple[str, str]]:
    """Adjacent keys within the names."""
    return {pair for name in names for pair in itertools.pairwise(name.split())}


def _name_groups(shared: frozenset[str], a: Signature, b: Signature) -> int:
    """Shared keys, counting once keys written together in a name of both articles.

    "Donald Trump" in both is one name; "Amazon Jeff Bezos" in one article and
    "Amazon" ... "Jeff Bezos" in the other are two.
    """
    parent = {k: k for k in shared}

    def root(k: str) -> str:
        while parent[k] != k:
            k = parent[k]
        return k

    for first, second in _pairs(a.names) & _pairs(b.names):
        if first in parent and second in parent:
            parent[root(second)] = root(first)
    return len({root(k) for k in shared})


def evidence(a: Signature, b: Signature) -> Evidence:
    """Shared names, shared numbers and title/lead overlap of two signatures."""
    shared = (a.name_keys & b.name_keys) - (a.first_name_keys & b.first_name_keys)
    smaller = min(len(a.term_set), len(b.term_set))
    overlap = len(a.term_set & b.term_set) / smaller if smaller else 0.0
    return Evidence(
        names=_name_groups(shared, a, b),
        numbers=len(a.number_set & b.number_set),
        lead_overlap=overlap,
    )


def within_window(a: Signature, b: Signature, window: timedelta = WINDOW) -> bool:
    """True unless both dates are known and further apart than `window`."""
    if a.published is None or b.published is None:
        return True
    return abs(a.published - b.published) <= window


def same_event(a: Signature, b: Signature) -> tuple[bool, str]:
    """The documented same-event rule (see the module docstring), with its reason."""
    if not within_window(a, b):
        return False, f"published more than {WINDOW.total_seconds() / 3600:.0f} h apart"
    ev = evidence(a, b)
    facts = f"{ev.names} shared names, {ev.numbers} shared numbers, lead {ev.lead_overlap:.2f}"
    if ev.names >= MIN_NAMES_WITH_NUMBER and ev.numbers:
        return True, f"names and a number ({facts})"
    if ev.names >= MIN_NAMES_ALONE:
        return True, f"many names ({facts})"
    if ev.numbers >= MIN_NUMBERS_WITH_LEAD and ev.lead_overlap >= MIN_LEAD_OVERLAP:
        return True, f"numbers and lead ({facts})"
    return False, f"not enough in common ({facts})"


def same_story(a: Signature, b: Signature) -> bool:
    """Near-duplicates or the same event."""
    return near_duplicate(a, b) or same_event(a, b)[0]


def could_be_same_event(a: Signature, b: Signature) -> bool:
    """A cheap necessary condition for `same_event`: enough shared name keys or numbers.

    Lets `assign` skip most unrelated candidates without computing the evidence.
    """
    return (len(a.name_keys & b.name_keys) >= MIN_NAMES_WITH_NUMBER
            or len(a.number_set & b.number_set) >= MIN_NUMBERS_WITH_LEAD)


def match_score(a: Signature, b: Signature) -> float:
    """How strongly two articles belong together: 0 if not the same story.

    Near-duplicates score 1 + Jaccard (so above any event match); same-event
    matches score below 1, growing with shared names and numbers.
    """
    if near_duplicate(a, b):
        return 1.0 + jaccard(a, b)
    if not could_be_same_event(a, b) or not same_event(a, b)[0]:
        return 0.0
    ev = evidence(a, b)
    return 1.0 - 1.0 / (1.0 + ev.names + ev.numbers + ev.lead_overlap)


def assign(article: Signature, stories: Mapping[int, Sequence[Signature]]) -> int | None:
    """The story the article joins (best match over each story's members), or None.

    Ties go to the lowest story id, so the result does not depend on mapping order.
    """
    best: tuple[float, int] | None = None
    for story_id, members in stories.items():
        score = max((match_score(article, m) for m in members), default=0.0)
        if score > 0 and (best is None or (score, -story_id) > (best[0], -best[1])):
            best = (score, story_id)
    return best[1] if best else None

"""Story clustering: which articles tell the same story, in French and English.

An article is reduced once to a `Signature` (JSON-serialisable, so the store can
keep it); two signatures are then compared without the texts.

**Near-duplicates** (wire copies, re-posts with another title, boilerplate
added, a paragraph dropped, light edits): MinHash (datasketch, 64 permutations,
scheme `affine32`, seed 1) over the word 5-gram shingles of the folded body
text (lower case, accents stripped, punctuation ignored). Two articles are near
duplicates when the estimated Jaccard similarity of their shingle sets is at
least `NEAR_DUPLICATE` (0.5). Titles are left out: a re-post often retitles.

**Same event** (different outlets, possibly different languages): the rule,
checked in this order by `same_event`, which returns the reason:

1. *Time*: both publication dates known and more than `WINDOW` (72 h) apart:
   not the same event. A missing date never blocks.
2. *Names*: count the distinct rare names both articles mention. Names are
   capitalised words and acronyms, folded and with a trailing "s" then "e"
   taken off ("Pentagone" / "Pentagon" -> "pentagon", "Israël" -> "israel"),
   so they carry across French and English; a capitalised word opening a
   sentence counts only when it is an acronym, starts a multi-word name, or is
   also capitalised inside a sentence. A multi-word name is counted once
   ("Donald Trump" and "Trump" are one name). Very common names carry no
   evidence and are ignored (`COMMON_NAMES`: days, months, news agencies and
   platforms of boilerplate, generic institutions, "France", "Paris",
   "Covid"...). At least `MIN_NAMES` (2) shared names are required.
3. *Corroboration*, one of:
   - a shared number (`numbers`: digits with thousands separators removed,
     "63.851" = "63,851", decimal comma = point; numbers below 10 and bare
     years 1800-2100 are left out as too common) together with
     `MIN_NAMES_WITH_NUMBER` (2) names;
   - or, without a shared number, `MIN_NAMES_ALONE` (4) shared names and a
     title/lead overlap of at least `MIN_LEAD_OVERLAP_ALONE` (0.15) when both
     articles are in the same language (words differ across languages, so
     there the names carry the decision alone).
   Title/lead overlap is the overlap coefficient of the folded content words of
   the title and the first `LEAD_WORDS` (40) words.

So one shared famous name ("Trump", "Macron", "Paris") never joins two stories,
and two shared names need a shared number to do so.

`same_story` is `near_duplicate or same_event`; `assign` puts an article into
the existing story holding its best-matching member, or returns None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from datasketch import MinHash

from briefing.text import STOPWORDS, WORD, fold, terms

NUM_PERM = 64
MINHASH_SEED = 1
SHINGLE_WORDS = 5
NEAR_DUPLICATE = 0.5
WINDOW = timedelta(hours=72)
LEAD_WORDS = 40
MIN_NAMES = 2
MIN_NAMES_WITH_NUMBER = 2
MIN_NAMES_ALONE = 4
MIN_LEAD_OVERLAP_ALONE = 0.15
MIN_NUMBER = 10

COMMON_NAMES = frozenset(
    """lundi mardi mercredi jeudi vendredi samedi dimanche janvier fevrier mars avril mai juin
    juillet aout septembre octobre novembre decembre monday tuesday wednesday thursday friday
    saturday sunday january february march april june july august september october november
    december jan feb mar apr jun jul aug sep sept oct nov dec
    afp reuters ap belga ats facebook twitter instagram youtube tiktok linkedin whatsapp
    redaction minutes actualite news newsletter publie published mis update lire read aussi
    france francais french paris europe europeen european ue eu etats-unis usa us america
    american americain washington elysee matignon white house maison blanche kremlin
    etat state president presidente premier prime ministre minister ministere ministry
    gouvernement government conseil council assemblee assembly senat senate parlement parliament
    republique republic nationale national sante health justice interieur interior defense defence
    centre center ville city hotel palais palace hopital hospital universite university ecole
    school musee museum tribunal court cour police prefecture mairie region departement
    department general colonel academie academy mr mrs ms mme monsieur madame dr
    covid covid-19 coronavirus sars-cov-2 internet""".split()
)
# Capitalised words that open sentences or titles without being names.
_NOT_NAMES = frozenset(
    """selon apres avant mais lors face malgre depuis alors tandis ainsi pourtant enfin cependant
    while after before but when where there here what who how why yes no not one two
    according however meanwhile""".split()
)
_ELISION = re.compile(r"^(?:[dlnsjcmt]|qu|jusqu|lorsqu|puisqu)['’]", re.I)
_POSSESSIVE = re.compile(r"['’]s?$")
_SENTENCE_END = re.compile(r"(?:^|[.!?…:;\n])[\s\"'«»“”‘’()\[\]*•–—-]*$")
_NUMBER = re.compile(r"(?<![\w-])\d+(?:(?:[.,]|[ \u00a0\u202f](?=\d{3}\b))\d+)*")
_YEARS = range(1800, 2101)


@dataclass(frozen=True)
class Signature:
    """What clustering keeps of an article; JSON-serialisable via `to_json` / `from_json`."""

    minhash: tuple[int, ...]
    names: tuple[str, ...]
    numbers: tuple[str, ...]
    title_terms: tuple[str, ...]
    language: str
    published: datetime | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the date as an ISO 8601 string, or None)."""
        return {
            "minhash": list(self.minhash),
            "names": list(self.names),
            "numbers": list(self.numbers),
            "title_terms": list(self.title_terms),
            "language": self.language,
            "published": self.published.isoformat() if self.published else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        """The signature `to_json` wrote."""
        published = data.get("published")
        return cls(
            minhash=tuple(int(v) for v in data["minhash"]),
            names=tuple(str(v) for v in data["names"]),
            numbers=tuple(str(v) for v in data["numbers"]),
            title_terms=tuple(str(v) for v in data["title_terms"]),
            language=str(data["language"]),
            published=_as_utc(datetime.fromisoformat(published)) if published else None,
        )

    @cached_property
    def name_keys(self) -> frozenset[str]:
        """The single-word keys of all names, common ones removed."""
        return frozenset(k for n in self.names for k in n.split() if k not in _COMMON_KEYS)

    @cached_property
    def first_name_keys(self) -> frozenset[str]:
        """Keys written only as the first word of multi-word names ("Emmanuel", "New")."""
        leading = {n.split()[0] for n in self.names if " " in n}
        elsewhere = {k for n in self.names for k in n.split()[1:]}
        elsewhere |= {n for n in self.names if " " not in n}
        return frozenset(leading - elsewhere)

    @cached_property
    def number_set(self) -> frozenset[str]:
        """The numbers, as a set."""
        return frozenset(self.numbers)

    @cached_property
    def term_set(self) -> frozenset[str]:
        """The title and lead terms, as a set."""
        return frozenset(self.title_terms)


@dataclass(frozen=True)
class Evidence:
    """What two signatures share, the inputs of the same-event rule."""

    names: int
    numbers: int
    lead_overlap: float
    same_language: bool


# --- building a signature ---------------------------------------------------------------


def _as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _key(word: str) -> str:
    """A folded name or term with a trailing "s" then "e" taken off (plural, "Pentagone")."""
    key = fold(word).strip("'’-")
    for suffix in ("s", "e"):
        if len(key) > 3 and key.endswith(suffix):
            key = key[:-1]
    return key


def _shingles(text: str) -> set[bytes]:
    tokens = WORD.findall(fold(text))
    if len(tokens) < SHINGLE_WORDS:
        return {" ".join(tokens).encode()} if tokens else set()
    return {
        " ".join(tokens[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(tokens) - SHINGLE_WORDS + 1)
    }


def _minhash(text: str) -> tuple[int, ...]:
    shingles = _shingles(text)
    if not shingles:
        return ()
    sketch = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32")
    sketch.update_batch(sorted(shingles))
    return tuple(int(v) for v in sketch.hashvalues)


@dataclass
class _Token:
    word: str
    start: int
    end: int


def _capitalised_tokens(text: str) -> list[_Token]:
    found = []
    for match in WORD.finditer(text):
        word, start = match.group(), match.start()
        elided = _ELISION.match(word)
        if elided:
            word, start = word[elided.end() :], start + elided.end()
        word = _POSSESSIVE.sub("", word)
        if word[:1].isupper() and len(word) > 1:
            found.append(_Token(word, start, match.end()))
    return found


def _runs(text: str, tokens: list[_Token]) -> list[list[_Token]]:
    """Consecutive capitalised tokens separated by a single space: one name each."""
    runs: list[list[_Token]] = []
    for token in tokens:
        if runs and text[runs[-1][-1].end : token.start] in (" ", "\u00a0"):
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def _is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _extract_names(text: str) -> tuple[str, ...]:
    """Folded names: capitalised runs, sentence openers kept only when they look like names."""
    runs = _runs(text, _capitalised_tokens(text))
    at_start = [bool(_SENTENCE_END.search(text[: run[0].start])) for run in runs]
    inside = {_key(t.word) for run, start in zip(runs, at_start, strict=True)
              for t in run[1 if start else 0 :]}
    names: set[str] = set()
    for run, start in zip(runs, at_start, strict=True):
        words = [t.word for t in run]
        if start and len(words) == 1 and not _is_acronym(words[0]) and _key(words[0]) not in inside:
            continue
        keys = [_key(w) for w in words if fold(w) not in STOPWORDS and fold(w) not in _NOT_NAMES]
        if keys:
            names.add(" ".join(keys))
    return tuple(sorted(names))


def _normalise_number(raw: str) -> str | None:
    """Canonical digits: thousands separators removed, decimal mark a point; None if too common."""
    parts = re.split(r"[.,\s\u00a0\u202f]", raw)
    if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
        value = "".join(parts)
    elif len(parts) == 2:
        value = f"{parts[0]}.{parts[1]}"
    else:
        value = "".join(parts)
    value = value.lstrip("0") or "0"
    if "." not in value:
        number = int(value)
        if number < MIN_NUMBER or (number in _YEARS and raw.isdigit()):
            return None
    return value


def _extract_numbers(text: str) -> tuple[str, ...]:
    found = {_normalise_number(m.group()) for m in _NUMBER.finditer(text)}
    return tuple(sorted(n for n in found if n))


def _lead_terms(text: str, title: str | None) -> tuple[str, ...]:
    lead = " ".join(text.split()[:LEAD_WORDS])
    words = (re.split(r"['’]", t)[-1] for t in terms(f"{title or ''} {lead}"))
    return tuple(sorted({_key(w) for w in words if len(w) > 2 and w not in STOPWORDS}))


def signature(
    text: str, title: str | None, language: str, published: datetime | None
) -> Signature:
    """The signature of one article (naive dates are taken as UTC)."""
    both = f"{title}.\n{text}" if title else text
    return Signature(
        minhash=_minhash(text),
        names=_extract_names(both),
        numbers=_extract_numbers(both),
        title_terms=_lead_terms(text, title),
        language=language,
        published=_as_utc(published) if published else None,
    )


_COMMON_KEYS = frozenset(_key(w) for w in COMMON_NAMES)


# --- comparing signatures -----------------------------------------------------------------


def jaccard(a: Signature, b: Signature) -> float:
    """MinHash estimate of the Jaccard similarity of the two shingle sets (0 if either is empty)."""
    if not a.minhash or len(a.minhash) != len(b.minhash):
        return 0.0
    return sum(x == y for x, y in zip(a.minhash, b.minhash, strict=True)) / len(a.minhash)


def near_duplicate(a: Signature, b: Signature) -> bool:
    """Wire copy or re-post: estimated shingle Jaccard >= `NEAR_DUPLICATE`."""
    return jaccard(a, b) >= NEAR_DUPLICATE


def _pairs(names: Iterable[str]) -> set[tuple[str, str]]:
    pairs = set()
    for name in names:
        keys = name.split()
        pairs.update(zip(keys, keys[1:], strict=False))
    return pairs


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
        same_language=a.language == b.language,
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
    if ev.names < MIN_NAMES:
        return False, f"too few shared names ({facts})"
    if ev.numbers and ev.names >= MIN_NAMES_WITH_NUMBER:
        return True, f"names and numbers ({facts})"
    lead_ok = not ev.same_language or ev.lead_overlap >= MIN_LEAD_OVERLAP_ALONE
    if ev.names >= MIN_NAMES_ALONE and lead_ok:
        return True, f"many shared names ({facts})"
    return False, f"not enough corroboration ({facts})"


def same_story(a: Signature, b: Signature) -> bool:
    """Near-duplicates or the same event."""
    return near_duplicate(a, b) or same_event(a, b)[0]


def match_score(a: Signature, b: Signature) -> float:
    """How strongly two articles belong together: 0 if not the same story.

    Near-duplicates score 1 + Jaccard (so above any event match); same-event
    matches score below 1, growing with shared names and numbers.
    """
    if near_duplicate(a, b):
        return 1.0 + jaccard(a, b)
    if not same_event(a, b)[0]:
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

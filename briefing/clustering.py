"""Story clustering: which articles tell the same story, in French and English.

An article is reduced once to a `Signature` (JSON-serialisable, so the store can
keep it); signatures are then compared without the texts.

**Near-duplicates** (wire copies, re-posts under another title, with outlet
boilerplate, a paragraph dropped, light edits): MinHash (datasketch, 64
permutations, scheme `affine32`, seed 1) over the word 5-gram shingles of the
folded body text (lower case, accents stripped, punctuation ignored). Two
articles are near-duplicates when the estimated Jaccard similarity of their
shingle sets is at least `NEAR_DUPLICATE` (0.5). Titles are left out, since
re-posts retitle, and so are dates: a copy re-posted days later is still the
same story.

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
MIN_NAMES_WITH_NUMBER = 2
MIN_NAMES_ALONE = 4
MIN_NUMBERS_WITH_LEAD = 2
MIN_LEAD_OVERLAP = 0.25
MIN_NUMBER = 10

_CALENDAR = frozenset(
    """lundi mardi mercredi jeudi vendredi samedi dimanche janvier fevrier mars avril mai juin
    juillet aout septembre octobre novembre decembre monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october november
    december jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
COMMON_NAMES = _CALENDAR | frozenset(
    """afp reuters ap belga ats facebook twitter instagram youtube tiktok linkedin whatsapp
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
# French acronyms of international bodies, mapped to the English ones.
ACRONYMS = {"ocde": "oecd", "onu": "un", "otan": "nato", "oms": "who", "fmi": "imf", "bce": "ecb",
            "omc": "wto", "aiea": "iaea", "cio": "ioc", "ue": "eu"}
# Capitalised words that open sentences or titles without being names.
_NOT_NAMES = frozenset(
    """selon apres avant mais lors face malgre depuis alors tandis ainsi pourtant enfin cependant
    while after before but when where there here what who how why yes no not one two
    according however meanwhile""".split()
)
_ELISION = re.compile(r"^(?:[dlnsjcmt]|qu|jusqu|lorsqu|puisqu)['’]", re.I)
_POSSESSIVE = re.compile(r"['’]s?$")
_SENTENCE_ENDS = ".!?…:;|"
_OPENERS = frozenset(" \t\r\n\u00a0\u202f\"'«»“”‘’()[]*•–—-")
_NUMBER = re.compile(r"(?<![\w-])\d+(?:(?:[.,]|[ \u00a0\u202f](?=\d{3}\b))\d+)*")
_CLOCK = re.compile(r"\s?(?:[hH](?:\d\d)?\b|:\d\d|[ap]\.?m\b)")
_WORD_BEFORE = re.compile(r"([^\W\d_][\w'’-]*)[ \u00a0]$")
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


_COMMON_KEYS = frozenset(_key(w) for w in COMMON_NAMES)


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


def _opens_sentence(text: str, start: int) -> bool:
    """True when the word at `start` is the first of a sentence, a line or the text."""
    i = start
    while i > 0 and text[i - 1] in _OPENERS:
        i -= 1
    return i == 0 or text[i - 1] in _SENTENCE_ENDS or "\n" in text[i:start]


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


def _name_key(word: str) -> str | None:
    """The key of one word of a name, or None for a word that is not part of names."""
    folded = fold(word)
    if _is_acronym(word):
        return ACRONYMS.get(folded, folded)
    if folded in STOPWORDS or folded in _NOT_NAMES:
        return None
    return _key(word)


def _title_case(title: str) -> bool:
    """True for "Headline Style Titles", where capitals do not mark names."""
    long_words = [w for w in WORD.findall(title) if len(w) > 3]
    capitalised = sum(1 for w in long_words if w[0].isupper())
    return len(long_words) >= 3 and capitalised > 0.6 * len(long_words)


def _extract_names(text: str) -> tuple[str, ...]:
    """Folded names: capitalised runs, sentence openers kept only when they look like names."""
    runs = _runs(text, _capitalised_tokens(text))
    at_start = [_opens_sentence(text, run[0].start) for run in runs]
    inside = {_name_key(t.word) for run, start in zip(runs, at_start, strict=True)
              for t in run[1 if start else 0 :]}
    names: set[str] = set()
    for run, start in zip(runs, at_start, strict=True):
        words = [t.word for t in run]
        lone_opener = start and len(words) == 1 and not _is_acronym(words[0])
        if lone_opener and _name_key(words[0]) not in inside:
            continue
        keys = [k for k in map(_name_key, words) if k]
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


def _part_of_name(text: str, start: int) -> bool:
    """True for a number right after a name ("Codis 28", "Europe 1"), not after a month."""
    before = _WORD_BEFORE.search(text[max(0, start - 40) : start])
    if not before or not before.group(1)[0].isupper():
        return False
    word = fold(before.group(1))
    if word in _CALENDAR or word in STOPWORDS or word in _NOT_NAMES:
        return False
    return not _opens_sentence(text, start - len(before.group()))


def _extract_numbers(text: str) -> tuple[str, ...]:
    """Normalised numbers, leaving out clock times ("21H00", "3:30 am") and numbers in names."""
    found = set()
    for match in _NUMBER.finditer(text):
        if _CLOCK.match(text, match.end()) or _part_of_name(text, match.start()):
            continue
        found.add(_normalise_number(match.group()))
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
    named = text if title is None or _title_case(title) else both
    return Signature(
        minhash=_minhash(text),
        names=_extract_names(named),
        numbers=_extract_numbers(both),
        title_terms=_lead_terms(text, title),
        language=language,
        published=_as_utc(published) if published else None,
    )


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

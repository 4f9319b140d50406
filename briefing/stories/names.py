"""Names, numbers and lead terms of an article: the evidence of the same-event rule.

The rule itself, and what counts as a shared name or number, is documented in
`briefing.stories.assign`. Extraction details:

- *names* are runs of capitalised words (elisions such as "l'" and possessive
  "'s" taken off) and acronyms, each word keyed by `_name_key` (folded, a
  trailing "s" then "e" taken off, French acronyms mapped by `ACRONYMS`). A
  word opening a sentence is only kept when it is an acronym, part of a longer
  run, or seen as a name elsewhere in the text; a "Headline Style Title" gives
  no names;
- *numbers* are normalised by `_normalise_number`; numbers below `MIN_NUMBER`,
  bare years, clock times and numbers right after a name are left out;
- *lead terms* are the keys of the content words of the title and the first
  `LEAD_WORDS` words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from briefing.text.words import STOPWORDS, WORD, fold, terms

LEAD_WORDS = 40
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


def _key(word: str) -> str:
    """A folded name or term with a trailing "s" then "e" taken off (plural, "Pentagone")."""
    key = fold(word).strip("'’-")
    for suffix in ("s", "e"):
        if len(key) > 3 and key.endswith(suffix):
            key = key[:-1]
    return key


COMMON_KEYS = frozenset(_key(w) for w in COMMON_NAMES)


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


def title_case(title: str) -> bool:
    """True for "Headline Style Titles", where capitals do not mark names."""
    long_words = [w for w in WORD.findall(title) if len(w) > 3]
    capitalised = sum(1 for w in long_words if w[0].isupper())
    return len(long_words) >= 3 and capitalised > 0.6 * len(long_words)


def extract_names(text: str) -> tuple[str, ...]:
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


def extract_numbers(text: str) -> tuple[str, ...]:
    """Normalised numbers, leaving out clock times ("21H00", "3:30 am") and numbers in names."""
    found = set()
    for match in _NUMBER.finditer(text):
        if _CLOCK.match(text, match.end()) or _part_of_name(text, match.start()):
            continue
        found.add(_normalise_number(match.group()))
    return tuple(sorted(n for n in found if n))


def lead_terms(text: str, title: str | None) -> tuple[str, ...]:
    lead = " ".join(text.split()[:LEAD_WORDS])
    words = (re.split(r"['’]", t)[-1] for t in terms(f"{title or ''} {lead}"))
    return tuple(sorted({_key(w) for w in words if len(w) > 2 and w not in STOPWORDS}))

"""Readers and their settings, validated once for the CLI and the bot.

Times are read the English and the French way ("7:30", "07:30", "7h30", "7h", "07 h 30").
The CLI takes exact IANA zone names (`check_timezone`); what readers type is matched
leniently (`match_timezone`): an IANA name in any case ("europe/paris"), a city alone
("Paris", "new york", "Montréal") or a few French names ("Londres", "Genève"); an unknown
one is refused with the closest name as a suggestion. The default zone of a new reader
comes from their Telegram language (`zone_for_language`). What a reader follows changes
with `change_follow`, which keeps `Subscriber.feeds` in the store's encoding; its keyword
filters with `change_filters` (a phrase moves from one list to the other rather than
sitting in both).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from briefing.config import (
    DEFAULT_DIGEST_TIME,
    DEFAULT_LANGUAGES,
    DEFAULT_TIMEZONE,
    READER_LANGUAGES,
)
from briefing.errors import BadInput
from briefing.store.db import Database
from briefing.store.feeds import active_feeds
from briefing.store.subscribers import FOLDER, NOTHING, Subscriber, find, upsert
from briefing.stories.filters import MAX_PHRASES, Filters, checked_phrase, phrase_words

# 7:30, 07:30, 7.30 (minutes required), 7h30, 7h, 07 h 30, 19H45.
_TIME = re.compile(r"^(?P<hour>[01]?\d|2[0-3])\s*(?:[:.]\s*(?P<minutes>[0-5]\d)"
                   r"|[hH]\s*(?P<french>[0-5]\d)?)$")


def check_time(value: str) -> str:
    """A digest time as HH:MM from "7:30", "07:30", "7.30", "7h30", "7h" or "07 h 30";
    BadInput otherwise."""
    match = _TIME.match(value.strip())
    if not match:
        raise BadInput(f"invalid time {value!r}: use HH:MM, for example 07:30 (or 7h30)")
    minutes = match.group("minutes") or match.group("french") or "00"
    return f"{int(match.group('hour')):02d}:{minutes}"


# --- time zones ---------------------------------------------------------------------------

# Areas of the current zone names; the other names (US/Eastern, Japan, ...) are old links.
_AREAS = ("Europe", "America", "Africa", "Asia", "Atlantic", "Indian", "Pacific",
          "Australia", "Antarctica", "Arctic")
_NOT_ZONES = frozenset({"Factory", "localtime"})  # in the database, not places
# Names the readers of a French and English bot may type that no zone is named after.
_ALIASES = {
    "londres": "Europe/London", "bruxelles": "Europe/Brussels", "anvers": "Europe/Brussels",
    "liege": "Europe/Brussels", "geneve": "Europe/Zurich", "lausanne": "Europe/Zurich",
    "berne": "Europe/Zurich", "lisbonne": "Europe/Lisbon", "varsovie": "Europe/Warsaw",
    "vienne": "Europe/Vienna", "athenes": "Europe/Athens", "copenhague": "Europe/Copenhagen",
    "moscou": "Europe/Moscow", "rome": "Europe/Rome", "lyon": "Europe/Paris",
    "marseille": "Europe/Paris", "toulouse": "Europe/Paris", "bordeaux": "Europe/Paris",
    "lille": "Europe/Paris", "nantes": "Europe/Paris", "strasbourg": "Europe/Paris",
    "nice": "Europe/Paris", "rennes": "Europe/Paris", "montpellier": "Europe/Paris",
    "quebec": "America/Toronto", "ottawa": "America/Toronto", "gatineau": "America/Toronto",
    "washington": "America/New_York", "boston": "America/New_York",
    "sanfrancisco": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "alger": "Africa/Algiers", "lecaire": "Africa/Cairo", "rabat": "Africa/Casablanca",
    "beyrouth": "Asia/Beirut", "pekin": "Asia/Shanghai", "beijing": "Asia/Shanghai",
    "france": "Europe/Paris", "belgique": "Europe/Brussels", "belgium": "Europe/Brussels",
    "suisse": "Europe/Zurich", "switzerland": "Europe/Zurich",
}


class UnknownTimezone(BadInput):
    """A time zone that matches nothing; `suggestion` is the closest zone, if any."""

    def __init__(self, value: str, suggestion: str | None) -> None:
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        super().__init__(f"unknown time zone {value!r}{hint}: use Area/City, for example "
                         "Europe/Paris or America/Montreal, or a city")
        self.value = value
        self.suggestion = suggestion


def _key(text: str) -> str:
    """How a name is compared: no case, no accents, no spaces, underscores or dashes."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"[\s_\-'’.]+", "", plain)


def _preference(name: str) -> tuple[int, int, str]:
    # Deeper names first (America/Argentina/Buenos_Aires is current, America/Buenos_Aires a
    # link), then the current areas in the order above; the clocks of one city agree anyway.
    area = name.split("/")[0]
    rank = _AREAS.index(area) if area in _AREAS else len(_AREAS)
    return -name.count("/"), rank, name


@cache
def _zone_index() -> tuple[frozenset[str], dict[str, str]]:
    """The zone names, and each lookup key (full name, city, alias) with its zone."""
    names = frozenset(available_timezones()) - _NOT_ZONES
    index: dict[str, str] = {}
    for name in sorted(names, key=_preference, reverse=True):  # the preferred name wins
        index[_key(name.split("/")[-1])] = name
    index.update({_key(name): name for name in names})  # a full name beats a city
    index.update({k: v for k, v in _ALIASES.items() if v in names})
    return names, index


def check_timezone(value: str) -> str:
    """An IANA time zone name exactly (what the CLI asks for), or BadInput with an example."""
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown time zone {value!r}: use Area/City, "
                       "for example Europe/Paris or America/Montreal") from None
    return value.strip()


def match_timezone(value: str) -> str:
    """An IANA time zone from what a reader types: its name in any case ("europe/paris"),
    a city ("Paris", "Montréal", "new york") or a French name ("Londres");
    UnknownTimezone with the closest zone otherwise."""
    text = value.strip()
    names, index = _zone_index()
    if text in names:
        return text
    if not names and text:  # no zone list on this system: only exact names
        try:
            return check_timezone(text)
        except BadInput:
            raise UnknownTimezone(text, None) from None
    key = _key(text)
    if key in index:
        return index[key]
    close = difflib.get_close_matches(key, list(index), n=1, cutoff=0.75) if key else []
    raise UnknownTimezone(text, index[close[0]] if close else None)


# Countries (ISO 3166 region of a language tag) that keep one clock everywhere.
_REGION_ZONES = {
    "FR": "Europe/Paris", "BE": "Europe/Brussels", "CH": "Europe/Zurich",
    "LU": "Europe/Luxembourg", "MC": "Europe/Monaco", "DE": "Europe/Berlin",
    "AT": "Europe/Vienna", "IT": "Europe/Rome", "NL": "Europe/Amsterdam",
    "GB": "Europe/London", "IE": "Europe/Dublin", "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague", "SK": "Europe/Bratislava", "HU": "Europe/Budapest",
    "GR": "Europe/Athens", "FI": "Europe/Helsinki", "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo", "DK": "Europe/Copenhagen", "JP": "Asia/Tokyo", "KR": "Asia/Seoul",
    "IN": "Asia/Kolkata", "IL": "Asia/Jerusalem", "SG": "Asia/Singapore",
    "SN": "Africa/Dakar", "CI": "Africa/Abidjan", "CM": "Africa/Douala",
    "MA": "Africa/Casablanca", "DZ": "Africa/Algiers", "TN": "Africa/Tunis",
    "ZA": "Africa/Johannesburg",
}
# Languages every country of which (as a national language) keeps the same clock. French
# and English are not here: from Québec to Réunion, "fr" alone says nothing of the clock.
_LANGUAGE_ZONES = {
    "de": "Europe/Berlin", "it": "Europe/Rome", "pl": "Europe/Warsaw", "cs": "Europe/Prague",
    "sk": "Europe/Bratislava", "hu": "Europe/Budapest", "sl": "Europe/Ljubljana",
    "el": "Europe/Athens", "fi": "Europe/Helsinki", "et": "Europe/Tallinn",
    "lv": "Europe/Riga", "lt": "Europe/Vilnius", "bg": "Europe/Sofia", "nb": "Europe/Oslo",
    "nn": "Europe/Oslo", "no": "Europe/Oslo", "is": "Atlantic/Reykjavik",
    "ja": "Asia/Tokyo", "ko": "Asia/Seoul", "he": "Asia/Jerusalem", "th": "Asia/Bangkok",
    "vi": "Asia/Ho_Chi_Minh", "ka": "Asia/Tbilisi", "hy": "Asia/Yerevan",
}


def zone_for_language(code: str | None) -> str:
    """The time zone a Telegram language code (an IETF tag: "fr", "fr-CA", "pt-br") makes
    certain, else UTC.

    A tag with a region names the country: its zone when the whole country keeps one
    clock ("fr-FR" Europe/Paris, "en-GB" Europe/London), else UTC ("fr-CA", "en-US"). A
    language alone gives a zone only when every country speaking it keeps the same clock
    ("de" Europe/Berlin); "fr", "en", "es" do not, so they give UTC.
    """
    parts = re.split(r"[-_]", (code or "").strip())
    regions = [p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()]
    if regions:
        return _REGION_ZONES.get(regions[0], "UTC")
    return _LANGUAGE_ZONES.get(parts[0].lower(), "UTC")


def check_languages(value: str) -> str:
    """fr, en or both, or BadInput."""
    if value not in READER_LANGUAGES:
        raise BadInput(f"invalid language {value!r}: use fr, en or both")
    return value


def subscribe(db: Database, chat_id: str, time: str = DEFAULT_DIGEST_TIME,
              timezone: str = DEFAULT_TIMEZONE,
              languages: str = DEFAULT_LANGUAGES) -> tuple[Subscriber, bool]:
    """Add (or reactivate and update) a reader, settings checked; returns them and whether
    they are new (False: an existing reader was updated)."""
    return upsert(db, chat_id, digest_time=check_time(time), timezone=check_timezone(timezone),
                  languages=check_languages(languages), active=True)


# --- what a reader follows ----------------------------------------------------------------


class Follow(StrEnum):
    """What `change_follow` did."""

    FOLLOWED = "followed"
    ALREADY = "already"  # followed before: nothing changed
    UNFOLLOWED = "unfollowed"
    NOT_FOLLOWED = "not_followed"  # not followed before: nothing changed
    NOTHING_LEFT = "nothing_left"  # unfollowed the last source: follows none now
    UNKNOWN = "unknown"  # no such source


def all_sources(db: Database) -> tuple[int, ...]:
    """Every source a reader may follow: FOLDER (articles from no feed), then the active
    feeds (failing ones too: they may come back)."""
    return (FOLDER, *(feed.id for feed in active_feeds(db)))


def followed(feeds: Sequence[int], available: Iterable[int]) -> set[int]:
    """The sources among `available` that a reader's `feeds` setting follows."""
    every = set(available)
    return every if not feeds else every & set(feeds)


def encode_follows(chosen: set[int], available: Iterable[int]) -> tuple[int, ...]:
    """`Subscriber.feeds` for these followed sources: () when they are every source (feeds
    added later are then followed too), (NOTHING,) when there are none."""
    if chosen >= set(available):
        return ()
    return tuple(sorted(chosen)) if chosen else (NOTHING,)


def change_follow(db: Database, chat_id: str, source: int,
                  follow: bool) -> tuple[Follow, Subscriber | None]:
    """Follow or unfollow one source (a feed id or FOLDER) for the reader of this chat
    (created when something changes); what happened, and the reader (None when there is
    none)."""
    available = all_sources(db)
    if source not in available:
        return Follow.UNKNOWN, None
    reader = find(db, chat_id)
    current = followed(reader.feeds if reader else (), available)
    if (source in current) == follow:
        return (Follow.ALREADY if follow else Follow.NOT_FOLLOWED), reader
    chosen = current | {source} if follow else current - {source}
    saved, _ = upsert(db, chat_id, feeds=encode_follows(chosen, available))
    if follow:
        return Follow.FOLLOWED, saved
    return (Follow.UNFOLLOWED if chosen else Follow.NOTHING_LEFT), saved


class FilterAction(StrEnum):
    """What `/filters` (or the CLI) asks of a target's keyword filters."""

    INCLUDE = "include"  # add phrases a story must match one of
    EXCLUDE = "exclude"  # add phrases a story must match none of
    REMOVE = "remove"  # take phrases off either list
    CLEAR = "clear"  # no filter at all


@dataclass(frozen=True)
class FilterChange:
    """The target's filters after a change, and the phrases refused (no word, too long,
    or beyond `MAX_PHRASES`)."""

    filters: Filters
    refused: tuple[str, ...] = ()


def _merged(current: tuple[str, ...], added: Sequence[str]) -> tuple[str, ...]:
    """`current` with `added` appended, a phrase already there (up to case and accents)
    kept once."""
    seen = {phrase_words(p) for p in current}
    out = list(current)
    for phrase in added:
        if phrase_words(phrase) not in seen:
            seen.add(phrase_words(phrase))
            out.append(phrase)
    return tuple(out)


def change_filters(db: Database, chat_id: str, action: FilterAction,
                   phrases: Sequence[str]) -> FilterChange:
    """Change the keyword filters of the target at this address (created when needed)."""
    target = find(db, chat_id)
    include, exclude = (target.include, target.exclude) if target else ((), ())
    checked = [(p, checked_phrase(p)) for p in phrases if p.strip()]
    good = [c for _, c in checked if c is not None]
    refused = [p for p, c in checked if c is None]
    if action is FilterAction.CLEAR:
        include, exclude = (), ()
    elif action is FilterAction.REMOVE:
        gone = {phrase_words(p) for p in good}
        include = tuple(p for p in include if phrase_words(p) not in gone)
        exclude = tuple(p for p in exclude if phrase_words(p) not in gone)
    elif action is FilterAction.INCLUDE:
        include = _merged(include, good)
        exclude = tuple(p for p in exclude if phrase_words(p) not in set(map(phrase_words, good)))
    else:
        exclude = _merged(exclude, good)
        include = tuple(p for p in include if phrase_words(p) not in set(map(phrase_words, good)))
    refused += [*include[MAX_PHRASES:], *exclude[MAX_PHRASES:]]
    saved, _ = upsert(db, chat_id, include=include[:MAX_PHRASES], exclude=exclude[:MAX_PHRASES])
    return FilterChange(Filters(saved.include, saved.exclude), tuple(refused))

"""Readers and their settings, validated once for the CLI and the bot."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from briefing.config import (
    DEFAULT_DIGEST_TIME,
    DEFAULT_LANGUAGES,
    DEFAULT_TIMEZONE,
    READER_LANGUAGES,
)
from briefing.errors import BadInput
from briefing.store.db import Database
from briefing.store.subscribers import Subscriber, upsert

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def check_time(value: str) -> str:
    """A digest time as HH:MM, or BadInput."""
    match = _TIME.match(value.strip())
    if not match:
        raise BadInput(f"invalid time {value!r}: use HH:MM, for example 07:30")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def check_timezone(value: str) -> str:
    """An IANA time zone name, or BadInput with an example."""
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown time zone {value!r}: use Area/City, "
                       "for example Europe/Paris or America/Montreal") from None
    return value.strip()


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


def add_subscriber(db: Database, chat_id: str, time: str = DEFAULT_DIGEST_TIME,
                   timezone: str = DEFAULT_TIMEZONE, languages: str = DEFAULT_LANGUAGES) -> int:
    """`subscribe`, returning only the reader's id."""
    return subscribe(db, chat_id, time, timezone, languages)[0].id

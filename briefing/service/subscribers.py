"""Readers and their settings, validated once for the CLI and the bot."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from briefing.errors import BadInput
from briefing.store.db import Database
from briefing.store.models import SubscriberRow

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
    if value not in ("fr", "en", "both"):
        raise BadInput(f"invalid language {value!r}: use fr, en or both")
    return value


def add_subscriber(db: Database, chat_id: str, time: str = "07:30",
                   timezone: str = "Europe/Paris", languages: str = "both") -> int:
    """Add (or reactivate and update) a reader; returns their id."""
    values = (check_time(time), check_timezone(timezone), check_languages(languages))
    with db.session() as session:
        sub = session.scalars(select(SubscriberRow).where(SubscriberRow.chat_id == chat_id)).first()
        if sub is None:
            sub = SubscriberRow(chat_id=chat_id)
            session.add(sub)
        sub.digest_time, sub.timezone, sub.languages = values
        sub.active = True
        session.flush()
        return sub.id

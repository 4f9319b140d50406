"""What a message showed a reader, so that its points can be traced to their sources.

A reader asks where a point comes from by replying to a brief or a digest (or about the
last one sent to them); the bot needs that message's stories as they are now, with their
briefs and points' support, in the languages it showed them, and the number each story
bears there (a digest numbers its stories across its messages). A story withheld or
removed since is left out: it is not shown again, even to trace it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from briefing.service.digests import DigestItem, load_digest
from briefing.service.on_demand import reader_languages
from briefing.store.db import Database
from briefing.store.deliveries import sent_message


@dataclass(frozen=True)
class Shown:
    """A message's stories that may still be read, in its order, with the number each bears
    there (None when unknown) and the brief languages it showed."""

    items: tuple[DigestItem, ...]
    numbers: dict[int, int] | None
    languages: tuple[str, ...]


def shown_in(db: Database, chat_id: str, message_id: str | None, default_language: str,
             now: datetime) -> Shown | None:
    """What the message `message_id` of this chat showed (the last one with stories when it
    is None); None when that message is not known. A digest delivered is read in its own
    languages; any other message in the reader's languages of now (`default_language` for
    a reader not subscribed), since the record does not keep them: after a change of
    /lang, or for a brief sent in the other language by its button, the points numbered
    are those the reader would be shown now."""
    sent = sent_message(db, chat_id, message_id)
    if sent is None:
        return None
    languages = sent.languages or reader_languages(db, chat_id, default_language)
    digest = load_digest(db, now.date(), languages, sent.story_ids)
    return Shown(digest.items, sent.numbers, languages)

"""A story's history for a reader: the versions of its brief in the reader's language."""

from __future__ import annotations

from briefing.store.db import Database
from briefing.store.stories import BriefVersion, story_history


def versions(db: Database, story_id: int, languages: tuple[str, ...]) -> list[BriefVersion]:
    """The versions of the story's brief in the first of `languages` that has any."""
    for lang in languages:
        found = story_history(db, story_id, lang)
        if found:
            return found
    return []

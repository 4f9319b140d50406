"""How a story grew, as Telegram HTML: the answer to `/story N`.

One line per version of its brief, oldest first: when it was made (the reader's date and
time), on how many sources, which sources joined since the version before, and the
headline when it changed. The current brief is the last version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from briefing.render.labels import reader_date
from briefing.render.telegram import e
from briefing.store.stories import BriefVersion
from briefing.text.catalogue import text


def history_html(versions: Sequence[BriefVersion], zone: tzinfo, lang: str) -> str:
    """The versions of a story's brief, oldest first, as one message."""
    lines = [f"<b>{e(text('story_history_title', lang))}</b>"]
    before: tuple[str, ...] = ()
    headline = None
    for number, version in enumerate(versions, start=1):
        made = version.made_at.astimezone(zone)
        when = f"{reader_date(made.date(), lang)} {made:%H:%M}"
        line = e(text("story_version", lang, n=number, when=when, count=len(version.sources)))
        joined = [s for s in version.sources if s not in before]
        if before and joined:
            line += " — " + e(text("story_joined", lang, names=", ".join(joined)))
        lines.append(line)
        if version.headline != headline:
            lines.append(f"   <i>{e(version.headline)}</i>")
        before, headline = version.sources, version.headline
    return "\n".join(lines)

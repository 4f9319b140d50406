"""Live posts and their updates, as Telegram HTML.

A live post is the story alone, as a summary shows it (`story_parts`). An update that
edits the post is the post again, with the sources and brief of now. An update that
answers an older post is short: how many sources joined and which, and the points that
are new, never the whole brief again ("➕ 2 sources de plus : Reuters, Le Monde.
Nouveau : …").
"""

from __future__ import annotations

from collections.abc import Sequence

from briefing.render.telegram import e, point_number, telegram_parts
from briefing.service.digests import Digest, DigestItem, Part
from briefing.text.catalogue import text


def live_parts(digest: Digest, limit: int, *, bot_username: str | None = None) -> list[Part]:
    """A digest, a live post, or (with `digest.before`) the short reply of an update."""
    if digest.before is None or not digest.items:
        return telegram_parts(digest, limit, bot_username=bot_username)
    item = digest.items[0]
    return [Part(update_reply(item, digest.before.sources, digest.before.points,
                              digest.ui_language), (item.story_id,))]


def update_reply(item: DigestItem, sources_before: Sequence[str],
                 points_before: Sequence[str], lang: str) -> str:
    """What changed in a posted story since the post: the sources that joined and the
    points that are new (in the first brief of `item`)."""
    joined = [s.label for s in item.sources if s.label not in set(sources_before)]
    lines = []
    if joined:
        lines.append(e(text("live_joined", lang, count=len(joined), names=", ".join(joined))))
    brief = item.briefs[0] if item.briefs else None
    new = [p.text for p in (brief.points if brief else ()) if p.text not in set(points_before)]
    if new:
        lines.append(f"<b>{e(text('live_new', lang))}</b>")
        lines += [f"{point_number(i)} {e(p)}" for i, p in enumerate(new, start=1)]
    if not lines:
        lines.append(e(text("live_revised", lang)))
    headline = f"<i>{e(brief.headline)}</i>" if brief else ""
    return "\n".join([headline, *lines] if headline else lines)

"""Plain-text digests: for the console preview and the file channel.

One part for the header (which says how many stories a digest at its limit left out:
plain text has no button to show them), then one per story: its briefs (an untranslated
copy of a brief shown once, labelled in the reader's words), a quote of each, and its
sources. Each point ends with the source sentences it rests on, `[S1·3, S2·1]` (source
id · sentence number); each source is listed with its id ("— Le Monde [S1]").
"""

from __future__ import annotations

from briefing.render.labels import own_name, shown_once, support_marker, untranslated_label
from briefing.service.digests import Digest, DigestItem, Part


def story_text(number: int, item: DigestItem, max_quotes: int = 1) -> str:
    """One story of a digest as plain text, numbered."""
    lines = []
    for brief, original in shown_once(item.briefs):
        tag = own_name(brief.language)
        if original is not None:  # the sources' brief, offline: said in the reader's words
            tag += f", {untranslated_label(original, brief.language)}"
        lines.append(f"{number}. [{tag}] {brief.headline}")
        lines += [f"   • {point.text} {support_marker(point)}".rstrip() for point in brief.points]
        for quote in brief.quotes[:max_quotes]:
            lines.append(f"   « {quote.text} »")
            if quote.translation:
                lines.append(f"     (translation: {quote.translation})")
            elif quote.untranslated and original is None:
                lines.append("     (quote not translated)")
    lines += [f"   — {s.label} [{s.id}]{f' {s.url}' if s.url else ''}" for s in item.sources]
    return "\n".join(lines)


def render_text(digest: Digest, max_quotes: int = 1) -> list[Part]:
    """Plain-text parts of a digest: the header, then one per story."""
    header = f"Briefing — {digest.day.isoformat()}"
    if digest.more:
        many = len(digest.more)
        header += f" ({many} more {'story' if many == 1 else 'stories'} not shown)"
    parts = [Part(header)]
    parts += [Part(story_text(number, item, max_quotes), (item.story_id,))
              for number, item in enumerate(digest.items, start=1)]
    return parts

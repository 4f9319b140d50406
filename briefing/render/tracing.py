"""Where a point comes from: the answer to `/why` and to a reply "source?", as Telegram HTML.

A reader names a point by the numbers a message shows them (`briefing.render.telegram`):

- `/why 2`: point ② of the message's story. In a message of several stories (a digest
  part, a list page) a number alone could be any story's ②, so the reader is asked for
  the story too, with an example;
- `/why 3.2` (or `3,2`): point ② of the story numbered 3 in that message (a digest numbers
  its stories across its messages, a list across its pages);
- `/why` alone, or "source?": every point of the message's stories.

The answer quotes each cited sentence verbatim in a blockquote, attributed to its outlet
with the source's number (¹) and linked to the sentence in the page (`#:~:text=`) when its
URL is known; one point after another, under its story's headline. What cannot be
answered is one line: a number the message has no point or story for, a point stored
before points carried their support, a message whose stories are gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from briefing.briefs.models import Support
from briefing.render.labels import ShownPoint, cited, shown_points
from briefing.render.telegram import (
    LIMIT,
    Block,
    e,
    link,
    point_number,
    source_number,
    split_messages,
    text_fragment_url,
    ui,
    web_url,
)
from briefing.service.digests import DigestItem, SourceRef
from briefing.text.catalogue import text


@dataclass(frozen=True)
class Ask:
    """Which point a reader asks about: point `point` (None: every point) of the story
    numbered `story` in the message (None: its only story, or every story)."""

    story: int | None = None
    point: int | None = None


def _say(key: str, lang: str, **values: object) -> list[str]:
    return [e(text(key, lang, **values))]


def sentence_block(sentence: Support, source: SourceRef | None) -> str:
    """A cited sentence, verbatim, in a blockquote: "— ¹ Outlet", linked to the sentence
    in the page when its URL is known."""
    name = source.label if source is not None else sentence.source
    url = source.url if source is not None else None
    href = text_fragment_url(url, sentence.text) if url and web_url(url) else None
    return (f"<blockquote>{e(sentence.text)}\n"
            f"— {e(source_number(sentence.source))} {link(name, href)}</blockquote>")


def _point_lines(shown: ShownPoint, sources: Mapping[str, SourceRef], lang: str) -> list[str]:
    point, number = shown.point, point_number(shown.number)
    if not point.support:
        return [f"{number} <i>{e(point.text)}</i> — <i>({e(ui(lang)['untraced'])})</i>"]
    support = cited(point.support)
    # A point that is its sentence word for word (the offline engine's) is not said twice.
    verbatim = len(support) == 1 and point.text.split() == support[0].text.split()
    head = number if verbatim else f"{number} <i>{e(point.text)}</i>"
    return [head, *(sentence_block(s, sources.get(s.source)) for s in support)]


def _headline(item: DigestItem, number: int | None) -> str:
    headline = item.briefs[0].headline if item.briefs else "…"
    return f"<b>{number}. {e(headline)}</b>" if number is not None else f"<b>{e(headline)}</b>"


def trace_messages(items: Sequence[DigestItem], numbers: Mapping[int, int] | None, ask: Ask,
                   lang: str, limit: int = LIMIT) -> list[str]:
    """The messages answering `ask` about a message showing `items` (the stories still to
    be read, in its order; `numbers`: each story's number there, None when unknown), in
    the reader's language `lang`: the cited sentences, or one line saying why there are
    none."""
    if not items:
        return _say("why_gone", lang)
    several = len(items) > 1
    if ask.story is not None:
        chosen = [i for i in items if (numbers or {}).get(i.story_id) == ask.story]
        if not chosen:
            return _say("why_no_story", lang, story=ask.story)
    elif several and ask.point is not None:
        first = min((numbers or {}).get(i.story_id, 1) for i in items)
        return _say("why_which_story", lang, story=first, point=ask.point,
                    circled=point_number(ask.point))
    else:
        chosen = list(items)
    blocks: list[Block] = []
    traced = False
    for item in chosen:
        sources = {s.id: s for s in item.sources}
        points = shown_points(item.briefs)
        if ask.point is not None:
            points = [p for p in points if p.number == ask.point]
            if not points:
                return _no_point(ask.point, len(shown_points(item.briefs)), lang)
            if not points[0].point.support:
                return _say("why_untraced", lang, point=point_number(ask.point))
        number = numbers.get(item.story_id) if numbers is not None and several else None
        lines = [_headline(item, number)]
        for shown in points:
            lines += _point_lines(shown, sources, lang)
            traced = traced or bool(shown.point.support)
        blocks.append((lines, [item.story_id]))
    if not traced:
        return _say("why_untraced_all", lang)
    return [message for message, _ids in split_messages(blocks, limit)]


def _no_point(asked: int, count: int, lang: str) -> list[str]:
    if count == 0:
        return _say("why_no_points", lang)
    if count == 1:
        return _say("why_no_point_one", lang, point=asked)
    return _say("why_no_point_many", lang, point=asked, last=point_number(count))

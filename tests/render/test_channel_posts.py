"""A digest posted in a channel: no buttons, quotes and sources linked, each story ending with
a deep link to a private chat with the bot; and that link's `/start` payload read back."""

from __future__ import annotations

from datetime import date

import pytest

from briefing.briefs.models import Brief, Point, Quote, Support
from briefing.render.telegram import story_link, story_start, telegram_parts
from briefing.service.digests import Digest, DigestItem, SourceRef
from tests.fakes.telegram_html import parse_html

BOT = "briefing_test_bot"


def item(story_id: int) -> DigestItem:
    quote = f"Les travaux du chantier {story_id} coûteront plus cher"
    point = Point(f"Le chantier {story_id} prend du retard.",
                  (Support("S1", 1, 0, len(quote), quote),))
    brief = Brief("fr", f"Chantier {story_id}", (point,),
                  (Quote(quote, "S1", 0, len(quote), point.text),))
    url = f"https://news.example/{story_id}"
    return DigestItem(story_id, (brief,), (SourceRef("S1", "Le Journal", None, url),))


def digest(*, in_channel: bool, stories: int = 3, more: tuple[int, ...] = ()) -> Digest:
    return Digest(date(2026, 12, 2), ("fr",), tuple(item(i) for i in range(1, stories + 1)),
                  more=more, delivery_id=7, interface="fr", in_channel=in_channel)


def test_a_channel_post_has_no_buttons_and_a_deep_link_ending_each_story() -> None:
    parts = telegram_parts(digest(in_channel=True, more=(9, 10)), bot_username=BOT)
    assert parts and all(part.keyboard == () for part in parts)  # not even "see the others"
    text = "\n".join(part.text for part in parts)
    for story in (1, 2, 3):
        link = f'<a href="https://t.me/{BOT}?start=story_{story}">❓ Poser une question</a>'
        assert link in text
        block = text.split(f"<b>{story}.</b>", 1)[1]
        # The link ends its story: after its quote and its sources line, before the next.
        assert block.index("<blockquote>") < block.index("Sources") < block.index(link)
        assert f'href="https://news.example/{story}#:~:text=' in block
    for part in parts:
        parse_html(part.text)


def test_a_private_digest_keeps_its_buttons_and_has_no_deep_link() -> None:
    parts = telegram_parts(digest(in_channel=False), bot_username=BOT)
    assert "t.me/" not in "\n".join(part.text for part in parts)
    data = [b.data for part in parts for row in part.keyboard for b in row if b.data]
    assert "story:1:ask" in data


def test_a_channel_post_speaks_the_channels_language_and_goes_without_a_username() -> None:
    english = telegram_parts(Digest(date(2026, 12, 2), ("en",), (item(1),), interface="en",
                                    in_channel=True), bot_username=BOT)
    assert "❓ Ask about it" in english[0].text
    unknown = telegram_parts(digest(in_channel=True), bot_username=None)
    assert "t.me/" not in unknown[0].text and unknown[0].keyboard == ()


def test_a_long_channel_post_is_split_with_every_link_whole() -> None:
    parts = telegram_parts(digest(in_channel=True, stories=12), limit=700, bot_username=BOT)
    assert len(parts) > 1
    text = "\n".join(part.text for part in parts)
    assert all(text.count(f"?start=story_{i}\"") == 1 for i in range(1, 13))
    for part in parts:
        parse_html(part.text)


@pytest.mark.parametrize(("payload", "story"), [
    ("story_12", 12), ("story_", None), ("story_1a", None), ("12", None), ("ref_12", None),
    ("story_-3", None),
])
def test_the_start_payload_is_read_back(payload: str, story: int | None) -> None:
    assert story_start(payload) == story


def test_a_story_link_round_trips_within_telegrams_start_limit() -> None:
    link = story_link(BOT, 2_147_483_647)
    payload = link.split("?start=", 1)[1]
    assert story_start(payload) == 2_147_483_647 and len(payload) <= 64

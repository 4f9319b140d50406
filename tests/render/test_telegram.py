"""Telegram HTML: any article text renders to messages Telegram accepts, split safely."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from briefing.render.telegram import LIMIT, digest_messages, split_messages, text_fragment_url
from tests.fakes.telegram_html import parse_html, utf16_len

NASTY = st.sampled_from(["<b>", "</i>", "<script>", "&", "&amp;", "&nbsp;", "<", ">", '"',
                         "😀", "\u200f", "\u200b", "\u202e", "עברית", "مرحبا", "e\u0301", "\n"])
TEXT = st.lists(st.one_of(NASTY, st.text(min_size=1, max_size=12)), min_size=1,
                max_size=30).map("".join).filter(lambda s: s.strip() != "")


def item(i: int, headline: str, point: str, quote: str, outlet: str) -> dict[str, Any]:
    brief = {"language": "fr", "headline": headline, "points": [point, point],
             "quotes": [{"text": quote, "source": "S1", "translation": point}]}
    return {"story_id": i, "briefs": [brief],
            "sources": [(outlet, f"https://news.example/a?x=1&y=<{i}>")],
            "source_details": [{"id": "S1", "outlet": outlet, "title": headline,
                                "url": f"https://news.example/a?q={i}&r=2"}]}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT), min_size=1, max_size=12))
def test_any_text_renders_to_messages_telegram_accepts(rows: list[tuple[str, ...]]) -> None:
    items = [item(i, *row) for i, row in enumerate(rows)]
    messages = digest_messages(items, "22/11", "fr")
    covered: list[int] = []
    for text, stories in messages:
        plain, _entities = parse_html(text)  # raises on anything Telegram would refuse
        assert 0 < utf16_len(plain) <= LIMIT
        covered += stories
    assert sorted(set(covered)) == list(range(len(rows)))


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(50, 4000))
def test_long_digests_split_on_story_boundaries(stories: int, size: int) -> None:
    blocks = [([f"<b>{i}</b>", "x" * size], [i]) for i in range(stories)]
    messages = split_messages(blocks)
    for text, ids in messages:
        assert len(text) <= LIMIT
        parse_html(text)
        if size < LIMIT - 20:  # a story that fits is never cut in two
            assert all(f"<b>{i}</b>" in text for i in ids)
    assert [i for _, ids in messages for i in ids] == list(range(stories))


def test_a_story_longer_than_a_message_is_cut_between_lines() -> None:
    lines = [f"• {'mot ' * 200}{i}" for i in range(10)]
    messages = split_messages([(lines, [7])])
    assert len(messages) > 1 and all(ids == [7] for _, ids in messages)
    assert "\n".join(t for t, _ in messages).count("•") == 10


def test_text_fragment_links_encode_the_quote() -> None:
    url = text_fragment_url("https://news.example/a#top", "Le ministère s'oppose, fermement - "
                            "à ce que de hauts responsables du Pentagone déposent")
    assert url.startswith("https://news.example/a#:~:text=Le%20minist%C3%A8re")
    assert "," in url.split("text=", 1)[1]  # start,end form for a long quote
    assert "-" not in url.split("text=", 1)[1]


def test_an_untranslated_quote_is_marked_in_the_readers_language() -> None:
    from briefing.render.telegram import brief_lines

    quote = {"text": "Nous irons jusqu'au bout", "source": "S1", "translation": None,
             "untranslated": True}
    english = {"language": "en", "headline": "Amazon sues", "points": [], "quotes": [quote]}
    assert "(quote not translated)" in "\n".join(brief_lines(english, {}))
    french = {**english, "language": "fr"}
    assert "(citation non traduite)" in "\n".join(brief_lines(french, {}))
    # A brief shown untranslated as a whole says so once, not again under each quote.
    whole = {**english, "original_language": "fr"}
    html = "\n".join(brief_lines(whole, {}))
    assert "untranslated — in French" in html and "quote not translated" not in html

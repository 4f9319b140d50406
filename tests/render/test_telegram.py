"""Telegram HTML: any article text renders to messages Telegram accepts, split safely.

Telegram's 4,096 counts UTF-16 code units of the text after entity parsing: the tests
check every message with the fake Bot API's parser (`tests.fakes.telegram_html`).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from briefing.briefs.models import Brief, Point, Quote, Support
from briefing.render.telegram import (
    LIMIT,
    Block,
    brief_lines,
    digest_messages,
    fitting,
    split_messages,
    telegram_length,
    text_fragment_url,
)
from briefing.service.digests import DigestItem, SourceRef
from tests.fakes.telegram_html import parse_html, utf16_len

NASTY = st.sampled_from(["<b>", "</i>", "<script>", "&", "&amp;", "&nbsp;", "<", ">", '"',
                         "😀", "\u200f", "\u200b", "\u202e", "עברית", "مرحبا", "e\u0301", "\n"])
TEXT = st.lists(st.one_of(NASTY, st.text(min_size=1, max_size=12)), min_size=1,
                max_size=30).map("".join).filter(lambda s: s.strip() != "")
# Characters that weigh two UTF-16 units (or several code points) for one on screen.
FLAGS = ["🇫🇷", "🇬🇧", "🇨🇦", "🇩🇪"]
WIDE = st.sampled_from([*FLAGS, "👍🏽", "𝔘", "😀", "👩‍👩‍👧", "❤️", "é", "a", " ", "&", "<"])
WIDE_TEXT = st.lists(WIDE, min_size=1, max_size=3000).map("".join)


def item(i: int, headline: str, point: str, quote: str, outlet: str) -> DigestItem:
    # One point cites the quote's text as its sentence (any text ends up in a link's
    # fragment), the other predates support (no mark).
    cited = Point(point, (Support("S1", 1, 0, len(quote), quote),))
    brief = Brief("fr", headline, (cited, Point(point, ())),
                  (Quote(quote, "S1", 0, len(quote), point),))
    return DigestItem(i, (brief,), (SourceRef("S1", outlet, headline,
                                              f"https://news.example/a?q={i}&r=<2>"),))


def parsed(message: str) -> str:
    """The text Telegram shows for a message; raises on anything Telegram would refuse."""
    plain, _entities = parse_html(message)
    return plain


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT), min_size=1, max_size=12))
def test_any_text_renders_to_messages_telegram_accepts(rows: list[tuple[str, ...]]) -> None:
    items = [item(i, *row) for i, row in enumerate(rows)]
    messages = digest_messages(items, "22/11", "fr")
    covered: list[int] = []
    for text, stories in messages:
        assert 0 < utf16_len(parsed(text)) <= LIMIT
        covered += stories
    assert sorted(set(covered)) == list(range(len(rows)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(WIDE_TEXT, WIDE_TEXT), min_size=1, max_size=8),
       st.sampled_from([LIMIT, 500, 64]))
def test_emoji_and_astral_text_fits_telegrams_utf16_limit(
    rows: list[tuple[str, str]], limit: int
) -> None:
    """Every message is within the limit as Telegram counts it, and cuts fall between
    characters: never inside a surrogate pair (a strict UTF-16 encode would fail), a flag
    (regional indicators stay paired) or a tag (the fake parser would refuse it)."""
    items = [item(i, headline, point, point, "Le Monde") for i, (headline, point)
             in enumerate(rows)]
    messages = digest_messages(items, "22/11", "fr", limit=limit)
    for text, _stories in messages:
        plain = parsed(text)
        assert utf16_len(plain) <= limit
        assert telegram_length(text) == utf16_len(plain)  # our count is Telegram's
        plain.encode("utf-16-le")  # strict: a lone surrogate raises
        flags = sum(1 for char in plain if 0x1F1E6 <= ord(char) <= 0x1F1FF)
        assert flags % 2 == 0


@settings(max_examples=100, deadline=None)
@given(WIDE_TEXT, st.integers(0, 5000))
def test_a_cut_fits_the_units_and_keeps_whole_characters(text: str, units: int) -> None:
    cut = fitting(text, units)
    assert utf16_len(text[:cut]) <= units
    if cut < len(text):  # never between a character and what belongs to it
        assert text[cut] not in "\u200d\ufe0f" and not 0x1F3FB <= ord(text[cut]) <= 0x1F3FF
        flags_before = sum(1 for c in text[:cut] if 0x1F1E6 <= ord(c) <= 0x1F1FF)
        assert flags_before % 2 == 0


def test_the_limit_counts_parsed_text_not_markup() -> None:
    """2,000 '&' are 10,000 characters of markup but 2,000 on Telegram: one message; 2,100
    '𝔘' are 2,100 Python characters but 4,200 UTF-16 units: too long for one."""
    ampersands: list[Block] = [(["&amp;" * 2000], [1])]
    assert len(split_messages(ampersands)) == 1
    astral: list[Block] = [(["𝔘" * 1050], [1]), (["𝔘" * 1050], [2])]
    messages = split_messages(astral)
    assert [ids for _, ids in messages] == [[1], [2]]
    assert all(utf16_len(parsed(text)) <= LIMIT for text, _ in messages)


def test_one_enormous_line_is_cut_to_the_limit_as_telegram_counts() -> None:
    line = "<b>" + "🇫🇷 👍🏽 &amp; " * 2000 + "</b>"
    [(text, ids)] = split_messages([([line], [3])])
    plain = parsed(text)
    assert ids == [3] and plain.endswith("…")
    assert LIMIT - 8 <= utf16_len(plain) <= LIMIT  # nearly full: counted in units, not markup
    assert ("🇫🇷 👍🏽 & " * 2000).startswith(plain[:-1])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(50, 4000))
def test_long_digests_split_on_story_boundaries(stories: int, size: int) -> None:
    blocks: list[Block] = [([f"<b>{i}</b>", "x" * size], [i]) for i in range(stories)]
    messages = split_messages(blocks)
    for text, ids in messages:
        assert utf16_len(parsed(text)) <= LIMIT
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
    quote = Quote("Nous irons jusqu'au bout", "S1", 0, 24, untranslated=True)
    english = Brief("en", "Amazon sues", (), (quote,))
    assert "(quote not translated)" in "\n".join(brief_lines(english, {}))
    french = Brief("fr", "Amazon sues", (), (quote,))
    assert "(citation non traduite)" in "\n".join(brief_lines(french, {}))
    # A brief shown untranslated as a whole has its headline marked, and no quote again.
    whole = Brief("en", "Amazon sues", (), (quote,), original_language="fr")
    html = "\n".join(brief_lines(whole, {}))
    assert "<b>Amazon sues</b> <i>(in French)</i>" in html and "quote not translated" not in html


def test_quotes_are_attributed_to_their_typed_source() -> None:
    quote = Quote("un vote historique", "S2", 0, 18, translation="a historic vote")
    brief = Brief("en", "The council votes", (Point("Work starts in September.", ()),), (quote,))
    sources = {"S2": SourceRef("S2", "Le Progrès", "Budget", "https://leprogres.example/b")}
    html = "\n".join(brief_lines(brief, sources))
    parse_html(html)
    assert '<a href="https://leprogres.example/b#:~:text=un%20vote%20historique">Le Progrès</a>' \
        in html and "Translation: a historic vote" in html

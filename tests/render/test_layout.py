"""What a Telegram reader sees around the stories: the digest's header and its "(suite)",
the "N more" and its button, flags and quotes for a reader of both languages, the
untranslated notice once per message, list pages, and buttons within Telegram's limits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from briefing.briefs.models import Brief, Point, Quote
from briefing.render.labels import reader_date
from briefing.render.telegram import (
    LATEST,
    LEFT_OUT,
    LIMIT,
    MAX_BUTTONS,
    MAX_CALLBACK_BYTES,
    StoryAction,
    list_parts,
    more_target,
    page_target,
    story_action,
    story_parts,
    telegram_parts,
)
from briefing.service.digests import Digest, DigestItem, Keyboard, Part, SourceRef
from tests.fakes.telegram_html import parse_html, utf16_len

DAY = date(2026, 12, 2)
QUOTE = Quote("un vote historique", "S1", 0, 18)


def story(story_id: int, *, languages: tuple[str, ...] = ("fr",), sources: int = 1,
          original: str | None = None, words: int = 8, published: datetime | None = None,
          ) -> DigestItem:
    briefs = tuple(Brief(lang, f"Titre {story_id} {lang}", (Point(" ".join(["mot"] * words), ()),),
                         (QUOTE, Quote(f"autre {lang}", "S1", 0, 7)), original_language=original)
                   for lang in languages)
    refs = tuple(SourceRef(f"S{i}", f"Outlet {i}", None, f"https://news.example/{story_id}/{i}")
                 for i in range(1, sources + 1))
    return DigestItem(story_id, briefs, refs, published)


def digest(items: list[DigestItem], **fields: Any) -> Digest:
    languages = fields.pop("languages", ("fr",))
    return Digest(DAY, languages, tuple(items), **fields)


def buttons(keyboard: Keyboard) -> list[Any]:
    return [button for row in keyboard for button in row]


def accepted(parts: list[Part]) -> None:
    """Every part is HTML Telegram takes, within its limits (text, buttons, data)."""
    for part in parts:
        plain, _entities = parse_html(part.text)
        assert 0 < utf16_len(plain) <= LIMIT
        assert len(buttons(part.keyboard)) <= MAX_BUTTONS
        for button in buttons(part.keyboard):
            assert (button.url is None) != (button.data is None)
            if button.data is not None:
                assert len(button.data.encode()) <= MAX_CALLBACK_BYTES


def test_the_header_writes_the_day_the_readers_way() -> None:
    assert (reader_date(DAY, "fr"), reader_date(DAY, "en")) == ("2 décembre", "2 December")
    assert reader_date(date(2027, 1, 1), "fr") == "1er janvier"
    french = telegram_parts(digest([story(1)]))
    assert french[0].text.startswith("<b>Votre briefing du 2 décembre</b>")
    # A reader of both languages with an English interface: the header speaks English.
    english = telegram_parts(digest([story(1, languages=("fr", "en"))],
                                    languages=("fr", "en"), interface="en"))
    assert english[0].text.startswith("<b>Your briefing for 2 December</b>")


def test_a_continued_part_says_so_in_its_header() -> None:
    items = [story(i, words=60) for i in range(1, 13)]
    parts = telegram_parts(digest(items), limit=1500)
    accepted(parts)
    assert len(parts) > 2
    assert "(suite)" not in parts[0].text
    assert all(p.text.startswith("<b>Votre briefing du 2 décembre (suite)</b>")
               for p in parts[1:])
    covered = [s for p in parts for s in p.stories]
    assert sorted(set(covered)) == list(range(1, 13))
    english = telegram_parts(digest(items, interface="en"), limit=1500)
    assert english[1].text.startswith("<b>Your briefing for 2 December (continued)</b>")


def test_a_digest_at_its_limit_says_how_many_more_with_a_button() -> None:
    items = [story(i) for i in range(1, 4)]
    parts = telegram_parts(digest(items, more=tuple(range(10, 22)), delivery_id=7))
    accepted(parts)
    last = parts[-1]
    assert "… et 12 autres histoires." in last.text
    assert buttons(last.keyboard)[-1].data == "more:d7"
    assert buttons(last.keyboard)[-1].text == "➕ Voir les 12 autres"
    now = telegram_parts(digest(items, more=(10,), interface="en"))
    assert "… and 1 more story." in now[-1].text
    assert buttons(now[-1].keyboard)[-1].data == "more:m"  # asked for now: no outbox row
    many = telegram_parts(digest(items, more=tuple(range(100, 201))))
    assert "plus de 100 autres histoires" in many[-1].text
    assert all("more:" not in str(buttons(p.keyboard)) for p in
               telegram_parts(digest(items)))  # nothing left out: no button


def test_a_reader_of_both_languages_sees_flags_and_each_quote_once() -> None:
    item = story(1, languages=("fr", "en"))
    [part] = telegram_parts(digest([item], languages=("fr", "en")))
    text = part.text
    assert "🇫🇷 <b>Titre 1 fr</b>" in text and "🇬🇧 <b>Titre 1 en</b>" in text
    assert text.count("un vote historique") == 1  # the English brief shows its other quote
    assert "autre en" in text
    assert "<b>1.</b>" in text and text.count("<b>1.</b>") == 1
    # A reader of one language: no flag, and a button for the other language instead.
    [single] = telegram_parts(digest([story(1)]))
    assert "🇫🇷" not in single.text
    assert [b.data for b in buttons(single.keyboard)][:2] == ["story:1:ask", "story:1:en"]
    assert "story:1:en" not in str(buttons(part.keyboard))


def test_untranslated_headlines_are_marked_and_the_notice_said_once_per_message() -> None:
    items = [story(1, languages=("en",), original="fr"), story(2, languages=("en",),
                                                               original="fr")]
    [part] = telegram_parts(digest(items, languages=("en",)))
    assert "<b>Titre 1 en</b> <i>(in French)</i>" in part.text
    assert "<b>Titre 2 en</b> <i>(in French)</i>" in part.text
    assert part.text.count("Not translated") == 1 and "untranslated —" not in part.text
    # The English brief is the French text: no button offers "the French version".
    assert "story:1:fr" not in str(buttons(part.keyboard))
    parts = telegram_parts(digest([story(i, languages=("en",), original="fr", words=80)
                                   for i in range(1, 9)], languages=("en",)), limit=1500)
    accepted(parts)
    assert len(parts) > 1 and all(p.text.count("Not translated") == 1 for p in parts[1:])
    assert "Not translated" not in telegram_parts(digest([story(1)]))[0].text


def test_each_story_of_a_message_gets_its_row_of_buttons() -> None:
    items = [story(5, sources=3), story(6, sources=1)]
    [_header_and_both] = parts = telegram_parts(digest(items))
    rows = parts[0].keyboard
    assert [[b.text for b in row] for row in rows] == [
        ["❓ 1", "🇬🇧 1", "🔗 1. Outlet 1", "🔗 1. Outlet 2"],  # two source links at most
        ["❓ 2", "🇬🇧 2", "🔗 2. Outlet 1"]]
    assert rows[0][2].url == "https://news.example/5/1"
    assert [b.data for b in rows[1][:2]] == ["story:6:ask", "story:6:en"]


def test_buttons_stay_within_telegrams_limits_however_many_stories() -> None:
    huge = 10 ** 15  # ids far beyond any store's: the data still fits 64 bytes
    items = [story(huge + i, sources=3, words=1) for i in range(30)]
    parts = telegram_parts(digest(items, more=tuple(range(1, 300)), delivery_id=huge))
    accepted(parts)
    assert len(parts) == 1  # thirty short stories in one message ...
    keyboard = parts[0].keyboard
    assert len(buttons(keyboard)) <= MAX_BUTTONS  # ... cannot all have four buttons:
    assert all(len(row) == 3 for row in keyboard[:-1])  # one source link each, not two
    assert buttons(keyboard)[-1].data == f"more:d{huge}"  # the "more" row is never dropped
    tiny = [DigestItem(i, (Brief("fr", "T", (Point("m", ()),), ()),), story(i, sources=2).sources)
            for i in range(1, 81)]
    [part] = telegram_parts(digest(tiny))
    accepted([part])
    assert all(b.url is None for b in buttons(part.keyboard))  # then no link at all,
    assert len(part.keyboard) == MAX_BUTTONS // 2  # then the last stories lose their row
    assert part.keyboard[-1][0].data == "story:50:ask"


def test_a_list_pages_stories_numbered_across_pages_with_arrows() -> None:
    published = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # already 2 December in Paris
    items = [story(i, published=published) for i in range(1, 13)]
    pages = list_parts(items, LATEST, "fr", ("fr",), zone=ZoneInfo("Europe/Paris"))
    accepted(pages)
    assert len(pages) == 3 and [len(p.stories) for p in pages] == [5, 5, 2]
    assert pages[0].text.startswith("<b>Les 12 dernières histoires</b> · page 1 sur 3")
    assert "<b>6.</b>" in pages[1].text and "<b>5.</b>" not in pages[1].text
    assert "<i>2 décembre</i>" in pages[0].text
    navigation = [[b.data for b in p.keyboard[-1]] for p in pages]
    assert navigation == [["page:l:1"], ["page:l:0", "page:l:2"], ["page:l:1"]]
    assert [b.text for b in pages[1].keyboard[0]][:2] == ["❓ 6", "🇬🇧 6"]
    [one] = list_parts(items[:1], LEFT_OUT, "en", ("en",))
    assert one.text.startswith("<b>More from your briefing: 1 story</b>\n")
    assert "page" not in one.text and "page:" not in str(buttons(one.keyboard))


def test_a_story_alone_has_full_buttons_that_turn_it_in_place() -> None:
    [part] = story_parts(story(3, sources=4), "fr", ("fr",))
    accepted([part])
    first, links = part.keyboard
    assert [(b.text, b.data) for b in first] == [("❓ Poser une question", "story:3:ask"),
                                                 ("🇬🇧 En anglais", "story:3:en:edit")]
    assert [b.text for b in links] == ["🔗 Outlet 1", "🔗 Outlet 2", "🔗 Outlet 3"]
    [english] = story_parts(story(3, languages=("en",)), "fr", ("en",))
    assert english.keyboard[0][1].data == "story:3:fr:edit"  # and back


def test_button_data_is_read_back_and_junk_refused() -> None:
    assert story_action("story:12:ask") == StoryAction(12, None)
    assert story_action("story:12:en") == StoryAction(12, "en")
    assert story_action("story:12:fr:edit") == StoryAction(12, "fr", edit=True)
    for junk in ("story:x:en", "story:12:de", "story:12:en:now", "story:12", "page:l:1"):
        assert story_action(junk) is None
    assert more_target("more:d41") == (True, 41) and more_target("more:m") == (True, None)
    assert more_target("more:x") is None and more_target("page:l:1") is None
    assert page_target("page:m:3") == ("m", 3)
    assert page_target("page:q:3") is None and page_target("page:l:-1") is None


def test_plain_text_says_how_many_stories_it_left_out() -> None:
    from briefing.render.text import render_text

    assert render_text(digest([story(1)], more=(4, 5)))[0].text == \
        "Briefing — 2026-12-02 (2 more stories not shown)"
    assert render_text(digest([story(1)]))[0].text == "Briefing — 2026-12-02"

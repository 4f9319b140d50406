"""Readers can trace every point: in Telegram a numbered point ends with a small number per
source, linked to the cited sentence in the page; the terminal and plain text write the
sentences as [S1·3]; /why answers quote the sentences verbatim, or say in one line why not.

Expected links are written out by hand from the text-fragment syntax (words percent-encoded,
`-` as %2D, the first and last four words of a long sentence), not computed by the code.
"""

from __future__ import annotations

import io
import re
from datetime import date

from rich.console import Console

from briefing.briefs.models import Brief, CitationCounts, Point, Quote, Result, Support
from briefing.llm.usage import Usage
from briefing.render.labels import shown_points
from briefing.render.telegram import story_parts, telegram_parts
from briefing.render.terminal import render_terminal
from briefing.render.text import render_text
from briefing.render.tracing import Ask, trace_messages
from briefing.service.digests import Digest, DigestItem, SourceRef
from briefing.sources.models import Document, Story
from tests.fakes.telegram_html import parse_html

S1_TEXT = ("Le conseil municipal a voté mardi. Le pont rouvrira en mai. Les travaux de "
           "renforcement du tablier ont coûté 12 millions d'euros à la ville et à la région.")
S2_TEXT = "Selon la préfecture, la circulation reprendra le 3 mai. Rien d'autre."
BRIDGE = "Le pont rouvrira en mai."  # S1, sentence 2
COST = ("Les travaux de renforcement du tablier ont coûté 12 millions d'euros à la ville et à "
        "la région.")  # S1, sentence 3
TRAFFIC = "Selon la préfecture, la circulation reprendra le 3 mai."  # S2, sentence 1
BRIDGE_URL = "https://ville.example/pont#:~:text=Le%20pont%20rouvrira%20en%20mai."
COST_URL = ("https://ville.example/pont#:~:text=Les%20travaux%20de%20renforcement,"
            "et%20%C3%A0%20la%20r%C3%A9gion.")
TRAFFIC_URL = ("https://prefecture.example/a#:~:text=Selon%20la%20pr%C3%A9fecture%2C%20la,"
               "reprendra%20le%203%20mai.")


def support(source: str, sentence: int, text: str) -> Support:
    body = S1_TEXT if source == "S1" else S2_TEXT
    start = body.index(text)
    return Support(source, sentence, start, start + len(text), text)


REOPENS = Point("Le pont rouvre en mai, la circulation le 3 mai.",
                (support("S2", 1, TRAFFIC), support("S1", 2, BRIDGE)))
COSTS = Point("Les travaux ont coûté 12 millions d'euros.", (support("S1", 3, COST),))
OLD = Point("Un point écrit avant les sources.", ())
SOURCES = (SourceRef("S1", "Le Courrier", "Le pont", "https://ville.example/pont"),
           SourceRef("S2", "Préfecture", None, "https://prefecture.example/a"))


def fr_brief(*points: Point) -> Brief:
    return Brief("fr", "Le pont rouvre", points, (Quote(BRIDGE, "S1", 35, 59),))


def item(*briefs: Brief, sources: tuple[SourceRef, ...] = SOURCES, story_id: int = 1
         ) -> DigestItem:
    return DigestItem(story_id, briefs, sources)


def html_of(story: DigestItem, languages: tuple[str, ...] = ("fr",)) -> str:
    [part] = story_parts(story, "fr", languages)
    parse_html(part.text)
    return part.text


def test_each_point_is_numbered_and_links_each_source_to_its_sentence() -> None:
    text = html_of(item(fr_brief(REOPENS, COSTS)))
    # Two sources: one mark each, in source order whatever order the support came in.
    assert (f'① Le pont rouvre en mai, la circulation le 3 mai. <a href="{BRIDGE_URL}">¹</a> '
            f'<a href="{TRAFFIC_URL}">²</a>') in text
    assert f'② Les travaux ont coûté 12 millions d\'euros. <a href="{COST_URL}">¹</a>' in text
    # The sources line carries the same numbers.
    assert ('<i>Sources</i> : ¹ <a href="https://ville.example/pont">Le Courrier</a>, '
            '² <a href="https://prefecture.example/a">Préfecture</a>') in text


def test_two_sentences_of_one_source_are_one_mark_opening_both() -> None:
    both = Point("Le pont rouvre en mai après 12 millions d'euros de travaux.",
                 (support("S1", 3, COST), support("S1", 2, BRIDGE)))
    text = html_of(item(fr_brief(both)))
    fragment = ("#:~:text=Le%20pont%20rouvrira%20en%20mai.&text=Les%20travaux%20de%20renforcement,"
                "et%20%C3%A0%20la%20r%C3%A9gion.")
    # In the HTML the directives' "&" is escaped; the link Telegram makes of it is not.
    assert f'<a href="https://ville.example/pont{fragment.replace("&", "&amp;")}">¹</a>' in text
    _plain, entities = parse_html(text)
    assert f"https://ville.example/pont{fragment}" in [x.get("url") for x in entities]
    assert text.count("¹") == 2  # the point's mark and the sources line's


def test_a_source_without_url_keeps_its_number_unlinked_and_an_old_point_has_none() -> None:
    files = (SourceRef("S1", "pont.txt"), SourceRef("S2", "prefecture.txt"))
    text = html_of(item(fr_brief(REOPENS, OLD), sources=files))
    assert "① Le pont rouvre en mai, la circulation le 3 mai. ¹ ²\n" in text
    assert "② Un point écrit avant les sources.\n" in text
    assert "<a " not in text.split("<blockquote>")[0]  # nothing to link to
    assert "<i>Sources</i> : ¹ pont.txt, ² prefecture.txt" in text


def test_a_reader_of_both_languages_sees_the_english_points_numbered_after_the_french() -> None:
    english = Brief("en", "The bridge reopens",
                    (Point("The bridge reopens in May.", (support("S1", 2, BRIDGE),)),
                     Point("The works cost 12 million euros.", (support("S1", 3, COST),))), ())
    story = item(fr_brief(REOPENS, COSTS), english)
    text = html_of(story, ("fr", "en"))
    assert text.index("🇫🇷") < text.index("①") < text.index("②") < text.index("🇬🇧")
    assert f'③ The bridge reopens in May. <a href="{BRIDGE_URL}">¹</a>' in text
    assert f'④ The works cost 12 million euros. <a href="{COST_URL}">¹</a>' in text
    # The numbering /why reads back is the one shown.
    assert [(p.number, p.brief.language) for p in shown_points(story.briefs)] == [
        (1, "fr"), (2, "fr"), (3, "en"), (4, "en")]


def test_a_digest_numbers_points_within_each_story_and_stays_valid_html() -> None:
    stories = [item(fr_brief(REOPENS, COSTS), story_id=i) for i in (1, 2)]
    [part] = telegram_parts(Digest(date(2026, 12, 2), ("fr",), tuple(stories)))
    parse_html(part.text)
    assert part.text.count("①") == 2 and part.text.count("②") == 2
    assert "③" not in part.text


def test_terminal_marks_each_point_with_its_sentences() -> None:
    story = Story((Document("S1", S1_TEXT, "fr", outlet="Le Courrier"),
                   Document("S2", S2_TEXT, "fr", outlet="Préfecture")))
    result = Result(story, {"fr": fr_brief(REOPENS, COSTS, OLD)}, "llm", "m", Usage(),
                    CitationCounts())
    out = io.StringIO()
    render_terminal(result, Console(file=out, width=200))
    text = out.getvalue()
    assert "• Le pont rouvre en mai, la circulation le 3 mai. [S1·2, S2·1]" in text
    assert "• Les travaux ont coûté 12 millions d'euros. [S1·3]" in text
    assert re.search(r"• Un point écrit avant les sources\.\s+│", text)
    assert "[]" not in text


def test_plain_text_marks_each_point_and_names_each_source_by_its_id() -> None:
    digest = Digest(date(2026, 12, 2), ("fr",), (item(fr_brief(REOPENS, COSTS, OLD)),))
    text = "\n".join(p.text for p in render_text(digest))
    assert "   • Le pont rouvre en mai, la circulation le 3 mai. [S1·2, S2·1]\n" in text
    assert "   • Les travaux ont coûté 12 millions d'euros. [S1·3]\n" in text
    assert "   • Un point écrit avant les sources.\n" in text
    assert "   — Le Courrier [S1] https://ville.example/pont" in text
    assert "   — Préfecture [S2] https://prefecture.example/a" in text


# --- /why ----------------------------------------------------------------------------------


def test_why_quotes_the_cited_sentences_of_one_point_verbatim() -> None:
    [message] = trace_messages([item(fr_brief(REOPENS, COSTS))], {1: 1}, Ask(None, 1), "fr")
    parse_html(message)
    assert message.startswith("<b>Le pont rouvre</b>\n① <i>Le pont rouvre en mai, la")
    assert (f'<blockquote>{BRIDGE}\n— ¹ <a href="{BRIDGE_URL}">Le Courrier</a></blockquote>'
            in message)
    assert (f'<blockquote>{TRAFFIC}\n— ² <a href="{TRAFFIC_URL}">Préfecture</a></blockquote>'
            in message)
    assert COST not in message


def test_why_alone_quotes_every_point_and_a_story_is_named_by_its_number() -> None:
    stories = [item(fr_brief(REOPENS), story_id=7),
               item(Brief("fr", "Les travaux", (COSTS,), ()), story_id=8)]
    [every] = trace_messages(stories, {7: 4, 8: 5}, Ask(), "en")
    assert "<b>4. Le pont rouvre</b>" in every and "<b>5. Les travaux</b>" in every
    assert BRIDGE in every and TRAFFIC in every and COST in every
    [second] = trace_messages(stories, {7: 4, 8: 5}, Ask(5, 1), "en")
    assert COST in second and BRIDGE not in second


def test_why_says_in_one_line_what_it_cannot_answer() -> None:
    one = [item(fr_brief(REOPENS, COSTS))]
    two = [item(fr_brief(REOPENS), story_id=7), item(fr_brief(COSTS), story_id=8)]
    cases = [
        (one, {1: 1}, Ask(None, 9), "fr", "Il n'y a pas de point 9 ici : les points de ce "
                                          "résumé vont de ① à ②."),
        ([item(fr_brief(COSTS))], {1: 1}, Ask(None, 3), "en",
         "There is no point 3 here: that brief has only point ①."),
        (two, {7: 3, 8: 4}, Ask(None, 2), "en", "That message holds several stories: write "
                                                "/why 3.2 for point ② of story 3."),
        (two, {7: 3, 8: 4}, Ask(9, 1), "fr", "Ce message n'a pas d'histoire 9."),
        ([item(fr_brief(REOPENS, OLD))], {1: 1}, Ask(None, 2), "en",
         "Point ② was written before points cited their sources: I have no sentence to "
         "show for it."),
        ([item(fr_brief(OLD))], {1: 1}, Ask(), "fr",
         "Ce résumé a été écrit avant que les points ne citent leurs sources : je n'ai "
         "aucune phrase à montrer pour eux."),
        ([], {}, Ask(None, 1), "en",
         "I can no longer find what that message said: try /why on a more recent brief."),
    ]
    for stories, numbers, ask, lang, expected in cases:
        assert trace_messages(stories, numbers, ask, lang) == [expected], ask


def test_why_on_every_point_of_a_mixed_brief_says_which_have_no_sentence() -> None:
    [message] = trace_messages([item(fr_brief(REOPENS, OLD))], {1: 1}, Ask(), "en")
    assert "② <i>Un point écrit avant les sources.</i> — <i>(written before points cited" in (
        message)
    assert BRIDGE in message


def test_why_answers_longer_than_a_message_are_split_within_the_limit() -> None:
    many = tuple(Point(f"Point {i} sur le pont.", (support("S1", 3, COST),)) for i in range(40))
    messages = trace_messages([item(fr_brief(*many))], {1: 1}, Ask(), "fr", limit=1000)
    assert len(messages) > 1
    for message in messages:
        plain, _ = parse_html(message)
        assert len(plain) <= 1000
    assert sum(m.count("<blockquote>") for m in messages) == 40

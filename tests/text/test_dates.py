"""Publication dates: a page's date only from its metadata; date-only values shown as dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from briefing.sources.extract import extract_html
from briefing.text.dates import parse_published, shown_published, story_published

BODY = "".join(
    f"<p>Le chantier du tramway, lancé en octobre 2016 par la métropole, a pris du retard, "
    f"paragraphe {i} : les élus en ont débattu mardi soir, au conseil du 12/10/2016 rappelé "
    f"par l'opposition (séance du 2016-10-12 10:00:00).</p>" for i in range(5))


def page(head: str = "", body_extra: str = "") -> str:
    return (f"<html><head><title>Le tramway en retard</title>{head}</head><body><article>"
            f"<h1>Le tramway en retard, depuis 2016</h1>{body_extra}{BODY}</article></body></html>")


def test_years_named_in_the_body_are_not_the_publication_date() -> None:
    found = extract_html(page(body_extra="<time datetime='2016-10-12'>12 octobre</time>"),
                         url="https://news.example/tram")
    assert "octobre 2016" in found.text
    assert found.published is None


def test_a_description_naming_a_date_is_not_the_date() -> None:
    head = ("<meta name='description' content='Publié le 12 octobre 2016, 2016-10-12 10:00:00'>"
            "<meta itemprop='copyrightYear' content='2016'>")
    assert extract_html(page(head), url="https://news.example/tram").published is None


@pytest.mark.parametrize("head", [
    "<meta property='article:published_time' content='2026-03-02T06:20:00+01:00'>",
    "<meta name='dc.date' content='2026-03-02'>",
    "<meta itemprop='datePublished' content='2026-03-02'>",
    '<script type="application/ld+json">{"@type": "NewsArticle", '
    '"datePublished": "2026-03-02T05:20:00Z"}</script>',
])
def test_a_date_the_page_declares_is_kept(head: str) -> None:
    assert extract_html(page(head), url="https://news.example/tram").published == "2026-03-02"


def test_the_published_date_wins_over_the_modified_date_and_the_url() -> None:
    head = ("<meta property='article:modified_time' content='2026-03-04T08:00:00Z'>"
            "<meta property='article:published_time' content='2026-03-02T06:20:00Z'>")
    found = extract_html(page(head), url="https://news.example/2026/03/01/tram")
    assert found.published == "2026-03-02"
    assert extract_html(page(), url="https://news.example/2026/03/01/tram").published == \
        "2026-03-01"  # a date in the page's own address is metadata too


def test_date_only_values_are_shown_as_dates() -> None:
    day = parse_published("2024-05-03")
    assert day == datetime(2024, 5, 3, tzinfo=UTC)
    assert shown_published(day, "2024-05-03") == "2024-05-03"
    assert shown_published(parse_published("2020-02"), "2020-02") == "2020-02"
    instant = datetime(2024, 5, 3, 6, 20, tzinfo=UTC)
    assert shown_published(instant, "2024-05-03T06:20:00+00:00") == "2024-05-03T06:20:00+00:00"
    assert shown_published(instant, None) == "2024-05-03T06:20:00+00:00"
    assert shown_published(None, None) is None


def test_a_storys_date_is_shown_as_its_latest_article_gave_it() -> None:
    older = (datetime(2024, 5, 2, 9, 0, tzinfo=UTC), "2024-05-02T09:00:00+00:00")
    newest = (datetime(2024, 5, 3, tzinfo=UTC), "2024-05-03")
    assert story_published(newest[0], [older, newest]) == "2024-05-03"
    assert story_published(older[0], [older]) == "2024-05-02T09:00:00+00:00"
    arrival = datetime(2024, 5, 4, 7, 0, tzinfo=UTC)  # no article had a date
    assert story_published(arrival, [(None, None)]) == "2024-05-04T07:00:00+00:00"

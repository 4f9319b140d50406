"""A failure as a reader reads it: their language, no technical words."""

from __future__ import annotations

import pytest

from briefing.bot.failures import failure_text
from briefing.config import FetchSettings
from briefing.errors import BadInput, FetchError
from briefing.sources.extract import extract
from briefing.sources.load import fetch_article
from briefing.text.catalogue import catalogue
from tests.fakes.web_server import FakeWebServer

LOCAL = FetchSettings(allow_private=True, timeout=2.0)


def fetch_failure(route: bytes, status: int) -> FetchError:
    with FakeWebServer() as web:
        web.route("/page", route, status=status)
        with pytest.raises(FetchError) as caught:
            fetch_article(web.url("/page"), LOCAL)
    return caught.value


def test_an_http_error_is_the_status_in_the_readers_words() -> None:
    exc = fetch_failure(b"gone", 404)
    assert "HTTP 404" in str(exc)  # the log and the CLI keep the technical line
    assert failure_text(exc, "fr") == "Cette page est inaccessible (erreur 404)."
    assert failure_text(exc, "en") == "That page cannot be reached (error 404)."


def test_a_private_address_is_refused_without_naming_settings_or_addresses() -> None:
    with pytest.raises(FetchError) as caught:
        fetch_article("http://127.0.0.1:9/x", FetchSettings())
    text = failure_text(caught.value, "fr")
    assert "127.0.0.1" not in text and "allow_private" not in text and "réseau privé" in text


def test_a_page_without_an_article_and_an_unknown_reason() -> None:
    with pytest.raises(BadInput) as caught:
        extract(b"   ", name="page.html")
    assert failure_text(caught.value, "en") == "I find no article on that page."
    assert failure_text(BadInput("odd"), "fr") == "Je n'ai pas pu lire cette page."


ENGLISH_WORDS = {"the", "that", "cannot", "error", "read", "not", "too", "link", "find", "takes"}


def test_every_failure_sentence_exists_in_both_languages_and_french_has_no_english() -> None:
    keys = [k for k in catalogue("en") if k.startswith("failure_")]
    assert len(keys) >= 9
    for key in keys:
        assert key in catalogue("fr")
        words = {w.strip(".,()").lower() for w in catalogue("fr")[key].split()}
        assert words & ENGLISH_WORDS == set(), key

"""Tests of briefing.sources.feeds (and fetch_url's feed options) against a local web server."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from briefing.config import FetchSettings, ServiceSettings
from briefing.errors import FetchError
from briefing.sources.feeds.parse import TEASER_WORDS, FeedEntry, parse_feed
from briefing.sources.feeds.poll import FeedResult, FeedState, poll_feed
from briefing.sources.feeds.text import html_to_text
from briefing.sources.feeds.urls import canonical_url
from briefing.sources.fetch import PAGE_TYPES, fetch_url
from tests.fakes.web_server import FakeWebServer

LOCAL = FetchSettings(allow_private=True, timeout=2.0)
SERVICE = ServiceSettings(max_feed_bytes=200_000, max_entries_per_poll=50)
RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml"

# Three paragraphs, well over TEASER_WORDS words: a feed that carries the whole article.
FULL_TEXT = [
    "La mairie de Lyon a présenté mardi son plan pour les canicules à venir. Il prévoit "
    "l'ouverture de vingt salles rafraîchies dans les quartiers les plus denses, des horaires "
    "étendus pour les piscines municipales et des tournées quotidiennes auprès des personnes "
    "âgées isolées, recensées par les centres communaux d'action sociale depuis le printemps.",
    "« Nous avons tiré les leçons de l'été dernier », a déclaré l'adjointe chargée de la santé, "
    "en rappelant que plusieurs centaines d'appels étaient restés sans réponse pendant la "
    "vague de chaleur de juillet. Le numéro d'urgence sera désormais tenu par une équipe "
    "renforcée, de huit heures à vingt-deux heures, sept jours sur sept, jusqu'à la fin "
    "du mois de septembre.",
    "Le plan coûtera environ 2,4 millions d'euros, financés pour moitié par la métropole. "
    "L'opposition juge l'effort tardif et réclame la plantation d'arbres dans les cours "
    "d'école, que la majorité promet d'accélérer à partir de l'automne. Les associations de "
    "quartier, elles, demandent que les salles restent ouvertes la nuit lors des épisodes "
    "les plus longs, quand les appartements sous les toits ne refroidissent plus du tout.",
]

RSS = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Le Journal de Lyon &amp; sa région</title>
  <link>https://www.journal-lyon.test/</link>
  <description>Toute l'actualité lyonnaise</description>
  <language>fr</language>
  <item>
    <title>Budget : le conseil municipal adopte une hausse de 3 %</title>
    <link>/politique/budget-2024.html?utm_source=rss&amp;utm_medium=feed&amp;id=42#commentaires</link>
    <guid isPermaLink="false">jl-1002</guid>
    <pubDate>Mon, 15 Jul 2024 18:30:00 +0200</pubDate>
    <description><![CDATA[<p>Le conseil a voté le budget <b>après six heures</b> de débat.</p>
      <p>L'opposition a quitté la salle&nbsp;!</p><script>alert("x")</script>]]></description>
  </item>
  <item>
    <title>Canicule : la ville ouvre vingt salles rafraîchies</title>
    <link>https://WWW.Journal-Lyon.test/societe/canicule-plan.html?xtor=RSS-12</link>
    <guid isPermaLink="true">https://www.journal-lyon.test/societe/canicule-plan.html</guid>
    <pubDate>Tue, 16 Jul 2024 07:05:00 +0200</pubDate>
    <description>La mairie présente son plan pour les fortes chaleurs.</description>
    <content:encoded><![CDATA[{"".join(f"<p>{p}</p>" for p in FULL_TEXT)}]]></content:encoded>
  </item>
  <item>
    <title>Trafic perturbé sur la ligne B du métro</title>
    <link>https://www.journal-lyon.test/transports/metro-b.html</link>
    <guid isPermaLink="false">jl-1001</guid>
    <pubDate>Mon, 15 Jul 2024 06:00:00 GMT</pubDate>
    <description>Une panne de signalisation &#233;tait en cause.</description>
  </item>
</channel>
</rss>
""".encode()

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">
  <title type="html">Les &lt;em&gt;Échos&lt;/em&gt; du Rhône</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-07-16T09:00:00+02:00</updated>
  <link rel="self" href="https://echos-rhone.test/atom.xml"/>
  <entry>
    <title>Élections : les listes sont déposées</title>
    <id>tag:echos-rhone.test,2024:article-1</id>
    <link rel="alternate" href="https://echos-rhone.test/2024/07/listes.html"/>
    <published>2024-07-14T08:00:00+02:00</published>
    <updated>2024-07-14T09:00:00+02:00</updated>
    <summary>Sept listes se présentent au premier tour.</summary>
  </entry>
  <entry>
    <title>Le festival de jazz fait le plein</title>
    <id>tag:echos-rhone.test,2024:article-2</id>
    <link rel="alternate" href="https://echos-rhone.test/2024/07/jazz.html"/>
    <updated>2024-07-16T07:30:00Z</updated>
    <content type="html">&lt;p&gt;Plus de 80 000 spectateurs sont attendus.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Vallée de la chimie : l'enquête publique s'ouvre</title>
    <id>tag:echos-rhone.test,2024:article-3</id>
    <link rel="alternate" href="https://echos-rhone.test/2024/07/chimie.html"/>
    <updated>2024-07-15T12:00:00+00:00</updated>
    <summary type="html">&lt;p&gt;Les riverains ont jusqu'au 30 août.&lt;/p&gt;</summary>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">CONTENT</div></content>
  </entry>
</feed>
""".replace(
    "CONTENT", "".join(f"<p>{p}</p>" for p in FULL_TEXT)
).encode()

HTML_PAGE = b"""<!DOCTYPE html>
<html lang="fr"><head><title>Accueil</title></head>
<body><h1>Le Journal de Lyon</h1><p>Bienvenue sur notre site.</p>
<a href="/politique/">Politique</a></body></html>"""


def rss(items: str, encoding: str = "utf-8", prolog: str | None = "utf-8") -> bytes:
    """A minimal RSS 2.0 feed around items, encoded as given."""
    declaration = f'<?xml version="1.0" encoding="{prolog}"?>' if prolog else ""
    text = (
        f'{declaration}<rss version="2.0"><channel><title>Flux de test</title>'
        f"<link>https://flux.test/</link>{items}</channel></rss>"
    )
    return text.encode(encoding)


def item(
    title: str | None = None,
    link: str | None = None,
    guid: str | None = None,
    date: str | None = None,
    description: str | None = None,
) -> str:
    """One RSS item with only the elements given."""
    parts = [
        f"<title>{title}</title>" if title is not None else "",
        f"<link>{link}</link>" if link is not None else "",
        f"<guid>{guid}</guid>" if guid is not None else "",
        f"<pubDate>{date}</pubDate>" if date is not None else "",
        f"<description>{description}</description>" if description is not None else "",
    ]
    return f"<item>{''.join(parts)}</item>"


@pytest.fixture(autouse=True, scope="module")
def _loopback_only() -> Iterator[None]:
    """Fail any request that would leave 127.0.0.1, whatever a bug in the code does."""
    real = httpx.HTTPTransport.handle_request

    def guarded(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if request.url.host != "127.0.0.1":
            raise AssertionError(f"test tried to connect to {request.url.host}")
        return real(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.HTTPTransport, "handle_request", guarded)
        yield


@pytest.fixture
def server() -> Iterator[FakeWebServer]:
    with FakeWebServer() as fake:
        yield fake


def poll(
    server: FakeWebServer,
    path: str = "/feed",
    service: ServiceSettings = SERVICE,
    fetch: FetchSettings = LOCAL,
) -> FeedResult:
    return poll_feed(FeedState(server.url(path)), fetch, service)


def poll_error(
    server: FakeWebServer,
    path: str = "/feed",
    service: ServiceSettings = SERVICE,
    fetch: FetchSettings = LOCAL,
) -> str:
    """The one-line message of the FetchError that polling path raises."""
    with pytest.raises(FetchError) as caught:
        poll(server, path, service, fetch)
    message = str(caught.value)
    assert "\n" not in message
    return message


def by_guid(entries: list[FeedEntry]) -> dict[str, FeedEntry]:
    return {entry.guid: entry for entry in entries}


# --- good feeds ----------------------------------------------------------------------------


def test_an_rss_feed_gives_clean_entries_newest_first(server: FakeWebServer) -> None:
    server.route(
        "/feed",
        RSS,
        content_type=RSS_TYPE,
        headers={"ETag": '"v1"', "Last-Modified": "Tue, 16 Jul 2024 05:10:00 GMT"},
    )

    result = poll(server)

    assert result.title == "Le Journal de Lyon & sa région"
    assert result.not_modified is False
    assert result.state == FeedState(server.url("/feed"), '"v1"', "Tue, 16 Jul 2024 05:10:00 GMT")
    assert [e.guid for e in result.entries] == [
        "https://www.journal-lyon.test/societe/canicule-plan.html",
        "jl-1002",
        "jl-1001",
    ]
    full, budget, metro = result.entries

    assert full.url == "https://www.journal-lyon.test/societe/canicule-plan.html"
    assert full.published == datetime(2024, 7, 16, 5, 5, tzinfo=UTC)
    assert full.title == "Canicule : la ville ouvre vingt salles rafraîchies"
    assert full.summary == "La mairie présente son plan pour les fortes chaleurs."
    assert full.content == "\n\n".join(" ".join(p.split()) for p in FULL_TEXT)
    assert len(full.content.split()) >= TEASER_WORDS
    assert full.is_teaser is False

    # The relative link is made absolute against the feed's URL, tracking and fragment gone.
    assert budget.url == server.url("/politique/budget-2024.html?id=42")
    assert budget.published == datetime(2024, 7, 15, 16, 30, tzinfo=UTC)
    assert budget.summary == (
        "Le conseil a voté le budget après six heures de débat.\n\n"
        "L'opposition a quitté la salle\u00a0!"
    )
    assert "alert" not in (budget.summary or "")
    assert budget.content is None
    assert budget.is_teaser is True

    assert metro.summary == "Une panne de signalisation était en cause."
    assert metro.published is not None
    assert metro.published.utcoffset() is not None
    assert metro.published.utcoffset() == UTC.utcoffset(None)


def test_an_atom_feed_gives_clean_entries(server: FakeWebServer) -> None:
    server.route("/atom.xml", ATOM, content_type=ATOM_TYPE)

    result = poll(server, "/atom.xml")

    assert result.title == "Les Échos du Rhône"
    assert [e.url for e in result.entries] == [
        "https://echos-rhone.test/2024/07/jazz.html",
        "https://echos-rhone.test/2024/07/chimie.html",
        "https://echos-rhone.test/2024/07/listes.html",
    ]
    jazz, chimie, listes = result.entries
    assert jazz.published == datetime(2024, 7, 16, 7, 30, tzinfo=UTC)
    assert jazz.content == "Plus de 80 000 spectateurs sont attendus."
    assert jazz.summary == jazz.content  # no summary: the content stands in
    assert jazz.is_teaser is True  # it has content, but far too short to be the article

    assert chimie.summary == "Les riverains ont jusqu'au 30 août."
    assert chimie.content is not None
    assert chimie.content.split("\n\n")[0] == " ".join(FULL_TEXT[0].split())
    assert chimie.is_teaser is False

    assert listes.guid == "tag:echos-rhone.test,2024:article-1"
    assert listes.published == datetime(2024, 7, 14, 6, 0, tzinfo=UTC)  # published, not updated
    assert listes.title == "Élections : les listes sont déposées"
    assert listes.content is None


# --- conditional GET -----------------------------------------------------------------------


def test_the_second_poll_is_conditional_and_a_304_means_not_modified(
    server: FakeWebServer,
) -> None:
    validators = {"ETag": 'W/"abc123"', "Last-Modified": "Tue, 16 Jul 2024 05:10:00 GMT"}
    server.route("/feed", RSS, content_type=RSS_TYPE, headers=validators)
    first = poll(server)
    assert len(first.entries) == 3
    assert "if-none-match" not in server.requests[0][1]
    assert "if-modified-since" not in server.requests[0][1]

    server.route("/feed", b"", status=304, content_type=None)
    second = poll_feed(first.state, LOCAL, SERVICE)

    _, headers = server.requests[1]
    assert headers["if-none-match"] == 'W/"abc123"'
    assert headers["if-modified-since"] == "Tue, 16 Jul 2024 05:10:00 GMT"
    assert "application/rss+xml" in headers["accept"]
    assert second.not_modified is True
    assert second.entries == []
    assert second.title is None
    assert second.state == first.state  # the 304 sent no validators: the old ones stay


def test_a_304_with_a_new_etag_updates_the_state(server: FakeWebServer) -> None:
    server.route("/feed", b"", status=304, content_type=None, headers={"ETag": '"v2"'})
    state = FeedState(server.url("/feed"), '"v1"', "Mon, 15 Jul 2024 00:00:00 GMT")

    result = poll_feed(state, LOCAL, SERVICE)

    assert result.not_modified is True
    assert result.state == FeedState(state.url, '"v2"', "Mon, 15 Jul 2024 00:00:00 GMT")


def test_a_200_without_validators_clears_the_state(server: FakeWebServer) -> None:
    server.route("/feed", RSS, content_type=RSS_TYPE)
    state = FeedState(server.url("/feed"), '"old"', "Mon, 15 Jul 2024 00:00:00 GMT")

    result = poll_feed(state, LOCAL, SERVICE)

    assert server.requests[0][1]["if-none-match"] == '"old"'
    assert result.not_modified is False
    assert result.state == FeedState(state.url)


# --- bad feeds -----------------------------------------------------------------------------


def test_malformed_xml_with_no_entry_fails(server: FakeWebServer) -> None:
    broken = RSS[: RSS.index(b"<item>") + 30]  # cut off inside the first item
    server.route("/feed", broken, content_type=RSS_TYPE)

    message = poll_error(server)

    assert message.startswith(f"malformed feed {server.url('/feed')}: XML error at line")
    assert "no entry could be read" in message


def test_a_slightly_malformed_feed_with_entries_is_used_with_a_warning(
    server: FakeWebServer, caplog: pytest.LogCaptureFixture
) -> None:
    items = item("Un&nbsp;titre", "https://flux.test/1", "g1") + item("Deux", None, "g2")
    server.route("/feed", rss(items), content_type="application/xml")

    with caplog.at_level(logging.WARNING, logger="briefing.sources.feeds"):
        result = poll(server)

    assert [e.guid for e in result.entries] == ["g1", "g2"]
    assert "is malformed" in caplog.text
    assert "undefined entity" in caplog.text


def test_an_html_page_served_as_a_feed_fails(server: FakeWebServer) -> None:
    server.route("/feed", HTML_PAGE)  # text/html, as many servers label their feeds
    message = poll_error(server)
    assert message == (
        f"{server.url('/feed')} is not an RSS or Atom feed: it looks like an HTML page"
    )


def test_an_html_page_labelled_as_xml_fails_too(server: FakeWebServer) -> None:
    server.route("/feed", HTML_PAGE, content_type="application/rss+xml")
    assert "it looks like an HTML page" in poll_error(server)


def test_something_else_served_as_a_feed_fails(server: FakeWebServer) -> None:
    server.route("/feed", b"ceci n'est pas un flux", content_type="text/plain")
    assert f"{server.url('/feed')} is not an RSS or Atom feed" in poll_error(server)


def test_an_empty_but_valid_feed_gives_no_entries(server: FakeWebServer) -> None:
    server.route("/feed", rss(""), content_type="application/rss+xml")
    result = poll(server)
    assert (result.title, result.entries) == ("Flux de test", [])


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_fail_with_the_status(server: FakeWebServer, status: int) -> None:
    server.route("/feed", b"oops", status=status)
    assert f"the server answered HTTP {status}" in poll_error(server)


def test_a_non_feed_content_type_is_refused(server: FakeWebServer) -> None:
    server.route("/feed", b'{"items": []}', content_type="application/json")
    message = poll_error(server)
    assert "its content type application/json is not accepted here" in message
    assert "application/rss+xml" in message


def test_a_slow_feed_times_out(server: FakeWebServer) -> None:
    server.route("/feed", RSS, content_type=RSS_TYPE, delay=2.0)
    started = time.monotonic()
    message = poll_error(server, fetch=FetchSettings(allow_private=True, timeout=0.2))
    assert time.monotonic() - started < 1.5
    assert "timed out fetching" in message
    assert "fetch.timeout = 0.2 s" in message


def test_a_redirect_loop_fails(server: FakeWebServer) -> None:
    server.redirect("/feed", "/flux")
    server.redirect("/flux", "/feed")
    assert "too many redirects" in poll_error(server)


def test_a_redirected_feed_resolves_links_against_its_final_url(server: FakeWebServer) -> None:
    server.redirect("/feed", "/v2/rss.xml", status=301)
    server.route("/v2/rss.xml", rss(item("Un", "articles/1.html", "g1")), content_type="text/xml")

    result = poll(server)

    assert result.entries[0].url == server.url("/v2/articles/1.html")
    assert result.state.url == server.url("/feed")  # the state keeps the URL it was given


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_feed_far_above_max_feed_bytes_fails(server: FakeWebServer, chunked: bool) -> None:
    service = ServiceSettings(max_feed_bytes=5_000)
    items = "".join(item(f"Titre {i}", f"https://flux.test/{i}", f"g{i}") for i in range(200))
    body = rss(items)
    assert len(body) > 3 * service.max_feed_bytes
    server.route("/feed", body, content_type=RSS_TYPE, chunked=chunked)

    message = poll_error(server, service=service)

    assert "is larger than the size limit (5000 bytes)" in message


def test_max_feed_bytes_replaces_fetch_max_bytes(server: FakeWebServer) -> None:
    server.route("/feed", RSS, content_type=RSS_TYPE)
    small_pages = FetchSettings(allow_private=True, timeout=2.0, max_bytes=1_000)
    assert len(RSS) > small_pages.max_bytes
    assert len(poll(server, fetch=small_pages).entries) == 3


def test_the_address_check_applies_to_feeds(server: FakeWebServer) -> None:
    server.route("/feed", RSS, content_type=RSS_TYPE)
    message = poll_error(server, fetch=FetchSettings(timeout=2.0))
    assert "loopback address (127.0.0.1)" in message
    assert server.requests == []


# --- entries -------------------------------------------------------------------------------


def test_thousands_of_entries_are_capped_quickly(server: FakeWebServer) -> None:
    items = "".join(
        item(
            f"Dépêche {i}",
            guid=f"d{i}",
            date=f"Mon, 15 Jul 2024 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d} GMT",
        )
        for i in range(5_000)
    )
    service = ServiceSettings(max_feed_bytes=2_000_000, max_entries_per_poll=25)
    server.route("/feed", rss(items), content_type=RSS_TYPE)

    started = time.monotonic()
    result = poll(server, service=service)
    elapsed = time.monotonic() - started

    assert [e.guid for e in result.entries] == [f"d{i}" for i in range(4_999, 4_974, -1)]
    assert result.entries[0].published == datetime(2024, 7, 15, 1, 23, 19, tzinfo=UTC)
    assert elapsed < 5, f"5,000 entries took {elapsed:.1f} s"


def test_entries_without_dates_or_links_are_kept(server: FakeWebServer) -> None:
    items = (
        item("Sans date", "https://flux.test/sans-date")
        + item("Ni date ni lien", description="Un résumé &lt;b&gt;court&lt;/b&gt;.")
        + item("Datée", "https://flux.test/datee", date="Mon, 15 Jul 2024 10:00:00 GMT")
        + item(description="Seulement un résumé.")
        + item("Guid nu", guid="12345")  # a permalink by default, yet no URL
    )
    server.route("/feed", rss(items), content_type=RSS_TYPE)

    entries = poll(server).entries
    again = poll(server).entries

    assert [e.title for e in entries] == ["Datée", "Sans date", "Ni date ni lien", None, "Guid nu"]
    dated, undated, bare, untitled, bare_guid = entries
    assert (bare_guid.guid, bare_guid.url) == ("12345", None)
    assert dated.published == datetime(2024, 7, 15, 10, 0, tzinfo=UTC)
    assert undated.published is None
    assert undated.guid == undated.url == "https://flux.test/sans-date"
    assert bare.url is None
    assert bare.published is None
    assert bare.summary == "Un résumé court."
    assert bare.guid.startswith("sha256:")
    assert untitled.guid.startswith("sha256:")
    assert bare.guid != untitled.guid
    assert [e.guid for e in again] == [e.guid for e in entries]  # the hash is stable


def test_unparseable_dates_give_none(server: FakeWebServer) -> None:
    items = item("Un", "https://flux.test/1", "g1", date="le 15 juillet, vers midi")
    server.route("/feed", rss(items), content_type=RSS_TYPE)
    [entry] = poll(server).entries
    assert entry.published is None


def test_duplicate_guids_are_dropped_the_first_wins(server: FakeWebServer) -> None:
    items = (
        item("Première version", "https://flux.test/a", "same")
        + item("Autre", "https://flux.test/b", "other")
        + item("Seconde version", "https://flux.test/a2", "same")
        + item("Même lien", "https://flux.test/b?utm_campaign=x")
        + item("Même lien, autre forme", "https://FLUX.test/b#haut")
    )
    server.route("/feed", rss(items), content_type=RSS_TYPE)

    entries = poll(server).entries

    assert [(e.guid, e.title) for e in entries] == [
        ("same", "Première version"),
        ("other", "Autre"),
        ("https://flux.test/b", "Même lien"),
    ]


def test_entries_with_nothing_in_them_are_dropped(server: FakeWebServer) -> None:
    server.route("/feed", rss("<item></item>" + item("Un", guid="g1")), content_type=RSS_TYPE)
    assert [e.guid for e in poll(server).entries] == ["g1"]


# --- encodings -----------------------------------------------------------------------------

FRENCH = "L'été à l'Élysée : « ça dépend »"


@pytest.mark.parametrize(
    ("prolog", "content_type"),
    [
        ("ISO-8859-1", "application/rss+xml"),
        ("ISO-8859-1", None),
        ("ISO-8859-1", "text/html"),  # mislabelled
        (None, "application/xml; charset=ISO-8859-1"),  # the header alone says it
        ("windows-1252", "application/rss+xml"),
        ("ISO-8859-1", "text/xml; charset=utf-8"),  # a wrong header charset
    ],
)
def test_latin_encodings_decode_right(prolog: str | None, content_type: str | None) -> None:
    body = rss(item(FRENCH, "https://flux.test/ete", "g1", description="Un été à Paris"),
               encoding=prolog or "iso-8859-1", prolog=prolog)
    _, [entry] = parse_feed(body, "https://flux.test/rss", 10, content_type)
    assert (entry.title, entry.summary) == (FRENCH, "Un été à Paris")


def test_an_iso_8859_1_feed_served_as_text_xml_decodes_right(
    server: FakeWebServer, caplog: pytest.LogCaptureFixture
) -> None:
    body = rss(item(FRENCH, "https://flux.test/ete", "g1", description="Un été à Paris"),
               encoding="iso-8859-1", prolog="ISO-8859-1")
    assert "été".encode("iso-8859-1") in body
    server.route("/feed", body, content_type="text/xml")  # RFC 3023 would make this US-ASCII

    with caplog.at_level(logging.WARNING, logger="briefing.sources.feeds"):
        result = poll(server)

    assert result.title == "Flux de test"
    [entry] = result.entries
    assert (entry.title, entry.summary) == (FRENCH, "Un été à Paris")
    assert caplog.text == ""  # decoded as declared: not even a warning


def test_the_header_charset_counts_when_the_xml_declares_none() -> None:
    body = rss(item("Prix : 5 € le litre", guid="g1"), encoding="iso-8859-15", prolog=None)
    _, [entry] = parse_feed(body, "https://flux.test/", 10, "text/xml; charset=ISO-8859-15")
    assert entry.title == "Prix : 5 € le litre"


def test_utf8_without_declaration_or_content_type_decodes_right(server: FakeWebServer) -> None:
    server.route("/feed", rss(item(FRENCH, guid="g1"), prolog=None), content_type=None)
    assert poll(server).entries[0].title == FRENCH


def test_windows_1252_characters_decode_right(server: FakeWebServer) -> None:
    title = "Œuvres d’art : l’État rend 26 pièces… au Bénin"
    body = rss(item(title, "https://flux.test/1", "g1"), "windows-1252", "windows-1252")
    assert b"\x92" in body  # the curly apostrophe, absent from ISO-8859-1
    server.route("/feed", body, content_type="text/xml")
    assert poll(server).entries[0].title == title


@pytest.mark.parametrize("charset", ["ISO-8859-1", "windows-1252"])
def test_utf8_under_a_default_latin_header_decodes_right(
    server: FakeWebServer, charset: str
) -> None:
    title = "L’État et « l’été » : 5 €"
    server.route("/feed", rss(item(title, guid="g1")), content_type=f"text/xml; charset={charset}")
    assert poll(server).entries[0].title == title


# --- parse_feed, html_to_text, canonical_url -----------------------------------------------


def test_parse_feed_works_on_bytes_alone() -> None:
    title, entries = parse_feed(ATOM, "https://echos-rhone.test/atom.xml", 2)
    assert title == "Les Échos du Rhône"
    assert len(entries) == 2


def test_parse_feed_does_not_open_files_or_urls(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(FetchError, match="not an RSS or Atom feed"):
        parse_feed(b"https://flux.test/rss.xml", "https://flux.test/", 10)
    with pytest.raises(FetchError, match="the response is empty"):
        parse_feed(b"", "https://flux.test/", 10)


def test_errors_never_show_credentials() -> None:
    with pytest.raises(FetchError) as caught:
        parse_feed(HTML_PAGE, "https://user:secret@flux.test/rss", 10)
    assert "secret" not in str(caught.value)
    assert "https://flux.test/rss" in str(caught.value)


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>Un</p><p>Deux</p>", "Un\n\nDeux"),
        ("<p>Un   <b>mot</b>\n   et\tun autre</p>", "Un mot et un autre"),
        ("Ligne<br>suite<br/><br />Paragraphe", "Ligne suite\n\nParagraphe"),
        ("<ul><li>a</li><li>b</li></ul>", "a\n\nb"),
        ("&laquo;&nbsp;Oui&nbsp;&raquo;, dit-il &amp; s&#39;en", "«\xa0Oui\xa0», dit-il & s'en"),
        ("<script>var x = 1;</script><style>p {}</style>Texte", "Texte"),
        ("<div><h2>Titre</h2>Corps</div>", "Titre\n\nCorps"),
        ("texte brut", "texte brut"),
        ("", ""),
        ("<p> </p>", ""),
        ("a < b > c", "a < b > c"),
        ("<p>Un\n\n   deux</p>", "Un deux"),  # HTML's own whitespace is no paragraph
        ("Un\n\ndeux &amp;\n trois", "Un\n\ndeux & trois"),  # but a plain text's is
        ("un<br> <br>deux<br>trois", "un\n\ndeux trois"),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "https://www.lemonde.test/a.html?utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://www.lemonde.test/a.html",
        ),
        ("https://site.test/a?id=3&utm_source=x&page=2", "https://site.test/a?id=3&page=2"),
        ("https://site.test/a?UTM_Source=x&fbclid=abc&gclid=def&q=b", "https://site.test/a?q=b"),
        ("https://site.test/a?xtor=RSS-3208", "https://site.test/a"),
        ("https://site.test/article#commentaires", "https://site.test/article"),
        ("HTTPS://WWW.Site.TEST/Article/ABC", "https://www.site.test/Article/ABC"),
        ("http://site.test:80/a", "http://site.test/a"),
        ("https://site.test:443/a", "https://site.test/a"),
        ("https://site.test:8443/a", "https://site.test:8443/a"),
        ("https://site.test", "https://site.test/"),
        ("https://site.test/s?q=%C3%A9t%C3%A9&tri=date", "https://site.test/s?q=%C3%A9t%C3%A9&tri=date"),
        ("https://site.test/a?b=1&a=2", "https://site.test/a?b=1&a=2"),  # order kept
        ("  https://site.test/a  ", "https://site.test/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_canonical_url_leaves_unparsable_text_alone() -> None:
    assert canonical_url("http://[::1") == "http://[::1"
    assert canonical_url("http://site.test:port/") == "http://site.test:port/"


# --- fetch_url's options for feeds ---------------------------------------------------------


def test_fetch_url_defaults_are_unchanged(server: FakeWebServer) -> None:
    server.route("/feed", RSS, content_type=RSS_TYPE)
    server.route("/page", b"<p>page</p>", headers={"ETag": '"p1"'})

    with pytest.raises(FetchError, match="is not a web page or text"):
        fetch_url(server.url("/feed"), LOCAL)
    page = fetch_url(server.url("/page"), LOCAL)

    assert page.status == 200
    assert page.headers["etag"] == '"p1"'
    assert page.headers["content-type"] == "text/html; charset=utf-8"


def test_fetch_url_takes_accept_max_bytes_and_headers(server: FakeWebServer) -> None:
    server.route("/feed", RSS, content_type=RSS_TYPE)

    fetched = fetch_url(
        server.url("/feed"),
        LOCAL,
        accept=frozenset({"application/rss+xml"}) | PAGE_TYPES,
        max_bytes=len(RSS),
        headers={"X-Test": "oui", "Host": "evil.test"},
    )

    assert fetched.content == RSS
    _, headers = server.requests[0]
    assert headers["x-test"] == "oui"
    assert headers["host"] == f"127.0.0.1:{server.port}"  # Host cannot be replaced
    with pytest.raises(FetchError, match=r"larger than the size limit \(100 bytes\)"):
        fetch_url(server.url("/feed"), LOCAL, accept=frozenset({"application/rss+xml"}),
                  max_bytes=100)


def test_a_304_to_an_unconditional_request_is_still_an_error(server: FakeWebServer) -> None:
    server.route("/page", b"", status=304, content_type=None)
    with pytest.raises(FetchError, match="HTTP 304"):
        fetch_url(server.url("/page"), LOCAL)
    not_modified = fetch_url(server.url("/page"), LOCAL, headers={"If-None-Match": '"x"'})
    assert (not_modified.status, not_modified.content) == (304, b"")


# --- teasers -------------------------------------------------------------------------------


def test_a_summary_that_carries_the_whole_article_is_not_a_teaser() -> None:
    """Many feeds put the article in <description> and have no content element."""
    whole = "".join(f"&lt;p&gt;{p}&lt;/p&gt;" for p in FULL_TEXT)
    short = "Une phrase d'accroche, rien de plus."
    data = rss(item("Canicule", "https://flux.test/canicule", "c-1", description=whole)
               + item("Budget", "https://flux.test/budget", "b-1", description=short))
    _, entries = parse_feed(data, "https://flux.test/rss", 10)
    full, teaser = by_guid(entries)["c-1"], by_guid(entries)["b-1"]
    assert full.content is None and full.is_teaser is False
    assert full.text == "\n\n".join(" ".join(p.split()) for p in FULL_TEXT)
    assert teaser.is_teaser is True and teaser.text == short


def test_the_teaser_threshold_is_teaser_words() -> None:
    words = ["mot"] * (TEASER_WORDS - 1)
    under = rss(item("A", "https://flux.test/a", "a", description=" ".join(words) + "."))
    at = rss(item("B", "https://flux.test/b", "b", description=" ".join(words) + " fin."))
    assert parse_feed(under, "https://flux.test/rss", 1)[1][0].is_teaser is True
    assert parse_feed(at, "https://flux.test/rss", 1)[1][0].is_teaser is False

"""OPML read and written: feeds and titles survive a round trip, folders are flattened,
and a file that is not a usable OPML list, or that tries XML's entity tricks, is refused in
one line before anything expands or is read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from briefing.errors import BadInput
from briefing.sources.feeds.opml import Outline, parse_opml, write_opml

CAP = 1_000_000
WHEN = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# An OPML 1.0 export as feed readers write it: folders, `text` only, a feed in two folders.
READER_EXPORT = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<opml version="1.0">
  <head><title>Mes abonnements</title></head>
  <body>
    <outline text="Presse">
      <outline text="Le Monde \xe0 la une" type="rss" xmlUrl="https://www.lemonde.fr/rss/une.xml"
               htmlUrl="https://www.lemonde.fr/"/>
      <outline text="Tech">
        <outline title="Ars" text="Ars Technica" type="rss"
                 xmlUrl="https://feeds.arstechnica.com/arstechnica/index"/>
      </outline>
    </outline>
    <outline text="Doublons">
      <outline text="Le Monde encore" type="rss" xmlUrl="https://www.lemonde.fr/rss/une.xml"/>
    </outline>
    <outline text="Atom sans type" XMLURL="https://example.org/atom.xml"/>
    <outline text="https://example.org/bare.xml" type="rss"
             xmlUrl=" https://example.org/bare.xml "/>
    <outline text="Juste un lien" type="link" url="https://example.org/"/>
  </body>
</opml>"""


def test_a_readers_export_gives_every_feed_once_with_its_folders() -> None:
    feeds = parse_opml(READER_EXPORT, "abos.opml", CAP)
    assert feeds == [
        Outline("https://www.lemonde.fr/rss/une.xml", "Le Monde à la une"),
        Outline("https://feeds.arstechnica.com/arstechnica/index", "Ars"),  # title beats text
        Outline("https://example.org/atom.xml", "Atom sans type"),
        Outline("https://example.org/bare.xml", None),  # a text that only repeats the URL
    ]
    assert feeds[0].folders == ("Presse",)  # the first listing wins
    assert feeds[1].folders == ("Presse", "Tech")
    assert feeds[2].folders == ()


def test_an_export_reads_back_as_the_same_feeds_and_titles() -> None:
    feeds = [Outline("https://a.example/rss", "Tom & Jerry <news> \"daily\""),
             Outline("https://b.example/feed?x=1&y=2", None),
             Outline("https://c.example/atom", "Le Monde à la une — édition"),
             Outline("https://d.example/rss", "bell\x07 in a title"),
             Outline("https://e.example/rss", "R&#38;D &amp; co")]  # entities as plain text
    data = write_opml(feeds, "briefing feeds", WHEN)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<opml version=\"2.0\">")
    assert b"<dateCreated>Mon, 02 Mar 2026 08:00:00 +0000</dateCreated>" in data
    back = parse_opml(data, "export.opml", CAP)
    assert [(o.url, o.title) for o in back] == [
        ("https://a.example/rss", 'Tom & Jerry <news> "daily"'),
        ("https://b.example/feed?x=1&y=2", None),
        ("https://c.example/atom", "Le Monde à la une — édition"),
        ("https://d.example/rss", "bell in a title"),  # XML cannot hold the control character
        ("https://e.example/rss", "R&#38;D &amp; co"),
    ]
    # OPML 2.0 requires `text`: the URL stands in for a missing title.
    assert b'text="https://b.example/feed?x=1&amp;y=2"' in data


SECRET = "secret-of-this-machine"
LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
BAD = {
    "empty": (b"", "opml_not_xml"),
    "not xml": (b"feeds: https://a.example/rss\n", "opml_not_xml"),
    "broken xml": (b'<opml version="2.0"><body><outline xmlUrl="x"></body>', "opml_not_xml"),
    "html page": (b"<html><body><p>hello</p></body></html>", "opml_not_opml"),
    "rss feed": (b'<rss version="2.0"><channel><title>x</title></channel></rss>',
                 "opml_not_opml"),
    "no body": (b'<opml version="2.0"><head><title>x</title></head></opml>', "opml_not_opml"),
    "no outline": (b'<opml version="2.0"><head/><body/></opml>', "opml_empty"),
    "only folders": (b'<opml version="1.0"><body><outline text="News">'
                     b'<outline text="empty"/></outline></body></opml>', "opml_empty"),
    "billion laughs": (f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY lol0 "lol">{LAUGHS}]>'
                       '<opml version="2.0"><body><outline text="&lol9;" '
                       'xmlUrl="https://a.example/&lol9;"/></body></opml>'.encode(),
                       "opml_doctype"),
    "external entity": (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY xxe SYSTEM '
                        b'"file://SECRET_FILE">]><opml version="2.0"><body><outline '
                        b'text="&xxe;" xmlUrl="https://a.example/rss"/></body></opml>',
                        "opml_doctype"),
    "external dtd": (b'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file://SECRET_FILE">'
                     b'<opml version="2.0"><body><outline text="x" '
                     b'xmlUrl="https://a.example/rss"/></body></opml>', "opml_doctype"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_file_that_is_not_a_usable_opml_list_is_one_line(name: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    data, reason = BAD[name]
    with pytest.raises(BadInput) as caught:
        parse_opml(data.replace(b"SECRET_FILE", str(secret).encode()), "feeds.opml", CAP)
    message = str(caught.value)
    assert caught.value.reason == reason, message
    assert message.startswith("feeds.opml: ") and "\n" not in message
    assert SECRET not in message and "lollollol" not in message


def test_a_file_over_the_cap_is_refused_before_it_is_parsed() -> None:
    data = b'<opml version="2.0"><body>' + b'<outline xmlUrl="https://a.example/rss"/>' * 50
    with pytest.raises(BadInput, match="larger than 1 kB") as caught:
        parse_opml(data + b"</body></opml>", "big.opml", 1_000)
    assert caught.value.reason == "too_large"
    assert len(parse_opml(data + b"</body></opml>", "big.opml", 10_000)) == 1

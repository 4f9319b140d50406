"""`briefing feeds import FILE.opml` and `briefing feeds export [FILE]`, in-process: an
export read into a fresh store gives the same feeds and titles, feeds already there are
skipped and named, refused URLs are named and the rest imported without a single fetch, and
a file that cannot be read as OPML is one error line with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from briefing.sources.feeds.opml import Outline, parse_opml, write_opml
from tests.conftest import invoke, one_line_error
from tests.fakes.web_server import FakeWebServer
from tests.sources.test_opml import BAD, WHEN


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


def env(home: Path, **extra: str) -> dict[str, str]:
    """A store of its own in `home`, feeds on 127.0.0.1 allowed (the local web server)."""
    return {"BRIEFING_DATA_DIR": str(home / "data"),
            "BRIEFING_ARTICLES_DIR": str(home / "articles"),
            "BRIEFING_ALLOW_PRIVATE_URLS": "1", **extra}


def opml_file(path: Path, *outlines: Outline) -> Path:
    path.write_bytes(write_opml(outlines, "another reader", WHEN))
    return path


def exported(home: Path) -> list[tuple[str, str | None]]:
    """The store's feeds as `feeds export` writes them (to stdout)."""
    result = invoke("feeds", "export", env=env(home))
    assert result.exit_code == 0, result.stderr
    if b"<outline" not in result.stdout_bytes:
        return []
    return [(o.url, o.title) for o in parse_opml(result.stdout_bytes, "stdout", 10**7)]


def rss(title: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
            "<item><title>Un</title><link>https://news.example/1</link><guid>1</guid>"
            "</item></channel></rss>").encode()


def test_an_export_imported_into_a_fresh_store_gives_the_same_feeds_and_titles(
    tmp_path: Path, web: FakeWebServer
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    web.route("/checked.xml", rss("Vérifié & cie"), content_type="application/rss+xml")
    source = opml_file(tmp_path / "reader.opml",
                       Outline(web.url("/a.xml"), "Le Monde à la une"),
                       Outline(web.url("/b.xml?x=1&y=2"), None),
                       Outline(web.url("/c.xml"), 'Tom & Jerry "daily"'))
    imported = invoke("feeds", "import", str(source), env=env(first))
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout == "imported 3 feeds, 0 already added, 0 refused\n"
    added = invoke("feeds", "add", web.url("/checked.xml"), env=env(first))
    assert added.exit_code == 0, added.stderr
    out = tmp_path / "export.opml"
    written = invoke("feeds", "export", str(out), env=env(first))
    assert written.exit_code == 0 and written.stdout == "", written.stderr
    assert written.stderr == f"exported 4 feeds to {out}\n"

    again = invoke("feeds", "import", str(out), env=env(second))
    assert again.exit_code == 0, again.stderr
    assert "imported 4 feeds" in again.stdout
    expected = [(web.url("/a.xml"), "Le Monde à la une"), (web.url("/b.xml?x=1&y=2"), None),
                (web.url("/c.xml"), 'Tom & Jerry "daily"'),
                (web.url("/checked.xml"), "Vérifié & cie")]
    assert exported(first) == exported(second) == expected
    listed = invoke("feeds", "list", env=env(second))
    assert "Le Monde à la une" in listed.stdout and "Vérifié & cie" in listed.stdout
    # Importing checks addresses, it fetches nothing: the one request is `feeds add`'s.
    assert [path for path, _ in web.requests] == ["/checked.xml"]


def test_feeds_already_there_are_skipped_and_named(tmp_path: Path, web: FakeWebServer) -> None:
    home = tmp_path / "home"
    source = opml_file(tmp_path / "a.opml", Outline(web.url("/a.xml"), "A"),
                       Outline(web.url("/b.xml"), "B"))
    assert invoke("feeds", "import", str(source), env=env(home)).exit_code == 0
    # The same feeds again, one of them written another way, and one new feed.
    b_again = web.url("/b.xml").replace("http:", "HTTP:") + "#top"
    more = opml_file(tmp_path / "b.opml", Outline(web.url("/a.xml"), "A"),
                     Outline(b_again, "B again"), Outline(web.url("/c.xml"), "C"))
    result = invoke("feeds", "import", str(more), env=env(home))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "imported 1 feed, 2 already added, 0 refused\n"
    assert result.stderr.splitlines() == [f"  already added: {web.url('/a.xml')}",
                                          f"  already added: {b_again}"]
    assert exported(home) == [(web.url("/a.xml"), "A"), (web.url("/b.xml"), "B"),
                              (web.url("/c.xml"), "C")]


def test_refused_urls_are_named_and_the_others_imported(
    tmp_path: Path, web: FakeWebServer
) -> None:
    home = tmp_path / "home"
    source = opml_file(tmp_path / "mixed.opml",
                       Outline(web.url("/good.xml"), "Good"),
                       Outline("ftp://files.example/rss", "FTP"),
                       Outline("https://news.example/rss.xml", "Nowhere"),  # does not resolve
                       Outline("http://169.254.169.254/latest/rss", "Metadata"),
                       Outline("https://a.example/" + "x" * 2100, "Too long"))
    result = invoke("feeds", "import", str(source), env=env(home))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "imported 1 feed, 0 already added, 4 refused\n"
    refused = result.stderr.splitlines()
    assert len(refused) == 4 and all(line.startswith("  refused: ") for line in refused)
    assert "only http:// and https://" in refused[0]
    assert "cannot resolve the host of https://news.example/rss.xml" in refused[1]
    assert "cloud metadata" in refused[2]
    assert "longer than 2000 characters" in refused[3]
    assert exported(home) == [(web.url("/good.xml"), "Good")]
    assert web.requests == []


def test_stdin_is_read_with_a_dash(tmp_path: Path, web: FakeWebServer) -> None:
    data = write_opml([Outline(web.url("/a.xml"), "A")], "x", WHEN)
    result = invoke("feeds", "import", "-", stdin=data, env=env(tmp_path))
    assert result.exit_code == 0 and "imported 1 feed," in result.stdout, result.stderr


GOOD_AND_BAD = {
    # A valid feed in each, so that writing anything at all would show.
    "billion laughs": BAD["billion laughs"][0],
    "external entity": BAD["external entity"][0],
    "broken xml": b'<opml version="2.0"><body><outline xmlUrl="https://a.example/rss"/>'
                  b'<outline xmlUrl="https://b.example/rss"></body>',
    **{name: BAD[name][0] for name in ("empty", "not xml", "html page", "rss feed", "no body",
                                        "no outline", "only folders")},
}


@pytest.mark.parametrize("name", sorted(GOOD_AND_BAD))
def test_a_file_that_is_not_usable_opml_is_one_line_and_writes_nothing(
    tmp_path: Path, name: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret-of-this-machine", encoding="utf-8")
    path = tmp_path / "bad.opml"
    path.write_bytes(GOOD_AND_BAD[name].replace(b"SECRET_FILE", str(secret).encode()))
    result = invoke("feeds", "import", str(path), env=env(tmp_path))
    one_line_error(result, 2, str(path))
    assert "secret-of-this-machine" not in result.stderr
    assert exported(tmp_path) == []


def test_a_missing_file_a_directory_and_a_file_over_the_cap_are_one_line(
    tmp_path: Path, web: FakeWebServer
) -> None:
    one_line_error(invoke("feeds", "import", str(tmp_path / "nope.opml"), env=env(tmp_path)),
                   2, "no such file")
    one_line_error(invoke("feeds", "import", str(tmp_path), env=env(tmp_path)), 2,
                   "a directory")
    big = opml_file(tmp_path / "big.opml",
                    *(Outline(web.url(f"/{n}.xml"), f"Feed {n}") for n in range(100)))
    small_cap = env(tmp_path, BRIEFING_FETCH__MAX_BYTES="2000")
    one_line_error(invoke("feeds", "import", str(big), env=small_cap), 2,
                   "larger than 2 kB; raise fetch.max_bytes")
    assert exported(tmp_path) == []


def test_export_writes_valid_opml_even_when_empty_and_says_why_it_cannot_write(
    tmp_path: Path
) -> None:
    empty = invoke("feeds", "export", env=env(tmp_path))
    assert empty.exit_code == 0 and b'<opml version="2.0">' in empty.stdout_bytes
    assert b"<body/>" in empty.stdout_bytes
    one_line_error(invoke("feeds", "export", str(tmp_path / "no" / "such" / "dir.opml"),
                          env=env(tmp_path)), 2, "cannot write")

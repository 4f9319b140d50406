"""Tests of briefing.sources.fetch against a local web server (127.0.0.1 only)."""

from __future__ import annotations

import ipaddress
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import certifi
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from briefing.config import FetchSettings
from briefing.errors import BadInput, FetchError
from briefing.sources.fetch import Fetched, Resolver, check_url, fetch_url
from tests.fakes.web_server import FakeWebServer

LOCAL = FetchSettings(allow_private=True, timeout=5.0)
PUBLIC_ONLY = FetchSettings(timeout=5.0)
PAGE = "<html><body><p>Le conseil municipal a voté le budget.</p></body></html>".encode()

# Every request the fetcher hands to httpx, as (host connected to, Host header).
sent_to: list[tuple[str, str]] = []


@pytest.fixture(autouse=True, scope="module")
def _loopback_only() -> Iterator[None]:
    """Fail any request that would leave 127.0.0.1, whatever a bug in the fetcher does."""
    real = httpx.HTTPTransport.handle_request

    def guarded(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        sent_to.append((request.url.host, request.headers.get("host", "")))
        if request.url.host != "127.0.0.1":
            raise AssertionError(f"test tried to connect to {request.url.host}")
        return real(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.HTTPTransport, "handle_request", guarded)
        yield


@pytest.fixture(autouse=True)
def _clear_sent() -> None:
    sent_to.clear()


@pytest.fixture
def server() -> Iterator[FakeWebServer]:
    with FakeWebServer() as fake:
        yield fake


def resolving_to(*addresses: str) -> Resolver:
    """A fake resolver answering every host with addresses."""

    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def named(server: FakeWebServer, path: str, host: str = "news.test") -> str:
    """server's URL for path under a made-up hostname (to be resolved to 127.0.0.1)."""
    return f"http://{host}:{server.port}{path}"


def refusal(
    url: str, settings: FetchSettings = PUBLIC_ONLY, *, resolver: Resolver | None = None
) -> str:
    """The message of the FetchError that fetching url raises."""
    with pytest.raises(FetchError) as caught:
        fetch_url(url, settings, resolver=resolver)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- fetching from the local server --------------------------------------------------------


def test_fetches_a_page_by_name_from_the_checked_address(server: FakeWebServer) -> None:
    server.route("/article", PAGE)
    url = named(server, "/article")

    fetched = fetch_url(url, LOCAL, resolver=resolving_to("127.0.0.1"))

    assert fetched == Fetched(url, url, PAGE, "text/html", "utf-8")
    [(path, headers)] = server.requests
    assert path == "/article"
    assert headers["host"] == f"news.test:{server.port}"
    assert headers["user-agent"] == LOCAL.user_agent
    assert sent_to == [("127.0.0.1", f"news.test:{server.port}")]


def test_fetches_by_ip_with_the_system_resolver(server: FakeWebServer) -> None:
    server.route("/a", b"plain words", content_type='Text/Plain; Charset="ISO-8859-1"')

    fetched = fetch_url(server.url("/a"), LOCAL)

    assert (fetched.content, fetched.content_type, fetched.charset) == (
        b"plain words",
        "text/plain",
        "iso-8859-1",
    )
    assert server.requests[0][1]["host"] == f"127.0.0.1:{server.port}"


def test_missing_content_type_is_accepted(server: FakeWebServer) -> None:
    server.route("/raw", b"# Title\n", content_type=None)
    fetched = fetch_url(server.url("/raw"), LOCAL)
    assert (fetched.content, fetched.content_type, fetched.charset) == (b"# Title\n", None, None)


def test_local_server_is_refused_without_allow_private(server: FakeWebServer) -> None:
    server.route("/x", PAGE)
    url = server.url("/x")

    message = refusal(url)

    assert message == (
        f"refused to fetch {url}: it resolves to a loopback address (127.0.0.1); "
        "set fetch.allow_private = true (BRIEFING_ALLOW_PRIVATE_URLS=1) to allow it"
    )
    assert server.requests == []
    assert sent_to == []


@pytest.mark.parametrize(
    "host", ["localhost", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"]
)
def test_odd_spellings_of_loopback_are_refused(server: FakeWebServer, host: str) -> None:
    server.route("/", PAGE)
    message = refusal(f"http://{host}:{server.port}/")
    assert "loopback address" in message
    assert server.requests == []


def test_a_redirect_chain_is_followed(server: FakeWebServer) -> None:
    server.redirect("/start", "/dir/one", status=301)
    server.redirect("/dir/one", "two")  # relative to /dir/one
    server.redirect("/dir/two", named(server, "/end"), status=307)
    server.route("/end", PAGE)

    fetched = fetch_url(named(server, "/start"), LOCAL, resolver=resolving_to("127.0.0.1"))

    assert fetched.content == PAGE
    assert fetched.url == named(server, "/start")
    assert fetched.final_url == named(server, "/end")
    assert [path for path, _ in server.requests] == ["/start", "/dir/one", "/dir/two", "/end"]


def test_a_redirect_to_cloud_metadata_is_refused_even_when_private_is_allowed(
    server: FakeWebServer,
) -> None:
    server.redirect("/innocent", "http://169.254.169.254/latest/meta-data/")

    message = refusal(server.url("/innocent"), LOCAL)

    assert "cloud metadata address (169.254.169.254)" in message
    assert [path for path, _ in server.requests] == ["/innocent"]
    assert [host for host, _ in sent_to] == ["127.0.0.1"]


def test_a_redirect_to_a_name_resolving_to_metadata_is_refused(server: FakeWebServer) -> None:
    server.redirect("/innocent", "http://metadata.test/computeMetadata/v1/")

    def resolve(host: str, port: int) -> list[str]:
        return ["169.254.169.254"] if host == "metadata.test" else ["127.0.0.1"]

    message = refusal(named(server, "/innocent"), LOCAL, resolver=resolve)

    assert "cloud metadata" in message
    assert len(server.requests) == 1


def test_a_redirect_to_another_scheme_is_refused(server: FakeWebServer) -> None:
    server.redirect("/r", "file:///etc/passwd")
    assert "only http:// and https://" in refusal(server.url("/r"), LOCAL)


def test_a_redirect_loop_fails(server: FakeWebServer) -> None:
    server.redirect("/ping", "/pong")
    server.redirect("/pong", "/ping")
    assert "too many redirects" in refusal(server.url("/ping"), LOCAL)
    assert [path for path, _ in server.requests] == ["/ping", "/pong"]


def test_too_many_redirects_fail(server: FakeWebServer) -> None:
    for hop in range(4):
        server.redirect(f"/{hop}", f"/{hop + 1}")
    server.route("/4", PAGE)
    settings = FetchSettings(allow_private=True, max_redirects=3)

    assert "too many redirects" in refusal(server.url("/0"), settings)
    assert len(server.requests) == 4
    assert fetch_url(server.url("/1"), settings).content == PAGE


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_fail_with_the_status(server: FakeWebServer, status: int) -> None:
    server.route("/broken", b"oops", status=status)
    assert f"HTTP {status}" in refusal(server.url("/broken"), LOCAL)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_max_bytes_fails(server: FakeWebServer, chunked: bool) -> None:
    settings = FetchSettings(allow_private=True, max_bytes=100_000)
    server.route("/big", b"x" * 100_001, chunked=chunked)
    server.route("/fits", b"x" * 100_000, chunked=chunked)

    assert "fetch.max_bytes (100000 bytes)" in refusal(server.url("/big"), settings)
    assert len(fetch_url(server.url("/fits"), settings).content) == 100_000


def test_a_huge_chunked_body_is_abandoned_early(server: FakeWebServer) -> None:
    server.route("/huge", b"x" * 20_000_000, chunked=True)
    settings = FetchSettings(allow_private=True, max_bytes=50_000)
    started = time.monotonic()
    assert "fetch.max_bytes" in refusal(server.url("/huge"), settings)
    assert time.monotonic() - started < 2


def test_a_slow_server_times_out_and_survives(server: FakeWebServer) -> None:
    server.route("/slow", PAGE, delay=3.0)
    server.route("/fast", PAGE)
    settings = FetchSettings(allow_private=True, timeout=0.2)

    started = time.monotonic()
    message = refusal(server.url("/slow"), settings)

    assert time.monotonic() - started < 2
    assert "timed out" in message
    assert "fetch.timeout = 0.2 s" in message
    assert fetch_url(server.url("/fast"), settings).content == PAGE


@pytest.mark.parametrize("content_type", ["application/pdf", "image/png", "application/json"])
def test_non_page_content_types_are_refused(server: FakeWebServer, content_type: str) -> None:
    server.route("/file", b"%PDF-1.7", content_type=content_type)
    message = refusal(server.url("/file"), LOCAL)
    assert f"its content type {content_type} is not a web page or text" in message


def test_a_connection_error_fails() -> None:
    with FakeWebServer() as gone:
        url = gone.url("/")
    assert "could not fetch" in refusal(url, LOCAL)


def test_an_unresolvable_host_fails() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    assert "cannot resolve the host of http://nowhere.test/" in refusal(
        "http://nowhere.test/", resolver=fail
    )


# --- URLs refused before anything is resolved -------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/pub/x",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/article",
        "http:///no-host",
        "http://",
        "",
    ],
)
def test_non_http_urls_are_refused(url: str) -> None:
    def must_not_resolve(host: str, port: int) -> list[str]:
        raise AssertionError("resolved a refused URL")

    message = refusal(url, LOCAL, resolver=must_not_resolve)
    assert url in message
    assert sent_to == []


def test_fetch_error_is_bad_input() -> None:
    assert issubclass(FetchError, BadInput)


@pytest.mark.parametrize(
    ("url", "route"),
    [
        ("http://user:secret@127.0.0.1:{port}/page", None),
        ("http://user:secret@127.0.0.1:{port}/missing", 404),
        ("ftp://user:secret@127.0.0.1:{port}/page", None),
        ("http://user:secret@127.0.0.1:notaport/", None),
        ("http://user:p@ss:secret@127.0.0.1:{port}/", None),
    ],
)
def test_credentials_never_appear_in_messages(
    server: FakeWebServer, url: str, route: int | None
) -> None:
    url = url.format(port=server.port)
    for settings in (PUBLIC_ONLY, LOCAL if route else PUBLIC_ONLY):
        message = refusal(url, settings)
        assert "secret" not in message, message


def test_credentials_are_stripped_from_fetched_urls(server: FakeWebServer) -> None:
    server.route("/page", PAGE)
    fetched = fetch_url(f"http://user:secret@127.0.0.1:{server.port}/page", LOCAL)
    assert fetched.url == fetched.final_url == server.url("/page")
    assert server.requests[0][1]["authorization"].startswith("Basic ")


# --- the address check alone (no request) ------------------------------------------------

REFUSED = [
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 wrapping 10.0.0.1
    ("fd12:3456::1", "private"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("::ffff:169.254.169.254", "cloud metadata"),
]
ALWAYS_REFUSED = {"shared (CGNAT)", "unspecified", "multicast", "reserved", "cloud metadata"}
PUBLIC = ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_check_refuses_non_public_addresses(address: str, kind: str) -> None:
    with pytest.raises(
        FetchError, match=rf"resolves to an? {re.escape(kind)} address \({address}\)"
    ):
        check_url("https://news.test/a", PUBLIC_ONLY, resolver=resolving_to(address))


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_allow_private_lifts_only_local_kinds(address: str, kind: str) -> None:
    resolver = resolving_to(address)
    if kind in ALWAYS_REFUSED:
        with pytest.raises(FetchError, match=re.escape(kind)):
            check_url("https://news.test/a", LOCAL, resolver=resolver)
    else:
        assert check_url("https://news.test/a", LOCAL, resolver=resolver) == [address]


@pytest.mark.parametrize("address", PUBLIC)
def test_check_allows_public_addresses(address: str) -> None:
    assert check_url("https://news.test/a", PUBLIC_ONLY, resolver=resolving_to(address)) == [
        address
    ]


def test_one_bad_address_among_good_ones_is_enough() -> None:
    resolver = resolving_to("93.184.216.34", "2606:4700::1111", "10.0.0.1")
    with pytest.raises(FetchError, match=r"private address \(10\.0\.0\.1\)"):
        check_url("http://news.test/", PUBLIC_ONLY, resolver=resolver)


def test_check_asks_the_resolver_for_the_host_and_port() -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["93.184.216.34"]

    for url in (
        "https://news.test/",
        "http://news.test/",
        "http://news.test:8080/",
        "http://dé.test/",
    ):
        check_url(url, PUBLIC_ONLY, resolver=resolve)
    assert asked == [
        ("news.test", 443),
        ("news.test", 80),
        ("news.test", 8080),
        ("xn--d-bga.test", 80),
    ]


@given(
    st.sampled_from(["127.0.0.0/8", "10.0.0.0/8"]).flatmap(
        lambda net: st.integers(0, 2**24 - 1).map(lambda offset: ipaddress.IPv4Network(net)[offset])
    ),
    st.booleans(),
)
def test_any_loopback_or_ten_net_address_is_refused(
    address: ipaddress.IPv4Address, mapped: bool
) -> None:
    text = f"::ffff:{address}" if mapped else str(address)
    with pytest.raises(FetchError, match="refused to fetch"):
        check_url("http://news.test/", PUBLIC_ONLY, resolver=resolving_to(text))


# --- https: connect to the checked address, verify the certificate for the real name ------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for news.test, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=news.test",
         "-addext", "subjectAltName=DNS:news.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeWebServer]:
    """An https server for news.test, whose certificate the fetcher is made to trust."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setattr(certifi, "where", lambda: str(cert))  # httpx's default trust store
    with FakeWebServer(ssl_context=context) as fake:
        yield fake


def test_https_connects_to_the_address_and_verifies_the_name(tls_server: FakeWebServer) -> None:
    tls_server.route("/secure", PAGE)
    url = f"https://news.test:{tls_server.port}/secure"

    fetched = fetch_url(url, LOCAL, resolver=resolving_to("127.0.0.1"))

    assert fetched.content == PAGE
    assert tls_server.requests[0][1]["host"] == f"news.test:{tls_server.port}"
    assert sent_to == [("127.0.0.1", f"news.test:{tls_server.port}")]


def test_https_refuses_a_certificate_for_another_name(tls_server: FakeWebServer) -> None:
    tls_server.route("/secure", PAGE)
    url = f"https://other.test:{tls_server.port}/secure"

    message = refusal(url, LOCAL, resolver=resolving_to("127.0.0.1"))

    assert "could not fetch" in message
    assert "certificate" in message.lower() or "hostname" in message.lower()
    assert tls_server.requests == []

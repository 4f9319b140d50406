"""Fetch one web page safely: http(s) only, public addresses only, bounded in size and time.

URLs come from users, feeds and redirects, so a fetch must not become a way to reach this
machine, its network or its cloud's metadata service (server-side request forgery). Before every
hop the host is resolved and *every* address checked; the request then connects to the checked
address itself, naming the real host in the Host header and TLS SNI, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from briefing.config import FetchSettings
from briefing.errors import FetchError

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]
"""Maps (host, port) to IP address strings; the default uses socket.getaddrinfo."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "text/markdown"})
"""Media types worth extracting an article from; a missing Content-Type is accepted too."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOT_MODIFIED = 304
# Request headers that make a GET conditional: only then is a 304 an answer rather than an error.
_CONDITIONAL = frozenset({"if-none-match", "if-modified-since"})
# Response headers kept in Fetched.headers: what a caller may need to store or to decode the body.
_KEPT_HEADERS = frozenset(
    {"content-type", "content-language", "content-location", "etag", "last-modified"}
)

# Cloud metadata services hand out credentials to any process of the VM that asks. No article
# lives there, so not even allow_private (meant for intranet news sites) reaches them.
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # Linux routes 0.x to this machine
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT; not in is_private
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the last 32 bits are an IPv4 address

# The kinds allow_private lets through: this machine and the local network, nothing stranger.
_LIFTABLE = frozenset({"loopback", "private", "link-local"})

# First match wins, so the order matters: ipaddress counts 127/8, 169.254/16 and 240/4 as
# "private" too, and they must get their more precise (and stricter) names first.
_KINDS: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("cloud metadata", lambda a: a in _METADATA),
    ("unspecified", lambda a: a.is_unspecified or a in _THIS_NETWORK),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("multicast", lambda a: a.is_multicast),
    ("reserved", lambda a: a.is_reserved),
    ("shared (CGNAT)", lambda a: a in _SHARED),
    ("private", lambda a: a.is_private or (a.version == 6 and a.is_site_local)),
    ("non-public", lambda a: not a.is_global),
)

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?(//)?[^/?#]*@")
# For text that is not even a valid URL we cannot tell where the host ends, so drop everything
# up to the last "@" before any query: losing some path beats showing part of a password.
_USERINFO_GREEDY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?(//)?[^?#]*@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Fetched:
    """A fetched page. URLs never carry credentials (user:password@ is stripped)."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    content: bytes
    content_type: str | None  # media type only, lower-case, e.g. "text/html"
    charset: str | None  # from the Content-Type header, if any
    status: int = 200  # 304 (with empty content) only when the request was conditional
    # A few response headers (lower-case names): etag, last-modified, content-type, ...
    headers: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class _Rules:
    """What one fetch accepts: media types and a body size limit (and the caller's override)."""

    accept: frozenset[str]
    limit: int
    override: int | None


def fetch_url(
    url: str,
    settings: FetchSettings,
    *,
    resolver: Resolver | None = None,
    accept: frozenset[str] = PAGE_TYPES,
    max_bytes: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Fetched:
    """Fetch an http(s) page, following redirects, with every hop checked by :func:`check_url`.

    ``accept`` lists the media types taken (a missing Content-Type is always taken),
    ``max_bytes`` replaces ``settings.max_bytes`` and ``headers`` are sent with every request
    (but never replace Host). When they make the request conditional (If-None-Match,
    If-Modified-Since), a 304 answer comes back as a Fetched with status 304 and no content.

    Raises FetchError for a refused or invalid URL, a refused address, too many redirects, a
    timeout, a connection error, an HTTP status >= 400, a content type not in ``accept`` or a
    body larger than the size limit.
    """
    resolve = resolver or _system_resolver
    rules = _Rules(accept, settings.max_bytes if max_bytes is None else max_bytes, max_bytes)
    # Host is always the URL's own: a second Host header could reach another virtual host.
    extra = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
    current = _parse_url(url)
    seen = {str(current)}
    with _fetch_errors(url, settings), _new_client(settings) as client:
        for _ in range(settings.max_redirects + 1):
            addresses = _checked_addresses(current, settings, resolve)
            response = _send(client, current, addresses, extra)
            try:
                target = _redirect_target(response, current)
                if target is None:
                    return _fetched(url, current, response, settings, rules, extra)
            finally:
                response.close()
            current = _next_hop(url, target, seen)
    raise FetchError(
        f"too many redirects fetching {shown_url(url)} (fetch.max_redirects = "
        f"{settings.max_redirects})",
        reason="unreachable",
    )


def check_url(url: str, settings: FetchSettings, *, resolver: Resolver | None = None) -> list[str]:
    """Resolve the URL's host and return its addresses; FetchError if the URL or any is refused.

    This is the check :func:`fetch_url` runs before every hop. It sends no request.
    """
    return _checked_addresses(_parse_url(url), settings, resolver or _system_resolver)


def _parse_url(text: str) -> httpx.URL:
    """Parse text as an absolute http(s) URL with a host, or raise FetchError naming it."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        # httpx's message may quote a piece of the userinfo (as a "port", say), so it is dropped.
        shown = _CONTROL.sub("?", _USERINFO_GREEDY.sub(r"\1\2", text, count=1))
        raise FetchError(f"not a valid URL: {shown}", reason="invalid_url") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(
            f"refused to fetch {shown_url(text)}: only http:// and https:// URLs "
            "with a host can be fetched",
            reason="refused",
        )
    return url


def shown_url(url: str | httpx.URL) -> str:
    """The URL fit for a one-line message or a log: no credentials, no line breaks or other
    control characters (the one rule for every message that names a URL)."""
    return _CONTROL.sub("?", _USERINFO.sub(r"\1\2", str(url).strip(), count=1))


def _system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _checked_addresses(url: httpx.URL, settings: FetchSettings, resolve: Resolver) -> list[str]:
    """The addresses of url's host, all of them allowed, or FetchError for the first refused."""
    addresses = _resolve(url, resolve)
    for text in addresses:
        try:
            # Judged without its zone: fd00:ec2::254%eth0 would not equal the metadata address.
            address = ipaddress.ip_address(text.partition("%")[0])
        except ValueError:
            raise FetchError(
                f"cannot fetch {shown_url(url)}: its host resolved to {text!r}, "
                "which is not an IP address",
                reason="refused",
            ) from None
        kind = _refused_kind(address, settings.allow_private)
        if kind is not None:
            raise FetchError(_refusal(url, text, kind), reason="refused")
    return addresses


def _resolve(url: httpx.URL, resolve: Resolver) -> list[str]:
    """Resolve url's host (IDNA-encoded) for its port; FetchError when that gives nothing."""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = resolve(url.raw_host.decode("ascii"), port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve the host of {shown_url(url)}: {exc}",
                         reason="unreachable") from None
    if not addresses:
        raise FetchError(f"cannot resolve the host of {shown_url(url)}: no address",
                         reason="unreachable")
    return addresses


def _refused_kind(address: IPAddress, allow_private: bool) -> str | None:
    """The kind of non-public address this is, unless allowed; None for an allowed address."""
    # Judge the IPv4 address inside ::ffff:a.b.c.d, 6to4 and NAT64 forms: that is where a
    # connection to them ends up, and ::ffff:127.0.0.1 must not pass for "reserved IPv6".
    inner = _embedded_ipv4(address) or address
    kind = next((name for name, test in _KINDS if test(inner)), None)
    if kind is None or (allow_private and kind in _LIFTABLE):
        return None
    return kind


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def _refusal(url: httpx.URL, address: str, kind: str) -> str:
    """The one-line message refusing url because it resolves to address, of the given kind."""
    article = "an" if kind[0] in "aeiou" else "a"
    message = (f"refused to fetch {shown_url(url)}: it resolves to {article} {kind} address "
               f"({address})")
    if kind in _LIFTABLE:
        return message + (
            "; set fetch.allow_private = true (BRIEFING_ALLOW_PRIVATE_URLS=1) to allow it"
        )
    if kind == "cloud metadata":
        return message + ", where no article lives (never allowed)"
    return message


def _new_client(settings: FetchSettings) -> httpx.Client:
    """An httpx client for one fetch: no automatic redirects, proxies, cookies or reuse."""
    return httpx.Client(
        headers={"User-Agent": settings.user_agent},
        timeout=httpx.Timeout(settings.timeout),
        follow_redirects=False,  # every hop must pass the address check first
        trust_env=False,  # a proxy from the environment would connect by name, not to our address
        # A kept-alive connection is keyed by IP: it could carry a second hostname on the same
        # IP over TLS that was verified for the first one.
        limits=httpx.Limits(max_keepalive_connections=0),
        # The jar would key cookies by our IP-address URLs and so could hand them to another site
        # on the same IP; a single page fetch needs no session anyway.
        cookies=http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[])),
    )


def _send(
    client: httpx.Client, url: httpx.URL, addresses: list[str], extra: Mapping[str, str]
) -> httpx.Response:
    """GET url (streamed) from the first of its checked addresses that takes the connection."""
    *others, last = addresses
    for address in others:
        try:
            return client.send(_pinned_request(client, url, address, extra), stream=True)
        except httpx.ConnectError as exc:
            log.debug(
                "cannot connect to %s at %s (%s); trying the next address",
                shown_url(url),
                address,
                exc,
            )
    return client.send(_pinned_request(client, url, last, extra), stream=True)


def _pinned_request(
    client: httpx.Client, url: httpx.URL, address: str, extra: Mapping[str, str]
) -> httpx.Request:
    """A GET for url that connects to address but names url's host (Host header, TLS SNI)."""
    log.debug("GET %s via %s", shown_url(url), address)
    # sni_hostname makes httpcore send the real name in the TLS handshake and check the server's
    # certificate against it, not against the IP address we connect to.
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    return client.build_request(
        "GET",
        url.copy_with(host=address),
        headers={**extra, "Host": url.netloc.decode("ascii")},
        extensions=extensions,
    )


def _redirect_target(response: httpx.Response, current: httpx.URL) -> httpx.URL | None:
    """Where a redirect response points (relative to current), or None for any other response."""
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    target = _parse_url(str(current.join(location)))
    log.debug("%s redirects (%d) to %s", shown_url(current), response.status_code,
              shown_url(target))
    return target


def _next_hop(url: str, target: httpx.URL, seen: set[str]) -> httpx.URL:
    """Return target as the next URL to fetch, or FetchError when it was already visited."""
    if str(target) in seen:
        raise FetchError(
            f"too many redirects fetching {shown_url(url)}: they loop back to {shown_url(target)}",
            reason="unreachable",
        )
    seen.add(str(target))
    return target


def _fetched(
    url: str,
    final: httpx.URL,
    response: httpx.Response,
    settings: FetchSettings,
    rules: _Rules,
    extra: Mapping[str, str],
) -> Fetched:
    """Check the final response's status and content type, then read its body."""
    kept = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    content_type, charset = _parse_content_type(response.headers.get("content-type"))
    if response.status_code == _NOT_MODIFIED and _CONDITIONAL & {h.lower() for h in extra}:
        return Fetched(
            shown_url(url), shown_url(final), b"", content_type, charset, _NOT_MODIFIED, kept
        )
    if not response.is_success:
        raise FetchError(
            f"could not fetch {shown_url(final)}: the server answered HTTP "
            f"{response.status_code} {response.reason_phrase}".rstrip(),
            reason="http_status", status=response.status_code,
        )
    if content_type is not None and content_type not in rules.accept:
        wanted = "a web page or text" if rules.accept == PAGE_TYPES else "accepted here"
        raise FetchError(
            f"refused to fetch {shown_url(final)}: its content type {content_type} "
            f"is not {wanted} ({', '.join(sorted(rules.accept))})",
            reason="not_a_page",
        )
    content = _read_body(response, final, settings, rules)
    return Fetched(
        shown_url(url), shown_url(final), content, content_type, charset, response.status_code, kept
    )


def _read_body(
    response: httpx.Response, url: httpx.URL, settings: FetchSettings, rules: _Rules
) -> bytes:
    """Read the (decoded) body, stopping as soon as it exceeds the size limit."""
    limit = rules.limit
    setting = "fetch.max_bytes" if rules.override is None else "the size limit"
    too_large = f"refused to fetch {shown_url(url)}: it is larger than {setting} ({limit} bytes)"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{too_large}; Content-Length says {declared}", reason="too_large")
    # httpx's timeout bounds each read, not the whole body: a server dripping a byte at a time
    # would never trip it, so the body as a whole gets settings.timeout too.
    deadline = time.monotonic() + settings.timeout
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise FetchError(too_large, reason="too_large")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the body took too long", request=response.request)
    return bytes(body)


def _parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """Split a Content-Type header into (media type, charset), lower-case; None where absent."""
    media, *params = (value or "").split(";")
    charset = None
    for param in params:
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset" and raw.strip().strip('"'):
            charset = raw.strip().strip('"').lower()
    return media.strip().lower() or None, charset


@contextmanager
def _fetch_errors(url: str, settings: FetchSettings) -> Iterator[None]:
    """Turn httpx's exceptions into FetchError with a one-line message naming the URL."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FetchError(
            f"timed out fetching {shown_url(url)} (fetch.timeout = {settings.timeout:g} s)",
            reason="timeout",
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = _CONTROL.sub(" ", str(exc)) or type(exc).__name__
        raise FetchError(f"could not fetch {shown_url(url)}: {detail}",
                         reason="unreachable") from exc

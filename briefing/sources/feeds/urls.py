"""Feed links in a canonical form, so one article has one URL; URLs shown in messages."""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

# Query parameters that only track where a click came from; dropped by canonical_url. xtor is
# AT Internet's, found on most French news sites' feed links.
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "xtor"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
WEB_SCHEMES = frozenset({"http", "https"})


def canonical_url(url: str) -> str:
    """The URL in a canonical form, so one article has one URL.

    Scheme and host lower-case, default port and fragment removed, an empty path made "/",
    tracking parameters (utm_*, fbclid, gclid, xtor, ...) dropped; the rest of the query is
    kept as is, in order. Text that is not a parsable URL comes back stripped, unchanged.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(parts.netloc, scheme)
    path = parts.path or ("/" if netloc and scheme in WEB_SCHEMES else "")
    return urlunsplit((scheme, netloc, path, _without_tracking(parts.query), ""))


# --- the parts of a URL --------------------------------------------------------------------


def _canonical_netloc(netloc: str, scheme: str) -> str:
    """netloc with the host lower-case and the scheme's default port (or an empty one) removed."""
    userinfo, at, hostport = netloc.rpartition("@")
    hostport = hostport.lower()
    host, colon, port = hostport.rpartition(":")
    if colon and "]" not in port and port.lstrip("0") in ("", _DEFAULT_PORTS.get(scheme, "-")):
        hostport = host
    return f"{userinfo}{at}{hostport}"


def _without_tracking(query: str) -> str:
    """The query string without tracking parameters; the others kept verbatim, in order."""
    kept = [part for part in query.split("&") if part and not _is_tracking(part)]
    return "&".join(kept)


def _is_tracking(part: str) -> bool:
    """True for a name=value pair whose name is a tracking parameter."""
    name = unquote_plus(part.partition("=")[0]).strip().lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS

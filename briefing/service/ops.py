"""The operator's HTTP endpoint of `briefing run --http HOST:PORT`: liveness (`/healthz`),
readiness (`/readyz`, from checks the caller supplies) and Prometheus metrics (`/metrics`).

Standard library only: a `ThreadingHTTPServer` in a daemon thread, so that a slow scrape
or a stuck client never holds up the service, and the process can exit without it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import cast

from briefing.errors import BadInput, ConfigError
from briefing.metrics import render_latest
from briefing.store.db import Database

log = logging.getLogger(__name__)

JSON = "application/json"
# How often the serving thread looks for a stop request: what `stop()` may wait.
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Check:
    """One readiness check: what was checked, whether it passed, and a line for the
    operator (never a secret)."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    """The result of every readiness check, asked at each `/readyz`."""

    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)


Probe = Callable[[], tuple[bool, str]]
"""A readiness probe: (passed, a line for the operator)."""


class Cached:
    """A probe asked again only every `seconds`: a scrape every few seconds must not turn
    into a request to the LLM server or Telegram each time."""

    def __init__(self, probe: Probe, seconds: float, clock: Callable[[], float]) -> None:
        self.probe, self.seconds, self.clock = probe, seconds, clock
        self.lock = threading.Lock()  # probes run on the HTTP server's threads
        self.last: tuple[float, tuple[bool, str]] | None = None

    def __call__(self) -> tuple[bool, str]:
        with self.lock:
            now = self.clock()
            if self.last is None or now - self.last[0] >= self.seconds:
                self.last = (now, self.probe())
            return self.last[1]


def run_checks(probes: Sequence[tuple[str, Probe]]) -> Readiness:
    """Run each named probe; one that raises fails with its exception's class name (its
    message may hold an address, so it goes to the debug log only)."""
    checks = []
    for name, probe in probes:
        try:
            ok, detail = probe()
        except Exception as exc:
            log.debug("readiness probe %s raised", name, exc_info=True)
            ok, detail = False, f"{type(exc).__name__}"
        checks.append(Check(name, ok, detail))
    return Readiness(tuple(checks))


def database_ready(db: Database) -> tuple[bool, str]:
    """The store answers and its schema is the newest this release knows."""
    try:
        current = db.schema_is_current()
    except ConfigError as exc:
        return False, str(exc)
    return current, ("reachable, migrated" if current else
                     "reachable, but its schema is not this release's (migrations pending)")


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding what the request handlers need."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], readiness: Callable[[], Readiness]) -> None:
        self.readiness = readiness
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Log a handler's unexpected failure instead of printing it on stderr."""
        log.exception("the operator endpoint failed on a request from %s", client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """Answers the three routes; GET and HEAD only."""

    server_version = "briefing-ops"

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        """Answer a HEAD: the GET's status and headers, no body."""
        self._answer(send_body=False)

    def _refuse_method(self) -> None:
        # The request may carry a body we do not read: close rather than misread it as
        # the next request.
        self.close_connection = True
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b'{"error": "method not allowed"}\n', JSON,
                   send_body=True, extra={"Allow": "GET, HEAD", "Connection": "close"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = (
        _refuse_method)

    def _answer(self, *, send_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send_json(HTTPStatus.OK, {"status": "alive"}, send_body=send_body)
        elif path == "/readyz":
            readiness = self._readiness()
            status = HTTPStatus.OK if readiness.ready else HTTPStatus.SERVICE_UNAVAILABLE
            body = {"ready": readiness.ready,
                    "checks": [asdict(check) for check in readiness.checks]}
            self._send_json(status, body, send_body=send_body)
        elif path == "/metrics":
            text, content_type = render_latest()
            self._send(HTTPStatus.OK, text, content_type, send_body=send_body)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"}, send_body=send_body)

    def _readiness(self) -> Readiness:
        try:
            return cast(_Server, self.server).readiness()
        except Exception as exc:
            # The class name tells the operator where to look; the message may hold a
            # database address, so it stays in the (redacted) debug log.
            name = type(exc).__name__
            log.warning("the readiness checks raised %s", name)
            log.debug("the readiness checks raised", exc_info=True)
            return Readiness((Check("readiness", False, name),))

    def _send_json(self, status: HTTPStatus, body: object, *, send_body: bool) -> None:
        data = (json.dumps(body) + "\n").encode("utf-8")
        self._send(status, data, JSON, send_body=send_body)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, *, send_body: bool,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # Probes and scrapers must see the state of now, never a proxy's copy.
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Send the request log to the debug log, not to stderr."""
        log.debug("%s %s", self.address_string(), format % args)


class OpsServer:
    """The operator's endpoint on `host:port`, served from a daemon thread between `start()`
    and `stop()` (or as a context manager). Port 0 binds a free port, read from `port`."""

    def __init__(self, host: str, port: int, readiness: Callable[[], Readiness]) -> None:
        self.host = host
        self.requested_port = port
        self.readiness = readiness
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the free one chosen for port 0), else the requested
        one."""
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Bind the address and serve from a daemon thread; a no-op if already started.

        Raises ConfigError if the address cannot be bound (port in use, unknown host, ...).
        """
        if self._server is not None:
            return
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self.requested_port), self.readiness)
        except (OSError, OverflowError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"--http: cannot listen on {_url(self.host, self.requested_port)}"
                              f": {reason}") from exc
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,),
                                        name="briefing-ops", daemon=True)
        self._thread.start()
        log.info("operator endpoint on %s", _url(self.host, self.port))

    def stop(self) -> None:
        """Stop serving and release the port; a no-op if not started."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> OpsServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def parse_address(text: str) -> tuple[str, int]:
    """Read `HOST:PORT` (`127.0.0.1:8080`, `localhost:9000`, `[::1]:8080`) into (host, port).

    Raises BadInput, in one line, for anything else: a missing host or port, a port outside
    0..65535, an IPv6 address without its brackets.
    """
    refused = BadInput(f"--http wants HOST:PORT (such as 127.0.0.1:8080 or [::1]:8080), "
                       f"not {text!r}")
    host, colon, port_text = text.strip().rpartition(":")
    if not colon or not port_text.isascii() or not port_text.isdigit():
        raise refused
    port = int(port_text)
    if port > 65535:
        raise refused
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise refused from None
    elif not host or any(c in host for c in ":[]/ ") or not host.isascii():
        raise refused
    return host, port

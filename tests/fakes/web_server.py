"""A tiny scripted web server on 127.0.0.1 for tests (standard library only).

Usage::

    with FakeWebServer() as server:
        server.route("/page", b"<html>...</html>")
        server.redirect("/old", "/page")
        server.route("/slow", b"late", delay=2.0)
        fetch(server.url("/old"))
        assert [path for path, _ in server.requests] == ["/old", "/page"]

Routes match the request path with its query first, then without it; anything else gets 404.
Pass ``ssl_context`` (a server-side context with a certificate loaded) to serve https instead.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.fakes import BackgroundServer

__all__ = ["FakeWebServer", "Route"]

# Raised when the client has hung up first (e.g. after its own timeout); not the server's problem.
_DISCONNECTS = (ConnectionError, socket.timeout, ssl.SSLError)
_CHUNK = 16 * 1024


@dataclass(frozen=True)
class Route:
    """One scripted answer. ``content_type=None`` sends no Content-Type header."""

    body: bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds to wait before answering
    chunked: bool = False  # Transfer-Encoding: chunked, so no Content-Length


class FakeWebServer(BackgroundServer):
    """A threaded HTTP(S) server in a background thread serving scripted routes."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, lower-case headers)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True  # a handler still sleeping must not block stop()
        if ssl_context is not None:
            # Handshake lazily, in the handler's thread, so a bad client cannot stall accept().
            self._httpd.socket = ssl_context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._scheme = "http" if ssl_context is None else "https"
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._web_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (or https), without a trailing slash."""
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """The absolute URL of path on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def route(
        self,
        path: str,
        body: bytes,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = "text/html; charset=utf-8",
        delay: float = 0.0,
        chunked: bool = False,
    ) -> None:
        """Answer GET path with body (replacing any earlier route for path)."""
        route = Route(body, status, dict(headers or {}), content_type, delay, chunked)
        with self._lock:
            self.routes[path] = route

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer GET path with a redirect to location (sent as is, relative or absolute)."""
        self.route(path, b"", status, {"Location": location}, content_type=None)

    def start(self) -> FakeWebServer:
        """Start serving in the background; returns self."""
        self._web_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, waking any handler that is still in its delay."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._web_thread.join(timeout=5)

    def _lookup(self, path: str, headers: dict[str, str]) -> Route | None:
        """Record the request and find its route."""
        with self._lock:
            self.requests.append((path, headers))
            return self.routes.get(path) or self.routes.get(urlsplit(path).path)

    def _wait(self, seconds: float) -> None:
        """Sleep for a route's delay, but wake up at once when the server stops."""
        self._stopping.wait(seconds)


def _handler_for(server: FakeWebServer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to server's routes."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # needed for chunked transfer encoding

        def handle(self) -> None:
            # The client may go away first (its timeout, a refused certificate): nothing to do.
            with contextlib.suppress(*_DISCONNECTS):
                super().handle()

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            route = server._lookup(self.path, headers)
            if route is None:
                route = Route(b"not found", 404, content_type="text/plain; charset=utf-8")
            server._wait(route.delay)
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.content_type is not None:
                self.send_header("Content-Type", route.content_type)
            self.send_header("Connection", "close")
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if send_body:
                self._write_body(route)
            self.close_connection = True

        def _write_body(self, route: Route) -> None:
            if not route.chunked:
                self.wfile.write(route.body)
                return
            for start in range(0, len(route.body), _CHUNK):
                chunk = route.body[start : start + _CHUNK]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler

"""Real-protocol stand-ins for the outside world, served on 127.0.0.1 by the tests."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

# Raised when a client hung up first (e.g. after its own timeout): not the server's problem.
DISCONNECT_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)


class FakeHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose handlers can reach the fake that owns it."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # one connection per request: a backlog of 5 stalls concurrent clients
    fake: Any = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hung up; report anything else as usual."""
        if isinstance(sys.exc_info()[1], DISCONNECT_ERRORS):
            return
        super().handle_error(request, client_address)


class BackgroundServer:
    """Lifecycle shared by the fake servers: bind 127.0.0.1 on a free port, serve in a
    daemon thread, stop cleanly; `with Fake() as fake:` does both."""

    handler: type[BaseHTTPRequestHandler]
    server_class: type[FakeHTTPServer] = FakeHTTPServer
    _server: FakeHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _starting(self) -> None:
        """Reset per-run state before serving (override when needed)."""

    def _stopping_now(self) -> None:
        """Wake handlers that wait (delays, long polls) before shutdown (override)."""

    def start(self) -> Self:
        """Bind to an ephemeral port and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._starting()
        server = self.server_class(("127.0.0.1", 0), self.handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake waiting handlers, stop serving and close the socket (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping_now()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only while started)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

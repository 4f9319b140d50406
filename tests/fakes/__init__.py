"""Real-protocol stand-ins for the outside world, served on 127.0.0.1 by the tests."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class BackgroundServer:
    """Context-manager plumbing shared by the fake servers: `with Fake() as fake:`."""

    def start(self) -> Self:
        """Start serving in the background; returns self."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

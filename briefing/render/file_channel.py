"""The file channel: digests as plain text, appended as JSON lines to a file.

What `briefing run` delivers to without a bot token, and what the tests read. A part
key already in the file is not written again, so a part resent after a crash (sent,
then killed before the outbox recorded it) appears once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from briefing.render.text import render_text
from briefing.service.digests import Digest, Part

log = logging.getLogger(__name__)


class FileChannel:
    """Appends messages as JSON lines to a file; a part key already written is not repeated."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent: set[str] = set()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                self.sent.add(json.loads(line)["key"])

    def render(self, digest: Digest) -> list[Part]:
        """Plain text, one part per story after the header."""
        return render_text(digest)

    async def send(self, chat_id: str, text: str, *, key: str) -> str:
        """Write the message (once per key) and flush it to disk."""
        if key in self.sent:
            log.info("part %s is in %s already: not written again", key, self.path)
        else:
            record = {"key": key, "chat_id": chat_id, "text": text}
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
            self.sent.add(key)
        return key

"""How a failure reads to a reader: one sentence of the catalogue, in their language.

An error's message is for the log, the CLI and admins (settings names, addresses, errno
texts); a reader gets the catalogue's sentence for its `reason`, filled with its values
(a status code), and a general sentence when the reason has none.
"""

from __future__ import annotations

import logging

from briefing.bot.texts import t
from briefing.errors import BriefingError
from briefing.text.catalogue import has_text

log = logging.getLogger(__name__)


def failure_text(exc: BriefingError, lang: str) -> str:
    """The reader's sentence for `exc`; the technical message goes to the log."""
    log.info("reader-facing failure (%s): %s", exc.reason, exc)
    key = f"failure_{exc.reason}"
    if exc.reason is None or not has_text(key):
        return t("failure_unknown", lang)
    return t(key, lang, **exc.values)

"""Language detection for article text (py3langid: small, offline, fast)."""

from __future__ import annotations

import threading

import py3langid

_LOADING = threading.Lock()
_loaded = False


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language ("fr", "en", ...), from its first 5,000 chars."""
    global _loaded
    if not _loaded:
        # py3langid loads its model lazily and without a lock: two threads loading it
        # at once hold two copies (~100 MB each at load). Load it once.
        with _LOADING:
            py3langid.classify("")
            _loaded = True
    lang, _score = py3langid.classify(text[:5000])
    return str(lang)

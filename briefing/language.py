"""Language detection for article text (py3langid: small, offline, fast)."""

from __future__ import annotations

import py3langid


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language ("fr", "en", ...), from its first 5,000 chars."""
    # py3langid loads its model on first use (a few hundred ms), then answers in microseconds.
    lang, _score = py3langid.classify(text[:5000])
    return str(lang)

"""Language detection for article text (py3langid: small, offline, fast), and language
names in words for readers (babel's CLDR data), so no brief shows a bare code."""

from __future__ import annotations

import threading
from functools import lru_cache

import py3langid
from babel import Locale, UnknownLocaleError

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


@lru_cache(maxsize=64)
def language_name(code: str | None, reader: str = "en") -> str:
    """A language's name in the reader's language: ("de", "fr") -> "allemand", ("de", "en")
    -> "German"; the code itself when babel knows no name for it (never an empty string)."""
    if not code:
        return "?"
    try:
        locale = Locale.parse(reader)
    except (ValueError, UnknownLocaleError):
        locale = Locale.parse("en")
    name = locale.languages.get(code.split("-")[0].lower())
    return str(name) if name else code

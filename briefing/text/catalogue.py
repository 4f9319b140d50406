"""Every word a reader sees, from one gettext catalogue per language.

The catalogues are `briefing/text/locale/<lang>/LC_MESSAGES/briefing.po`, read with
Babel (no compile step). A message id is a stable key (`welcome`, `failure_http_status`),
its string the text in that language with `{named}` values. French and English are
complete (a test checks that both have every key with the same values); a reader of
another language gets English. Renderers and the bot both read them here, so a digest
header and a bot reply cannot disagree on a word.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("fr", "en")
FALLBACK = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language, by key (read once per process)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "briefing.po"
    with path.open("rb") as fp:
        parsed = read_po(fp, locale=lang)
    return {str(m.id): str(m.string) for m in parsed if m.id and m.string}


def has_text(key: str) -> bool:
    """Whether the catalogue has this key (in the fallback language, hence in all)."""
    return key in catalogue(FALLBACK)


def text(key: str, lang: str, **values: object) -> str:
    """The message `key` in `lang` (English when `lang` has no catalogue), filled with
    `values`; a missing key or value is a KeyError, loudly, never a half-filled text."""
    messages = catalogue(lang) if lang in LANGUAGES else catalogue(FALLBACK)
    message = messages.get(key) or catalogue(FALLBACK)[key]
    return message.format(**values) if values or _fields(message) else message


def _fields(message: str) -> bool:
    return any(name for _, name, _, _ in string.Formatter().parse(message))

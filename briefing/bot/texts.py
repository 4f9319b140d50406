"""What the bot says, in the reader's language: the words are in the catalogues of
`briefing.text.catalogue` (one gettext file per language); this module names the
commands and picks the reader's language."""

from __future__ import annotations

from briefing.text.catalogue import text

# The commands every reader has, in the order the menu and /help list them; their
# descriptions are the catalogue's `command_<name>`.
READER_COMMANDS = ("start", "help", "digest", "latest", "summary", "ask", "why", "story",
                   "settings", "lang", "time", "timezone", "sources", "follow", "unfollow",
                   "filters", "schedule", "channels", "subscribe", "unsubscribe")
ADMIN_COMMANDS = ("addfeed", "removefeed", "stats")


def command_menu(lang: str) -> list[tuple[str, str]]:
    """Each reader command with its description in `lang` (for setMyCommands)."""
    return [(name, text(f"command_{name}", lang)) for name in READER_COMMANDS]


def ui_language(code: str | None) -> str:
    """The bot's language for a Telegram language code: fr or en (the default)."""
    return "fr" if (code or "").lower().startswith("fr") else "en"


def t(key: str, lang: str, **values: object) -> str:
    """A bot text in `lang`, filled with `values` (a missing key or value fails loudly)."""
    return text(key, lang, **values)


def help_text(lang: str, admin: bool = False) -> str:
    """Every command, one line each."""
    names = READER_COMMANDS + (ADMIN_COMMANDS if admin else ())
    return "\n".join(f"/{name} — {text(f'command_{name}', lang)}" for name in names)

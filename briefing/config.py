"""Settings: built-in defaults < TOML file < environment, built once and frozen.

Secrets (API keys, bot tokens) are read from the environment only; a config file
that contains one is refused, so secrets never end up in a committed file.

Every value is checked at load, from the file and from the environment alike:
counts are whole numbers >= 0 (>= 1 where zero would stop the work), timeouts,
intervals and token sizes are > 0, a minimum never exceeds its maximum, and a
boolean is only true/false/1/0/yes/no. A bad value is a ConfigError naming the
setting and where it came from; a secret's value is never shown.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from briefing.errors import ConfigError

EngineName = Literal["auto", "llm", "extractive"]
PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"  # package data: in every install
BRIEF_LANGUAGES = ("fr", "en")  # the languages briefs are written in (sources may be any)
# A reader's settings until they choose: the one default of the CLI, the bot and the store.
# `languages` is fr, en or both; READER_LANGUAGES gives the brief languages of each.
READER_LANGUAGES = {"fr": ("fr",), "en": ("en",), "both": ("fr", "en")}
DEFAULT_LANGUAGES, DEFAULT_DIGEST_TIME, DEFAULT_TIMEZONE = "both", "07:30", "Europe/Paris"
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def parse_bool(value: object) -> object:
    """true/false/1/0/yes/no (any case) as a bool; anything else is left for the error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("must be true or false (also accepted: 1/0, yes/no)")


# Types of the checked values: pydantic's own lax booleans also take "on", "t", "y"...
Flag = Annotated[bool, BeforeValidator(parse_bool)]
Count = Annotated[int, Field(ge=0)]  # zero allowed: "none"
Positive = Annotated[int, Field(ge=1)]  # zero would stop the work (workers, sizes)
Seconds = Annotated[float, Field(gt=0)]
Money = Annotated[float, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LLMSettings(_Section):
    """How to reach the OpenAI-compatible server and how to budget tokens."""

    engine: EngineName = "auto"
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)
    timeout: Seconds = 60.0
    max_retries: Count = 2
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    context_tokens: Annotated[int, Field(ge=512)] = 16_000
    max_output_tokens: Positive = 1_500
    chunk_overlap_tokens: Count = 48
    encoding: str = "auto"
    # The first format asked for; a server that rejects it is asked for the next ones.
    response_format: Literal["json_schema", "json_object+schema", "json_object", "plain"] = (
        "json_schema"
    )
    # US dollars per million tokens, for the cost estimates in /stats and eval.
    price_input_per_mtok: Money = 0.15
    price_output_per_mtok: Money = 0.60

    @model_validator(mode="after")
    def _fits_the_context(self) -> LLMSettings:
        if self.max_output_tokens >= self.context_tokens:
            raise ValueError("max_output_tokens must be smaller than context_tokens")
        if self.chunk_overlap_tokens * 4 >= self.context_tokens:
            raise ValueError("chunk_overlap_tokens must be under a quarter of context_tokens")
        return self

    @property
    def configured(self) -> bool:
        """True when a key or a base URL says an LLM is available."""
        return self.api_key is not None or bool(self.base_url)


class BriefSettings(_Section):
    """The shape every brief must have."""

    languages: Annotated[tuple[str, ...], Field(min_length=1)] = ("fr", "en")
    max_points: Positive = 3
    min_quotes: Count = 2
    max_quotes: Positive = 4
    max_words: Annotated[int, Field(ge=10)] = 90
    # Share of a point's content words (stemmed) its cited sentences must hold, in their
    # language: "most of them". Lower lets paraphrases through, higher asks for copies.
    point_word_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6

    @model_validator(mode="after")
    def _min_below_max(self) -> BriefSettings:
        if self.min_quotes > self.max_quotes:
            raise ValueError(
                f"min_quotes ({self.min_quotes}) must not exceed max_quotes ({self.max_quotes})"
            )
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("languages lists a language twice")
        unknown = [lang for lang in self.languages if lang not in BRIEF_LANGUAGES]
        if unknown:
            raise ValueError(f"languages may only be {' and '.join(BRIEF_LANGUAGES)}, "
                             f"not {', '.join(unknown)}")
        return self


class FetchSettings(_Section):
    """Rules for fetching URLs."""

    timeout: Seconds = 15.0
    max_bytes: Positive = 5_000_000
    max_redirects: Count = 5
    allow_private: Flag = False
    user_agent: str = "briefing/0.1 (+https://github.com/briefing-news/briefing)"


class StoreSettings(_Section):
    """Where the store lives: a SQLite file in `data_dir`, or any SQLAlchemy URL."""

    data_dir: str = "./data"
    url: str | None = None


class SourcesSettings(_Section):
    """Where articles come from besides feeds."""

    folder: str = "./articles"


class ServiceSettings(_Section):
    """The long-running service: polling, summarising, digests."""

    poll_minutes: Seconds = 15.0
    summarise_concurrency: Positive = 4
    feed_concurrency: Positive = 8
    per_host_concurrency: Positive = 2
    max_feed_bytes: Positive = 10_000_000
    max_entries_per_poll: Positive = 200
    digest_max_stories: Positive = 8
    digest_grace_hours: Annotated[float, Field(ge=0, le=24)] = 6.0
    delivery_max_attempts: Positive = 8
    deliver_seconds: Seconds = 60.0
    delivery_concurrency: Positive = 8
    # When the LLM fails: false = the story waits for the next cycle; true = offline briefs.
    offline_fallback: Flag = False
    # Debounced re-briefing (`service.summaries.rebrief_due`): a briefed story that gained
    # sources is briefed again once none has joined it for `rebrief_quiet_minutes`, and at the
    # latest `rebrief_max_delay_minutes` after the first source its brief lacks. A first brief
    # never waits. 10 min outlasts the gaps of a burst (outlets picking up the same wire copy
    # a minute or two apart) and stays under the default poll, where it reads "the next cycle
    # in which no source joined"; 30 min bounds how stale a growing story's brief gets (two
    # default cycles) and caps a story gaining a source every cycle at two briefs an hour.
    # Both 0: every pending story at the next pass, as before debouncing.
    rebrief_quiet_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 10.0
    rebrief_max_delay_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 30.0
    # A due re-brief calls the LLM only when the joined sources bring news: at least this
    # share of their sentences say what the brief's sources do not (`stories.novelty`).
    # Below it (outlets retelling one wire copy), the brief stands and the sources are
    # added to it, no call made. 0.25: a retelling adds its own lead and a closing line,
    # a fifth of a short dispatch; a source with new facts is mostly new. 0: always call.
    rebrief_novelty: Annotated[float, Field(ge=0, le=1)] = 0.25

    @model_validator(mode="after")
    def _quiet_within_max_delay(self) -> ServiceSettings:
        if self.rebrief_quiet_minutes > self.rebrief_max_delay_minutes:
            raise ValueError(f"rebrief_quiet_minutes ({self.rebrief_quiet_minutes:g}) must not "
                             f"exceed rebrief_max_delay_minutes "
                             f"({self.rebrief_max_delay_minutes:g})")
        return self


class LiveSettings(_Section):
    """Live targets (`schedule = "live"`): when a story is posted, how often, how updated."""

    # A story is posted once it has this many sources, or this long after it first
    # arrived: one outlet alone may be wrong, and waiting for ever is no news.
    confirm_sources: Positive = 2
    confirm_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 30.0
    # At most this many live posts an hour per target; the rest wait for the daily digest.
    posts_per_hour: Positive = 4
    # An update edits the post in place while it is this recent, else replies to it: a
    # silent edit of yesterday's post helps nobody.
    edit_window_hours: Annotated[float, Field(ge=0, le=48)] = 3.0


class TelegramSettings(_Section):
    """The bot: API address, who may use it, and how much."""

    token: SecretStr | None = Field(default=None, repr=False)
    base_url: str = "https://api.telegram.org/bot"
    admins: tuple[int, ...] = ()
    allow: tuple[int, ...] = ()  # empty: everyone may use the bot
    webhook_url: str | None = None  # long polling when unset
    webhook_port: Annotated[int, Field(ge=1, le=65535)] = 8443
    summaries_per_hour: Count = 5
    summaries_per_day: Count = 20
    questions_per_hour: Count = 10
    questions_per_day: Count = 50
    daily_token_budget: Count = 2_000_000
    latest_default: Annotated[int, Field(ge=1, le=50)] = 5
    # Readers (not only admins) may /addfeed feeds they then follow, and send OPML files,
    # while they follow at most `reader_feeds_limit` feeds (briefing.service.feeds_admin).
    reader_feeds: Flag = False
    reader_feeds_limit: Annotated[int, Field(ge=1, le=1000)] = 10
    # Pacing (briefing.bot.channel.RateLimiter). A group, supergroup or channel takes about 20
    # messages a minute (Telegram's FAQ), sent strictly one every 60 / N seconds; above 60 the
    # one-a-second limit of every chat decides anyway.
    group_messages_per_minute: Annotated[int, Field(ge=1, le=60)] = 20
    # Paid broadcasts (opt-in, charged in Telegram Stars: see the README): the outbox's sends
    # carry allow_paid_broadcast and share `paid_messages_per_second` instead of the free 30/s.
    # At least the free 30; Telegram's ceiling is 1,000 unless it raised the bot's limits.
    allow_paid_broadcast: Flag = False
    paid_messages_per_second: Annotated[int, Field(ge=30, le=10_000)] = 1000

    @model_validator(mode="after")
    def _hour_within_day(self) -> TelegramSettings:
        for kind in ("summaries", "questions"):
            hour, day = getattr(self, f"{kind}_per_hour"), getattr(self, f"{kind}_per_day")
            if hour > day:
                raise ValueError(f"{kind}_per_hour ({hour}) must not exceed "
                                 f"{kind}_per_day ({day})")
        return self


class Settings(_Section):
    """The one settings object passed down through the program."""

    llm: LLMSettings = LLMSettings()
    brief: BriefSettings = BriefSettings()
    fetch: FetchSettings = FetchSettings()
    store: StoreSettings = StoreSettings()
    sources: SourcesSettings = SourcesSettings()
    service: ServiceSettings = ServiceSettings()
    telegram: TelegramSettings = TelegramSettings()
    live: LiveSettings = LiveSettings()
    prompts_dir: Path = PROMPTS_DIR


# Environment variable -> (section, key). Secrets are only ever set here.
ENV_MAP: dict[str, tuple[str, str]] = {
    "OPENAI_API_KEY": ("llm", "api_key"),
    "OPENAI_BASE_URL": ("llm", "base_url"),
    "BRIEFING_MODEL": ("llm", "model"),
    "BRIEFING_ENGINE": ("llm", "engine"),
    "BRIEFING_LLM_TIMEOUT": ("llm", "timeout"),
    "BRIEFING_CONTEXT_TOKENS": ("llm", "context_tokens"),
    "BRIEFING_ALLOW_PRIVATE_URLS": ("fetch", "allow_private"),
    "BRIEFING_DATA_DIR": ("store", "data_dir"),
    "BRIEFING_DB_URL": ("store", "url"),
    "BRIEFING_ARTICLES_DIR": ("sources", "folder"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "token"),
    "TELEGRAM_API_BASE_URL": ("telegram", "base_url"),
    "BRIEFING_ADMINS": ("telegram", "admins"),
    "BRIEFING_ALLOW": ("telegram", "allow"),
}
SECRET_KEYS = {("llm", "api_key"), ("telegram", "token")}
_LIST_KEYS = {"admins", "allow", "languages"}
_PREFIX = "BRIEFING_"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}); TOML files are UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _config_path(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        return explicit
    if env.get("BRIEFING_CONFIG"):
        return Path(env["BRIEFING_CONFIG"])
    local = Path("briefing.toml")
    return local if local.is_file() else None


def _env_value(key: str, value: str) -> Any:
    """An environment string as the settings take it: lists are comma-separated."""
    if key in _LIST_KEYS:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value  # the settings' types check and convert strings like file values


def _env_layer(env: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The environment's settings, and for each "section.key" the variable it came from.

    Every setting can be set as BRIEFING_<SECTION>__<KEY> (BRIEFING_SERVICE__POLL_MINUTES=5);
    the short names of ENV_MAP are kept as aliases, and the long form wins when both are set.
    """
    layer: dict[str, dict[str, Any]] = {}
    origins: dict[str, str] = {}
    named = [(var, *ENV_MAP[var]) for var in ENV_MAP if var in env]
    generic = sorted(var for var in env if var.startswith(_PREFIX) and "__" in var)
    for var in generic:
        section, _, key = var.removeprefix(_PREFIX).lower().partition("__")
        named.append((var, section, key))
    for var, section, key in named:
        value = env[var]
        if value == "":
            continue
        layer.setdefault(section, {})[key] = _env_value(key, value)
        origins[f"{section}.{key}"] = var
    return layer, origins


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _refuse_secrets(data: Mapping[str, Any], path: Path) -> None:
    for section, key in SECRET_KEYS:
        if key in data.get(section, {}):
            raise ConfigError(
                f"{path} sets {section}.{key}: secrets are read from the environment only"
            )


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build the frozen settings: defaults < TOML file < environment < explicit overrides.

    Raises ConfigError (one line naming the setting and where it came from) for an unreadable
    or invalid file and for any value out of range.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    config_path = _config_path(path, env)
    if config_path is not None:
        data = _read_toml(config_path)
        _refuse_secrets(data, config_path)
    env_data, origins = _env_layer(env)
    data = _merge(data, env_data)
    data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origins, config_path)) from None


def _explain(exc: ValidationError, origins: Mapping[str, str], path: Path | None) -> str:
    """One line for the first invalid value: the setting, its origin and what is wrong."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
    message = str(first["msg"]).removeprefix("Value error, ")
    origin = origins.get(where) or (f"in {path}" if path is not None else None)
    if origin is None and "." not in where:  # a check across values of a section
        origin = next((f"from {v}" for k, v in origins.items() if k.startswith(f"{where}.")),
                      None)
    elif origin in origins.values():
        origin = f"from {origin}"
    shown = ""
    if first["type"] not in ("extra_forbidden", "missing") and where not in _SECRET_NAMES:
        value = first.get("input")
        if isinstance(value, str | int | float | bool):
            shown = f" = {value!r}"
    return f"invalid setting {where}{shown}" + (f" ({origin})" if origin else "") + f": {message}"


_SECRET_NAMES = {f"{section}.{key}" for section, key in SECRET_KEYS}

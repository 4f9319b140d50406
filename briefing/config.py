"""Settings: built-in defaults < TOML file < environment, built once and frozen.

Secrets (API keys, bot tokens) are read from the environment only; a config file
that contains one is refused, so secrets never end up in a committed file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from briefing.errors import ConfigError

EngineName = Literal["auto", "llm", "extractive"]
PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LLMSettings(_Section):
    """How to reach the OpenAI-compatible server and how to budget tokens."""

    engine: EngineName = "auto"
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)
    timeout: float = 60.0
    max_retries: int = 2
    temperature: float = 0.2
    context_tokens: int = 16_000
    max_output_tokens: int = 1_500
    chunk_overlap_tokens: int = 48
    encoding: str = "auto"
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    # US dollars per million tokens, for the cost estimates in /stats and eval.
    price_input_per_mtok: float = 0.15
    price_output_per_mtok: float = 0.60

    @property
    def configured(self) -> bool:
        """True when a key or a base URL says an LLM is available."""
        return self.api_key is not None or bool(self.base_url)


class BriefSettings(_Section):
    """The shape every brief must have."""

    languages: tuple[str, ...] = ("fr", "en")
    max_points: int = 3
    min_quotes: int = 2
    max_quotes: int = 4
    max_words: int = 90


class FetchSettings(_Section):
    """Rules for fetching URLs."""

    timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False
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

    poll_minutes: float = 15.0
    summarise_concurrency: int = 4
    feed_concurrency: int = 8
    per_host_concurrency: int = 2
    max_feed_bytes: int = 10_000_000
    max_entries_per_poll: int = 200
    digest_max_stories: int = 8
    digest_grace_hours: float = 6.0
    delivery_max_attempts: int = 8
    deliver_seconds: float = 60.0
    delivery_concurrency: int = 8
    # When the LLM fails: false = the story waits for the next cycle; true = offline briefs.
    offline_fallback: bool = False


class TelegramSettings(_Section):
    """The bot: API address, who may use it, and how much."""

    token: SecretStr | None = Field(default=None, repr=False)
    base_url: str = "https://api.telegram.org/bot"
    admins: tuple[int, ...] = ()
    allow: tuple[int, ...] = ()  # empty: everyone may use the bot
    webhook_url: str | None = None  # long polling when unset
    webhook_port: int = 8443
    summaries_per_hour: int = 5
    summaries_per_day: int = 20
    questions_per_hour: int = 10
    questions_per_day: int = 50
    daily_token_budget: int = 2_000_000
    latest_default: int = 5


class Settings(_Section):
    """The one settings object passed down through the program."""

    llm: LLMSettings = LLMSettings()
    brief: BriefSettings = BriefSettings()
    fetch: FetchSettings = FetchSettings()
    store: StoreSettings = StoreSettings()
    sources: SourcesSettings = SourcesSettings()
    service: ServiceSettings = ServiceSettings()
    telegram: TelegramSettings = TelegramSettings()
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
_LIST_KEYS = {"admins", "allow"}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _config_path(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        return explicit
    if env.get("BRIEFING_CONFIG"):
        return Path(env["BRIEFING_CONFIG"])
    local = Path("briefing.toml")
    return local if local.is_file() else None


def _env_layer(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    layer: dict[str, dict[str, Any]] = {}
    for var, (section, key) in ENV_MAP.items():
        value = env.get(var)
        if value is None or value == "":
            continue
        if key == "allow_private":
            layer.setdefault(section, {})[key] = value.strip().lower() in {"1", "true", "yes"}
        elif key in _LIST_KEYS:
            layer.setdefault(section, {})[key] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            layer.setdefault(section, {})[key] = value
    return layer


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
    """Build the frozen settings: defaults < TOML file < environment < explicit overrides."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    config_path = _config_path(path, env)
    if config_path is not None:
        data = _read_toml(config_path)
        _refuse_secrets(data, config_path)
    data = _merge(data, _env_layer(env))
    data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None

"""Settings layering: defaults < TOML file < environment; secrets from the environment only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel, SecretStr

from briefing.briefs.engines.select import select_engine
from briefing.config import ENV_MAP, SECRET_KEYS, Settings, load_settings
from briefing.errors import ConfigError


def test_defaults_need_no_file_and_no_environment() -> None:
    settings = load_settings(env={})
    assert settings.llm.engine == "auto" and not settings.llm.configured
    assert settings.fetch.max_bytes == 5_000_000 and settings.fetch.allow_private is False
    assert select_engine(settings).name == "extractive"


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text('[llm]\nmodel = "from-file"\ntimeout = 5\n[brief]\nmax_points = 2\n')
    settings = load_settings(path, env={"BRIEFING_MODEL": "from-env"})
    assert settings.llm.model == "from-env"
    assert settings.llm.timeout == 5.0 and settings.brief.max_points == 2


def test_config_path_comes_from_briefing_config(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text('[fetch]\ntimeout = 3\n')
    assert load_settings(env={"BRIEFING_CONFIG": str(path)}).fetch.timeout == 3.0


def test_a_key_or_a_base_url_makes_auto_pick_the_llm() -> None:
    with_key = load_settings(env={"OPENAI_API_KEY": "sk-test-123"})
    local = load_settings(env={"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})
    assert select_engine(with_key).name == "llm" and select_engine(local).name == "llm"
    forced = load_settings(env={"OPENAI_API_KEY": "sk-test-123", "BRIEFING_ENGINE": "extractive"})
    assert select_engine(forced).name == "extractive"


def test_private_urls_flag_from_the_environment() -> None:
    assert load_settings(env={"BRIEFING_ALLOW_PRIVATE_URLS": "1"}).fetch.allow_private
    assert not load_settings(env={"BRIEFING_ALLOW_PRIVATE_URLS": "0"}).fetch.allow_private


def test_secret_never_appears_in_repr_or_dump() -> None:
    settings = load_settings(env={"OPENAI_API_KEY": "sk-test-secret-value"})
    assert "sk-test-secret-value" not in repr(settings)
    assert "sk-test-secret-value" not in settings.model_dump_json()
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "sk-test-secret-value"


def test_settings_are_frozen() -> None:
    settings = load_settings(env={})
    with pytest.raises(Exception, match="frozen"):
        settings.llm.model = "other"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[llm]\napi_key = "sk-x"\n', "environment only"),
        ("[llm\n", "not valid TOML"),
        ('[llm]\nengine = "magic"\n', "llm.engine"),
        ("[brief]\nunknown = 1\n", "brief.unknown"),
    ],
)
def test_bad_config_files_are_refused_with_a_clear_message(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path, env={})
    assert "sk-x" not in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_the_example_config_documents_the_defaults() -> None:
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    assert load_settings(example, env={}) == load_settings(env={})


# --- every value is range-checked, from the file and from the environment alike -----------


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("[llm]\ntimeout = 0\n", "llm.timeout"),
        ("[llm]\ntimeout = -5\n", "llm.timeout"),
        ("[llm]\ncontext_tokens = 0\n", "llm.context_tokens"),
        ("[llm]\ncontext_tokens = 2000\nmax_output_tokens = 2000\n", "llm"),
        ("[llm]\nmax_retries = -1\n", "llm.max_retries"),
        ("[brief]\nmin_quotes = 5\nmax_quotes = 3\n", "brief"),
        ("[brief]\nmax_points = 0\n", "brief.max_points"),
        ("[brief]\nlanguages = []\n", "brief.languages"),
        ("[brief]\nlanguages = [\"fr\", \"xx\"]\n", "brief"),
        ("[fetch]\nmax_bytes = 0\n", "fetch.max_bytes"),
        ("[fetch]\nallow_private = \"on\"\n", "fetch.allow_private"),
        ("[fetch]\nallow_private = 2\n", "fetch.allow_private"),
        ("[service]\nfeed_concurrency = 0\n", "service.feed_concurrency"),
        ("[service]\npoll_minutes = 0\n", "service.poll_minutes"),
        ("[service]\noffline_fallback = \"maybe\"\n", "service.offline_fallback"),
        ("[telegram]\nsummaries_per_hour = 30\nsummaries_per_day = 10\n", "telegram"),
        ("[telegram]\nwebhook_port = 70000\n", "telegram.webhook_port"),
    ],
)
def test_out_of_range_file_values_are_refused_naming_setting_and_file(
    tmp_path: Path, content: str, where: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert message.startswith(f"invalid setting {where}") and str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("var", "value", "where"),
    [
        ("BRIEFING_LLM_TIMEOUT", "-1", "llm.timeout"),
        ("BRIEFING_LLM_TIMEOUT", "soon", "llm.timeout"),
        ("BRIEFING_CONTEXT_TOKENS", "0", "llm.context_tokens"),
        ("BRIEFING_ALLOW_PRIVATE_URLS", "maybe", "fetch.allow_private"),
        ("BRIEFING_ALLOW_PRIVATE_URLS", "on", "fetch.allow_private"),
        ("BRIEFING_ENGINE", "magic", "llm.engine"),
        ("BRIEFING_ADMINS", "alice", "telegram.admins"),
    ],
)
def test_out_of_range_environment_values_are_refused_naming_the_variable(
    var: str, value: str, where: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={var: value})
    message = str(info.value)
    assert message.startswith(f"invalid setting {where}") and var in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("False", False), ("no", False)],
)
def test_booleans_take_true_false_one_zero_yes_no(value: str, expected: bool) -> None:
    assert load_settings(env={"BRIEFING_ALLOW_PRIVATE_URLS": value}).fetch.allow_private is expected


def test_a_bad_secret_is_reported_without_its_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[llm]\ntimeout = 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"OPENAI_API_KEY": "sk-test-secret-value"})
    assert "sk-test-secret-value" not in str(info.value)


def test_a_config_path_that_is_a_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, env={})


def test_a_config_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[llm]\nmodel = "modèle"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, env={})


def test_a_utf8_config_file_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes('\ufeff[llm]\nmodel = "modèle"\n'.encode())
    assert load_settings(path, env={}).llm.model == "modèle"


def test_every_setting_has_an_environment_name_and_aliases_stay() -> None:
    settings = load_settings(env={
        "BRIEFING_SERVICE__POLL_MINUTES": "5", "BRIEFING_BRIEF__LANGUAGES": "en",
        "BRIEFING_FETCH__ALLOW_PRIVATE": "yes", "BRIEFING_MODEL": "alias-model",
    })
    assert settings.service.poll_minutes == 5.0 and settings.brief.languages == ("en",)
    assert settings.fetch.allow_private is True and settings.llm.model == "alias-model"
    both = load_settings(env={"BRIEFING_MODEL": "alias", "BRIEFING_LLM__MODEL": "long"})
    assert both.llm.model == "long"


def test_an_unknown_environment_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"service\.pol_minutes.*BRIEFING_SERVICE__POL_MINUTES"):
        load_settings(env={"BRIEFING_SERVICE__POL_MINUTES": "5"})


# --- every setting has an environment name, and every name is documented -----------------

ROOT = Path(__file__).resolve().parent.parent


def another_value(annotation: Any, default: Any) -> tuple[str, Any]:
    """A valid value other than `default`, as an environment string and as read back."""
    if get_origin(annotation) is Literal:
        choice = next(c for c in get_args(annotation) if c != default)
        return choice, choice
    if default is None:  # the optional strings: addresses, or a secret read back in clear
        return "http://127.0.0.1:9/x", "http://127.0.0.1:9/x"
    if isinstance(default, bool):
        return str(not default).lower(), not default
    if isinstance(default, float) and default < 1:  # a share: stays within [0, 1]
        return str(default / 2), default / 2
    if isinstance(default, int | float):
        return str(default + 1), default + 1
    if isinstance(default, tuple):
        values = ("en",) if default == ("fr", "en") else (7, 8)
        return ",".join(map(str, values)), values
    return f"{default}-other", f"{default}-other"


SECTION_FIELDS = [
    (section, key, field.annotation, field.default)
    for section, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    for key, field in info.annotation.model_fields.items()
]


def test_the_sections_are_read() -> None:
    # An empty list would make the checks below pass without checking anything.
    names = {(s, k) for s, k, _, _ in SECTION_FIELDS}
    assert {("llm", "model"), ("service", "poll_minutes"), ("telegram", "allow")} <= names
    assert len(names) > 50


@pytest.mark.parametrize(("section", "key", "annotation", "default"), SECTION_FIELDS,
                         ids=[f"{s}.{k}" for s, k, _, _ in SECTION_FIELDS])
def test_every_setting_comes_from_its_long_environment_name(
    section: str, key: str, annotation: Any, default: Any
) -> None:
    text, expected = another_value(annotation, default)
    settings = load_settings(env={f"BRIEFING_{section.upper()}__{key.upper()}": text})
    value = getattr(getattr(settings, section), key)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    assert value == expected


def test_every_short_name_is_listed_in_the_readme_and_the_example_config() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert [var for var in [*ENV_MAP, "BRIEFING_CONFIG"] if f"`{var}`" not in readme] == []
    assert [var for var in [*ENV_MAP, "BRIEFING_CONFIG"] if var not in example] == []


def test_the_example_config_lists_every_setting_in_its_section() -> None:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", example, re.M | re.S))
    missing = [f"{section}.{key}" for section, key, _, _ in SECTION_FIELDS
               if (section, key) not in SECRET_KEYS
               and not re.search(rf"^(# )?{key} = ", sections.get(section, ""), re.M)]
    assert missing == []

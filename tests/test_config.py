"""Settings layering: defaults < TOML file < environment; secrets from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefing.config import load_settings
from briefing.engines import select_engine
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

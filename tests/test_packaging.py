"""The packaging files (Dockerfile, .dockerignore, compose.yaml, the systemd units) are not
run here: docker and systemd are not in CI. These checks read them as text and hold them to
what the project really is: stages and a non-root user, no secret baked in, a command line
the CLI accepts, the environment variable names the settings read."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from briefing.cli.app import app
from briefing.config import ENV_MAP
from briefing.logs import LogFormat
from tests.conftest import invoke

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
UNIT = ROOT / "deploy" / "briefing.service"
TEMPLATE_UNIT = ROOT / "deploy" / "briefing@.service"
SECRET_WORD = re.compile(r"TOKEN|KEY|PASSWORD|SECRET", re.IGNORECASE)
# Variables the program reads besides the settings' ENV_MAP: the config file's path, the
# log format (an option's envvar), and Python's own.
OTHER_VARIABLES = {"BRIEFING_CONFIG", "BRIEFING_LOG_FORMAT", "PYTHONUNBUFFERED",
                   "PYTHONDONTWRITEBYTECODE", "PIP_DISABLE_PIP_VERSION_CHECK"}


def instructions(text: str) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined and
    comments (the `# syntax=` directive too) left out."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, f"a continued instruction never ends: {pending!r}"
    return result


def dockerfile() -> list[tuple[str, str]]:
    """The project's Dockerfile, as instructions."""
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def arguments(keyword: str) -> list[str]:
    """The exec-form (JSON array) arguments of the last `keyword` instruction."""
    found = [rest for kw, rest in dockerfile() if kw == keyword]
    assert found, f"the Dockerfile has no {keyword}"
    value = json.loads(found[-1])
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def variables_set(instruction: tuple[str, str]) -> dict[str, str | None]:
    """The names an ENV or ARG instruction sets, with their value (None: no value)."""
    keyword, rest = instruction
    if keyword == "ENV" and "=" not in rest.split(" ", 1)[0]:
        name, _, value = rest.partition(" ")  # the legacy form, `ENV NAME value`
        return {name: value.strip() or None}
    names: dict[str, str | None] = {}
    for word in re.findall(r'(?:[^\s"\']+|"[^"]*"|\'[^\']*\')+', rest):
        name, equals, value = word.partition("=")
        names[name] = value if equals else None
    return names


def baked_secrets(text: str) -> list[str]:
    """The ENV and ARG names of a Dockerfile that look like a secret: an ENV with any value,
    and any ARG (a build argument stays in the image's history even without a default)."""
    found = []
    for instruction in instructions(text):
        if instruction[0] not in ("ENV", "ARG"):
            continue
        for name, value in variables_set(instruction).items():
            if SECRET_WORD.search(name) and (instruction[0] == "ARG" or value):
                found.append(name)
    return found


# --- Dockerfile -----------------------------------------------------------------------------


def test_the_dockerfile_has_a_build_stage_and_a_runtime_stage() -> None:
    stages = [rest for kw, rest in dockerfile() if kw == "FROM"]
    assert len(stages) >= 2, stages
    assert all(stage.split()[0] == "python:3.11-slim" for stage in stages), stages
    # The runtime installs the wheels the first stage built, from them only.
    runs = " ".join(rest for kw, rest in dockerfile() if kw == "RUN")
    assert "pip wheel" in runs and "'.[postgres]'" in runs
    assert "--no-index" in runs and "/wheels" in runs


def test_the_runtime_stage_has_no_compiler() -> None:
    steps = dockerfile()
    last_from = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    runtime = " ".join(rest for kw, rest in steps[last_from:] if kw == "RUN")
    assert not re.search(r"build-essential|\bgcc\b|\bg\+\+|\bclang\b|-dev\b", runtime), runtime


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    users = [rest for kw, rest in dockerfile() if kw == "USER"]
    assert users, "no USER line: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    runs = " ".join(rest for kw, rest in dockerfile() if kw == "RUN")
    assert re.search(rf"useradd\b[^&;]*--uid 10001\b[^&;]*\b{user}\b", runs), runs


def test_no_secret_is_baked_into_the_image() -> None:
    assert baked_secrets(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_the_secret_check_finds_secrets() -> None:
    # The check above must be able to fail: these are what it exists to refuse.
    bad = ("FROM python:3.11-slim\n"
           "ENV TELEGRAM_BOT_TOKEN=123:abc\n"
           "ENV OPENAI_API_KEY sk-abc\n"
           "ENV A=1 \\\n    DB_PASSWORD=\"hunter 2\"\n"
           "ARG GITHUB_TOKEN\n"
           "ENV BRIEFING_DATA_DIR=/data\n")
    assert baked_secrets(bad) == ["TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "DB_PASSWORD",
                                  "GITHUB_TOKEN"]


def test_the_image_sets_only_variables_briefing_reads() -> None:
    names = [name for instruction in dockerfile() if instruction[0] == "ENV"
             for name in variables_set(instruction)]
    unknown = [n for n in names if n not in ENV_MAP and n not in OTHER_VARIABLES
               and not (n.startswith("BRIEFING_") and "__" in n)]
    assert unknown == []
    assert "BRIEFING_DATA_DIR" in names and ENV_MAP["BRIEFING_DATA_DIR"] == ("store", "data_dir")


def test_the_entrypoint_is_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"]
    assert arguments("ENTRYPOINT") == ["briefing"]
    assert scripts["briefing"] == "briefing.cli.app:main"


def help_options(*path: str) -> set[str]:
    """The long options `briefing PATH --help` lists."""
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", result.stdout))


def test_the_command_line_is_one_the_cli_accepts() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    cmd = arguments("CMD")
    at = next((i for i, word in enumerate(cmd) if word in root.commands), None)
    assert at is not None, f"no briefing command in CMD {cmd}"
    root_words, name, command_words = cmd[:at], cmd[at], cmd[at + 1:]
    assert name == "run"
    assert "--log-format" in help_options()
    assert root_words == ["--log-format", "json"] and LogFormat(root_words[1])
    options = [word for word in command_words if word.startswith("--")]
    assert options == ["--http"]
    if "--http" not in help_options(name):
        pytest.skip(f"`briefing {name} --help` does not list --http yet (another change adds "
                    "the HTTP server); the CMD and HEALTHCHECK depend on it")


def test_the_port_is_the_same_everywhere() -> None:
    cmd = arguments("CMD")
    listen = cmd[cmd.index("--http") + 1]
    assert listen == "0.0.0.0:8080"  # all interfaces: the container's port is published
    exposed = [rest for kw, rest in dockerfile() if kw == "EXPOSE"]
    assert exposed == ["8080"]
    health = [rest for kw, rest in dockerfile() if kw == "HEALTHCHECK"]
    assert len(health) == 1 and "urllib.request" in health[0]
    assert "http://127.0.0.1:8080/healthz" in health[0]


def test_the_build_context_leaves_out_local_state_but_not_the_sources() -> None:
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "data", ".env", ".pytest_cache", ".mypy_cache"} <= patterns
    assert {"bench", "bench/results"} & patterns
    # The wheel is built from these: leaving one out breaks the build.
    assert not {"briefing", "pyproject.toml", "README.md", "*.md", "*.toml"} & patterns
    copied = " ".join(rest for kw, rest in dockerfile() if kw == "COPY")
    assert "pyproject.toml" in copied and "README.md" in copied and "briefing" in copied


# --- compose.yaml ---------------------------------------------------------------------------

SERVICES = ("postgres", "worker-1", "worker-2")


def compose_text() -> str:
    """compose.yaml as text."""
    return COMPOSE.read_text(encoding="utf-8")


def test_compose_defines_postgres_and_two_workers_without_a_literal_secret() -> None:
    text = compose_text()
    services = text[text.index("\nservices:"):]
    for name in SERVICES:
        assert re.search(rf"^  {re.escape(name)}:\s*$", services, re.MULTILINE), name
    # Every value of a secret-looking key comes from the environment (${...}).
    for key, value in re.findall(r"^\s*-?\s*([A-Z_]+)\s*[:=]\s*(.+?)\s*$", text, re.MULTILINE):
        if SECRET_WORD.search(key):
            assert value.startswith("${"), f"{key} = {value}"
    for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", text):
        assert re.fullmatch(r"\$\{POSTGRES_PASSWORD[^}]*\}", password), password
    assert "${POSTGRES_PASSWORD:?" in text


def test_compose_sets_variables_briefing_reads() -> None:
    names = set(re.findall(r"^\s+(BRIEFING_[A-Z_]+|OPENAI_[A-Z_]+|TELEGRAM_[A-Z_]+):",
                           compose_text(), re.MULTILINE))
    assert {"BRIEFING_DB_URL", "TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"} <= names
    assert names - set(ENV_MAP) - OTHER_VARIABLES == set()
    assert ENV_MAP["BRIEFING_DB_URL"] == ("store", "url")


def yaml_module() -> Any:
    """PyYAML, or skip: the project does not depend on it."""
    if importlib.util.find_spec("yaml") is None:
        pytest.skip("PyYAML is not installed: compose.yaml is checked as text only")
    return importlib.import_module("yaml")


def test_compose_parses_and_wires_the_workers() -> None:
    document = yaml_module().safe_load(compose_text())
    services = document["services"]
    assert set(SERVICES) <= set(services)
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in document["volumes"]
    for name, port in (("worker-1", 8081), ("worker-2", 8082)):
        worker = services[name]
        assert worker["build"] == "."
        assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert worker["ports"] == [f"127.0.0.1:{port}:8080"]
        assert worker["restart"] == "unless-stopped" and worker["stop_grace_period"] == "30s"
        env = worker["environment"]
        assert env["BRIEFING_DB_URL"] == ("postgresql+psycopg://briefing:${POSTGRES_PASSWORD}"
                                          "@postgres:5432/briefing")
        for secret in ("TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            assert env[secret] == f"${{{secret}:-}}"


# --- systemd --------------------------------------------------------------------------------


def unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key with its values in order (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} comes before any section"
        key, equals, value = line.partition("=")
        assert equals, f"{path.name}: {line!r} is not KEY=VALUE"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("path", [UNIT, TEMPLATE_UNIT], ids=lambda p: p.name)
def test_the_systemd_units_run_the_service_sandboxed(path: Path) -> None:
    unit = unit_sections(path)
    assert {"Unit", "Service", "Install"} <= set(unit)
    service = unit["Service"]
    (exec_start,) = service["ExecStart"]
    words = exec_start.split()
    assert words[0] == "/opt/briefing/.venv/bin/briefing"
    assert words[1:5] == ["--log-format", "json", "run", "--http"]
    assert words[5].startswith("127.0.0.1:") and len(words) == 6
    assert service["Type"] == ["simple"] and service["User"] == ["briefing"]
    assert service["Restart"] == ["on-failure"]
    assert service["EnvironmentFile"] == ["/etc/briefing/env"]
    for hardening in ("NoNewPrivileges", "PrivateTmp"):
        assert service[hardening] == ["true"], hardening
    assert service["ProtectSystem"] == ["strict"]
    assert service["WorkingDirectory"][0].startswith("/var/lib/briefing")
    assert service["ReadWritePaths"] == service["WorkingDirectory"]
    # Secrets go in the EnvironmentFile only: a unit is readable by every user.
    for assignment in service.get("Environment", []):
        assert not SECRET_WORD.search(assignment.partition("=")[0]), assignment
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_single_unit_listens_where_the_template_puts_its_instance() -> None:
    single = unit_sections(UNIT)["Service"]["ExecStart"][0]
    template = unit_sections(TEMPLATE_UNIT)["Service"]
    assert single.endswith("--http 127.0.0.1:8080")
    # One worker per port: the instance name is the port, its data directory its own.
    assert template["ExecStart"][0].endswith("--http 127.0.0.1:%i")
    assert template["WorkingDirectory"] == ["/var/lib/briefing/%i"]
    assert "BRIEFING_DATA_DIR=/var/lib/briefing/%i" in template["Environment"]

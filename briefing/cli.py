"""The command line: `briefing summarize` and `briefing extract`.

Errors become one line on stderr and an exit code here, and only here:
2 for bad input, 3 for bad configuration, 1 for other failures.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from briefing.config import Settings, load_settings
from briefing.errors import BadInput, BriefingError
from briefing.logs import redact, setup_logging
from briefing.pipeline import summarise
from briefing.render.terminal import render_terminal
from briefing.sources.load import load_one, load_story

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="French and English news briefs with machine-checked verbatim quotes.",
)
log = logging.getLogger("briefing")
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (else BRIEFING_CONFIG, "
                              "else ./briefing.toml when present).", show_default=False)
]
_state: dict[str, bool] = {"verbose": False}


@contextmanager
def edge() -> Iterator[None]:
    """Turn our errors into one line on stderr and an exit code (used by every command)."""
    try:
        yield
    except BriefingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: say so in one line; --verbose shows the traceback
        log.debug("unexpected error", exc_info=True)
        typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None


def settings_from(config: Path | None, **llm: str | None) -> Settings:
    """The settings for a command (file, environment, then command-line options)."""
    settings = load_settings(config)
    changes = {k: v for k, v in llm.items() if v is not None}
    if changes:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update=changes)})
    redact(settings)
    return settings


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    setup_logging(verbose)


@app.command()
def summarize(
    sources: Annotated[list[str], typer.Argument(help="Files, http(s) URLs, or - for stdin; "
                                                 "several sources are one story.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    engine: Annotated[str | None, typer.Option(help="auto | llm | extractive")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (else BRIEFING_MODEL).")] = None,
    config: ConfigOption = None,
) -> None:
    """Summarise one story into French and English briefs with checked quotes."""
    with edge():
        if engine not in (None, "auto", "llm", "extractive"):
            raise BadInput("--engine must be auto, llm or extractive")
        settings = settings_from(config, engine=engine, model=model)
        result = summarise(load_story(sources, settings.fetch), settings)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        else:
            render_terminal(result, Console())


@app.command("extract")
def extract_command(
    source: Annotated[str, typer.Argument(help="A file, an http(s) URL, or - for stdin.")],
    config: ConfigOption = None,
) -> None:
    """Print the clean article text the pipeline works on (quote offsets refer to it)."""
    with edge():
        extracted, _ = load_one(source, load_settings(config).fetch)
        for note in extracted.notes:  # how the text was read (a detected charset, ...)
            typer.echo(f"note: {note}", err=True)
        sys.stdout.write(extracted.text + "\n")


def main() -> None:
    """Console-script entry point."""
    import briefing.cli_eval  # registers `briefing eval` on `app`
    import briefing.cli_llm  # registers `briefing llm check` on `app`
    import briefing.cli_service  # noqa: F401 - registers the service commands on `app`

    app()

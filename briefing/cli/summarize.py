"""`briefing summarize` and `briefing extract`: one story from files, URLs or stdin."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from briefing.briefs.pipeline import summarise
from briefing.cli.common import Commands, ConfigOption, edge, output_console, settings_from
from briefing.config import load_settings
from briefing.errors import BadInput
from briefing.render.terminal import render_terminal
from briefing.sources.load import load_one, load_story

commands = Commands()


@commands.command()
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
            render_terminal(result, output_console())


@commands.command("extract")
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

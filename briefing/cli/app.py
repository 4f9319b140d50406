"""The `briefing` application: the commands of every module of this package, one callback
for the options all commands share (--version, -v, -q, --log-format), and the console-script
entry point.
"""

from __future__ import annotations

from typing import Annotated

import typer

import briefing  # for `briefing.__version__`, the one place the version is written
from briefing.cli import eval as eval_commands
from briefing.cli import llm, service, status, summarize
from briefing.cli.common import (
    CLOSED_PIPE_EXIT,
    Commands,
    Verbosity,
    set_verbosity,
    silence_stdout,
)
from briefing.logs import LogFormat, setup_logging

app = Commands(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="French and English news briefs with machine-checked verbatim quotes.",
)
for module in (summarize, service, status, eval_commands, llm):
    app.add_typer(module.commands)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"briefing {briefing.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Say more: progress details, debug logs, tracebacks of bugs.")
    ] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Say only warnings and errors (results are still printed).")
    ] = False,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", envvar="BRIEFING_LOG_FORMAT", show_envvar=False,
        help="How log records are written on stderr: `text`, one line each for people, or "
             "`json`, one JSON object per line for log collectors (also BRIEFING_LOG_FORMAT).")
    ] = LogFormat.TEXT,
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True,
        callback=_print_version)] = False,
) -> None:
    """French and English news briefs with machine-checked verbatim quotes."""
    if verbose and quiet:
        raise typer.BadParameter("use --verbose or --quiet, not both")
    set_verbosity(ctx, Verbosity.VERBOSE if verbose else
                  Verbosity.QUIET if quiet else Verbosity.NORMAL)
    setup_logging(verbose, log_format)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # help or usage text cut short by `| head`: end quietly
        silence_stdout()
        raise SystemExit(CLOSED_PIPE_EXIT) from None

"""The `briefing` application: the commands of every module of this package, one callback
for the options all commands share, and the console-script entry point.
"""

from __future__ import annotations

from typing import Annotated

import typer

from briefing.cli import eval as eval_commands
from briefing.cli import llm, service, summarize
from briefing.logs import setup_logging

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="French and English news briefs with machine-checked verbatim quotes.",
)
for module in (summarize, service, eval_commands, llm):
    app.add_typer(module.commands)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    setup_logging(verbose)


def main() -> None:
    """Console-script entry point."""
    app()

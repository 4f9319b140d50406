"""`briefing llm check`: see what the LLM server supports before relying on it.

The check (and the `openai` SDK it brings, about half a second to import) is loaded when
the command runs, so `briefing --help` and the other commands start without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from briefing.cli.common import Commands, ConfigOption, edge, settings_from

if TYPE_CHECKING:
    from briefing.llm.check import Finding

commands = Commands()
llm_app = Commands(help="The LLM server: check what it supports.", no_args_is_help=True)
commands.add_typer(llm_app, name="llm")


@llm_app.command("check")
def check_command(
    model: Annotated[str | None, typer.Option(help="Model name (else BRIEFING_MODEL).")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="Server URL, e.g. http://localhost:8080/v1 (else OPENAI_BASE_URL)."
    )] = None,
    config: ConfigOption = None,
) -> None:
    """Reachable? Model listed? Which JSON output formats work, context size, call time.

    One line per finding; exit 0 when briefs can use the server, 2 when the server
    cannot serve them, 3 when a setting must change.
    """
    from briefing.llm.check import check_llm, exit_code

    findings: list[Finding] = []
    with edge():
        settings = settings_from(config, model=model, base_url=base_url)
        for finding in check_llm(settings):
            typer.echo(finding.line())
            findings.append(finding)
    code = exit_code(findings)
    if code:
        raise typer.Exit(code)

"""What every command shares: the --config option, settings layered once, and the edge
where our errors become one line on stderr and an exit code (2 bad input, 3 configuration,
1 anything else).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from briefing.config import Settings, load_settings
from briefing.errors import BriefingError
from briefing.logs import redact

log = logging.getLogger("briefing")
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (else BRIEFING_CONFIG, "
                              "else ./briefing.toml when present).", show_default=False)
]


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

"""What every command shares: the --config option, settings layered once, the edge where
our errors become one line on stderr and an exit code (2 bad input, 3 configuration, 1
anything else), how loud the output is (-q / -v), and help without type placeholders.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from briefing.config import Settings, load_settings
from briefing.errors import BriefingError
from briefing.logs import redact

log = logging.getLogger("briefing")
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (else BRIEFING_CONFIG, "
                              "else ./briefing.toml when present).", show_default=False)
]
# What a reader of a closed pipe expects from a command it cut short (`stories | head -1`):
# the shell's code for a process ended by SIGPIPE, 128 + 13, and nothing on stderr.
CLOSED_PIPE_EXIT = 141


class Verbosity(IntEnum):
    """How much a command says besides its result: -q, nothing said, or -v."""

    QUIET = -1
    NORMAL = 0
    VERBOSE = 1


_VERBOSITY = "briefing.verbosity"


def set_verbosity(ctx: typer.Context, level: Verbosity) -> None:
    """Remember the level for the command about to run (the root callback calls this)."""
    # `meta` is shared by every context of one invocation; `obj` is Typer's own (a dict).
    ctx.meta[_VERBOSITY] = level


def verbosity(ctx: typer.Context) -> Verbosity:
    """The level the global -q / -v set for this invocation."""
    level = ctx.meta.get(_VERBOSITY)
    return level if isinstance(level, Verbosity) else Verbosity.NORMAL


@contextmanager
def edge() -> Iterator[None]:
    """Turn our errors into one line on stderr and an exit code (used by every command)."""
    try:
        yield
    except BriefingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except BrokenPipeError:
        silence_stdout()
        raise typer.Exit(CLOSED_PIPE_EXIT) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: say so in one line; --verbose shows the traceback
        log.debug("unexpected error", exc_info=True)
        typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone.

    Python flushes stdout at exit; into a closed pipe that flush fails again and prints
    "Exception ignored ... BrokenPipeError" on stderr, so what is left must go nowhere.
    """
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test runner's buffer): nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class _OutputConsole(Console):
    """A rich console for results on stdout that leaves a closed pipe to `edge`."""

    def on_broken_pipe(self) -> None:
        """Rich's own handling exits 1; the edge ends every command alike (141, silent)."""
        self.quiet = True
        raise BrokenPipeError


def output_console() -> Console:
    """The console a command prints its result on (stdout)."""
    return _OutputConsole()


def settings_from(config: Path | None, **llm: str | None) -> Settings:
    """The settings for a command (file, environment, then command-line options)."""
    settings = load_settings(config)
    changes = {k: v for k, v in llm.items() if v is not None}
    if changes:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update=changes)})
    redact(settings)
    return settings


# --- help without type placeholders ------------------------------------------------------
# Typer 0.29's help prints a type column (`<bool>`, `<str>`, `<list[str]>`) next to every
# parameter, even `--help`. For an option, an empty `metavar` replaces that column (the
# documented way to change it); an argument's column ignores its metavar (the metavar is its
# name there), so arguments get a subclass that only leaves the column empty.


class _UntypedArgument(TyperArgument):
    """A positional argument whose help shows its name and text, no type placeholder."""

    def display_type_rich(self, ctx: Any) -> str | None:
        """No type column (Typer's `<list[str]>` tells a reader nothing the text does not)."""
        return None


def _without_types(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and not isinstance(param, _UntypedArgument):
            param.__class__ = _UntypedArgument  # same object and state, one method differs
    return params


class PlainCommand(TyperCommand):
    """A command whose help lists its parameters without type placeholders."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters, `--help` included, each shown without a type placeholder."""
        return _without_types(super().get_params(ctx))


class PlainGroup(TyperGroup):
    """A group whose help lists its options without type placeholders."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The group's options, `--help` included, each shown without a type placeholder."""
        return _without_types(super().get_params(ctx))


class Commands(typer.Typer):
    """A Typer app whose groups and commands print help without type placeholders."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=PlainGroup, **kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None,
                **kwargs: Any) -> Callable[[Any], Any]:
        """`typer.Typer.command`, with `PlainCommand` as the default command class."""
        return super().command(name, cls=cls or PlainCommand, **kwargs)

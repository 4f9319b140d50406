"""`briefing status`: the fleet on one screen (workers and what each holds, feeds due and
failing, stories waiting for a brief, the outbox, the last errors), or as JSON.

It opens the store without migrating it: a look at the fleet never changes the schema
under workers of another release.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from briefing.cli.common import Commands, ConfigOption, edge, output_console, settings_from
from briefing.clock import utcnow
from briefing.errors import ConfigError

if TYPE_CHECKING:
    from briefing.store.status import FleetStatus

commands = Commands()


@commands.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")
                       ] = False,
) -> None:
    """The fleet of `briefing run` workers on this store, at a glance."""
    from briefing.service.fleet import LEASE
    from briefing.store.db import open_database
    from briefing.store.status import fleet_status

    with edge():
        settings = settings_from(config)
        db = open_database(settings.store, migrate=False)
        try:
            if not db.schema_is_current():
                raise ConfigError(f"the store {db.shown()} is not at this release's schema: "
                                  "run `briefing db upgrade` (or start a worker) first")
            # Alive: seen within one lease; past it, the worker's work is others' to take.
            fleet = fleet_status(db, utcnow(), alive_within=LEASE)
        finally:
            db.close()
    if as_json:
        typer.echo(json.dumps(asdict(fleet), default=_json_value, ensure_ascii=False, indent=2))
        return
    _show(fleet)


def _json_value(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "-"
    seconds = int((now - at).total_seconds())
    if seconds < 0:
        return f"in {-seconds} s"
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _holds(holds: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(holds.items())) or "-"


def _show(fleet: FleetStatus) -> None:
    console = output_console()
    alive = sum(w.alive for w in fleet.workers)
    workers = Table(title=f"Workers: {alive} alive", title_justify="left")
    for column in ("worker", "host", "pid", "state", "seen", "holds"):
        workers.add_column(column)
    for w in fleet.workers:
        state = "alive" if w.alive else "stopped" if w.stopped else "gone quiet"
        workers.add_row(w.id, w.host, str(w.pid), state, _ago(w.seen_at, fleet.at),
                        _holds(w.holds))
    for h in fleet.other_holders:  # a one-off command, or a holder of its own (LLM calls)
        workers.add_row(h.id, "-", "-", "no heartbeat", "-", _holds(h.holds))
    console.print(workers)
    feeds, outbox = fleet.feeds, fleet.outbox
    console.print(f"Feeds: {feeds.active} active, {feeds.due} due now, "
                  f"{feeds.failing} failing")
    console.print(f"Stories waiting for a brief: {fleet.stories_pending}")
    console.print(f"Outbox: {outbox.depth} waiting, {outbox.due} due now, oldest due "
                  f"{outbox.oldest_due_seconds:.0f} s, {outbox.failed} given up")
    if fleet.last_errors:
        errors = Table(title="Last errors", title_justify="left")
        for column in ("where", "which", "when", "error"):
            errors.add_column(column)
        for e in fleet.last_errors:
            errors.add_row(e.where, e.name, _ago(e.at, fleet.at), e.error)
        console.print(errors)

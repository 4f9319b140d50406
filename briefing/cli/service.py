"""Service commands: run, ingest, feeds, stories, digest, subscribers, db.

Each command imports the service modules it needs when it runs, so that
`briefing summarize` and `--help` start without loading the store and scheduler.
The few queries the commands still make themselves sit together at the end of this
module, one small function each, until they move into `briefing/store/`.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from briefing.cli.common import (
    Commands,
    ConfigOption,
    Verbosity,
    edge,
    output_console,
    settings_from,
    verbosity,
)
from briefing.clock import utcnow
from briefing.config import (
    DEFAULT_DIGEST_TIME,
    DEFAULT_LANGUAGES,
    DEFAULT_TIMEZONE,
    READER_LANGUAGES,
    Settings,
)
from briefing.errors import BadInput

if TYPE_CHECKING:
    from telegram import Bot

    from briefing.service.runner import CycleReport
    from briefing.store.db import Database
    from briefing.store.stories import ListedStory

commands = Commands()
feeds_app = Commands(help="Manage the RSS/Atom feeds the service polls.", no_args_is_help=True)
subscribers_app = Commands(help="Manage readers (the bot does this for Telegram users).",
                           no_args_is_help=True)
db_app = Commands(help="Database maintenance.", no_args_is_help=True)
commands.add_typer(feeds_app, name="feeds")
commands.add_typer(subscribers_app, name="subscribers")
commands.add_typer(db_app, name="db")
# Seconds between two asks of the LLM server or Telegram by `/readyz`.
PROBE_EVERY = 10.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhd])$")
# Telegram chat ids: a user or group id (groups and channels are negative), or a public
# channel's @username (5 to 32 letters, digits and underscores, starting with a letter).
_CHAT_ID = re.compile(r"^(-?[1-9]\d{0,19}|@[A-Za-z][A-Za-z0-9_]{4,31})$")


def parse_duration(text: str) -> timedelta:
    """`90m`, `24h`, `7d` as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise BadInput(f"invalid duration {text!r} (use e.g. 90m, 24h, 7d)")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: float(match.group(1))})


def check_chat_id(text: str) -> str:
    """A Telegram chat id as stored: an integer (negative for groups) or @channelname."""
    value = text.strip()
    if not _CHAT_ID.match(value):
        raise BadInput(f"invalid chat id {text!r}: use a Telegram id such as 123456789 "
                       "(negative for groups and channels, e.g. -1001234567890) or @channelname")
    return value


@contextmanager
def _store(config: Path | None) -> Iterator[tuple[Settings, Database]]:
    """The settings and the open store for one command; the store is closed after it."""
    from briefing.store.db import open_database

    settings = settings_from(config)
    db = open_database(settings.store)
    try:
        yield settings, db
    finally:
        db.close()


# --- briefing run -------------------------------------------------------------------------


def cycle_lines(report: CycleReport, at: datetime, level: Verbosity) -> list[str]:
    """One line per cycle (ingested, briefed, delivered, errors); -v adds one per error."""
    if level is Verbosity.QUIET:
        return []
    waiting = f" ({report.waiting} waiting)" if report.waiting else ""
    known = f" ({report.duplicates} already known)" if level >= Verbosity.VERBOSE else ""
    line = (f"{at:%H:%M:%S} cycle: {report.ingested} ingested{known}, "
            f"{len(report.briefed)} briefed{waiting}, {report.delivered} delivered, "
            f"{len(report.errors)} {'error' if len(report.errors) == 1 else 'errors'}")
    if level < Verbosity.VERBOSE:
        return [line]
    briefed = [f"  briefed story {story_id}" for story_id in report.briefed]
    return [line, *briefed, *(f"  error: {error}" for error in report.errors)]


def start_lines(settings: Settings, store_url: str, feeds: int, channel: str) -> list[str]:
    """What `briefing run` runs, said once at start; `store_url` must hide its password."""
    from briefing.briefs.engines.select import select_engine

    engine = select_engine(settings).name
    if engine == "llm":
        where = f" at {settings.llm.base_url}" if settings.llm.base_url else ""
        engine = f"llm, model {settings.llm.model}{where}"
        if settings.service.offline_fallback:
            engine += " (offline engine when it fails)"
    else:
        engine = "extractive (offline)"
    service = settings.service
    return [
        f"briefing run: store {store_url}",
        f"  watched folder {settings.sources.folder}; {feeds} active "
        f"{'feed' if feeds == 1 else 'feeds'}",
        f"  engine {engine}",
        f"  deliveries to {channel}",
        f"  schedule: ingest and summarise every {service.poll_minutes:g} min, "
        f"due digests every {service.deliver_seconds:g} s; Ctrl-C stops",
    ]


@commands.command()
def run(
    ctx: typer.Context,
    config: ConfigOption = None,
    deliver_to: Annotated[Path | None, typer.Option(
        help="Without a bot: append deliveries to this file (default data/deliveries.jsonl).")
    ] = None,
    http: Annotated[str | None, typer.Option(
        "--http", metavar="HOST:PORT",
        help="Serve /healthz, /readyz and /metrics (Prometheus) on this address, e.g. "
             "127.0.0.1:8080. Off by default.")
    ] = None,
) -> None:
    """Run the service: poll, summarise, deliver digests (and the bot when a token is set).

    Says at start what it runs, then how each cycle went; `briefing -v run` says more,
    `briefing -q run` only warnings and errors. Several `briefing run` share one
    PostgreSQL store; a SQLite file serves one process, and a second one is refused.
    """
    with edge():
        from briefing.service.ops import parse_address

        address = parse_address(http) if http is not None else None
        with _store(config) as (settings, db), db.only_process():
            asyncio.run(_run(settings, db, deliver_to, verbosity(ctx), address))


def _channel_name(settings: Settings, deliver_to: Path) -> str:
    if settings.telegram.token is None:
        return f"file {deliver_to} (no TELEGRAM_BOT_TOKEN)"
    if settings.telegram.webhook_url:
        return f"Telegram bot, webhook {settings.telegram.webhook_url}"
    return "Telegram bot, long polling"


async def _run(settings: Settings, db: Database, deliver_to: Path | None,
               level: Verbosity, address: tuple[str, int] | None = None) -> None:

    from briefing.render.file_channel import FileChannel
    from briefing.service.runner import Service, run_service
    from briefing.store.feeds import active_feeds

    target = deliver_to or Path(settings.store.data_dir) / "deliveries.jsonl"
    if level is not Verbosity.QUIET:
        store_url = db.shown()
        for line in start_lines(settings, store_url, len(active_feeds(db)),
                                _channel_name(settings, target)):
            typer.echo(line, err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    def report(cycle: CycleReport) -> None:
        for line in cycle_lines(cycle, utcnow(), level):
            typer.echo(line, err=True)

    if settings.telegram.token is None:
        with _operator_endpoint(settings, db, address, None):
            await run_service(Service(settings, db, FileChannel(target), on_cycle=report),
                              stop)
        return
    from briefing.bot.admin import alert_admins
    from briefing.bot.app import build_application, channel_for, running_bot

    application = build_application(settings, db)
    with _operator_endpoint(settings, db, address, application.bot):
        async with running_bot(application, settings):
            async def alert(url: str, error: str) -> None:
                await alert_admins(application.bot, settings, url, error)

            await run_service(Service(settings, db, channel_for(application),
                                      on_cycle=report, alert=alert), stop)


@contextmanager
def _operator_endpoint(settings: Settings, db: Database, address: tuple[str, int] | None,
                       bot: Bot | None) -> Iterator[None]:
    """`--http`: the operator's endpoint for the duration of the block (nothing without
    an address). Its readiness asks the store every time, the LLM server and Telegram at
    most every `PROBE_EVERY` seconds."""
    if address is None:
        yield
        return
    import time

    from briefing.briefs.engines.select import select_engine
    from briefing.metrics import register_outbox, unregister_outbox
    from briefing.service.ops import Cached, OpsServer, Probe, database_ready, run_checks
    from briefing.store.status import outbox_depth

    probes: list[tuple[str, Probe]] = [("database", lambda: database_ready(db))]
    if select_engine(settings).name == "llm":
        from briefing.llm.check import llm_ready

        probes.append(("llm", Cached(lambda: llm_ready(settings), PROBE_EVERY, time.monotonic)))
    if bot is not None:
        from briefing.bot.health import telegram_ready

        loop = asyncio.get_running_loop()
        probes.append(("telegram", Cached(lambda: telegram_ready(bot, loop), PROBE_EVERY,
                                          time.monotonic)))
    def outbox() -> tuple[int, float]:
        depth = outbox_depth(db, utcnow())
        return depth.depth, depth.oldest_due_seconds

    register_outbox(outbox)
    try:
        with OpsServer(*address, lambda: run_checks(probes)):
            yield
    finally:
        unregister_outbox()


# --- ingest, feeds ------------------------------------------------------------------------


@commands.command()
def ingest(
    ctx: typer.Context,
    config: ConfigOption = None,
    summarise: Annotated[bool, typer.Option(
        help="Summarise pending stories after (--no-summarise: only store the articles).")
    ] = True,
) -> None:
    """One pass now: new articles from the folder and from every active feed.

    Every active feed is polled whatever its schedule (`briefing run` keeps the schedule and
    the backoff); the requests are conditional, so an unchanged feed costs a 304. A file
    that cannot be read as an article is reported once, then again only when it changes.
    """
    from briefing.service.folder import REJECTED_STATE, FolderWatcher, IngestReport
    from briefing.service.ingest import ingest_feeds
    from briefing.service.summaries import summarise_pending

    with edge(), _store(config) as (settings, db):
        # The state file keeps rejected versions between runs: each `ingest` is a new watcher.
        watcher = FolderWatcher(Path(settings.sources.folder), settle_seconds=0,
                                max_bytes=settings.fetch.max_bytes,
                                state=Path(settings.store.data_dir) / REJECTED_STATE)
        report = IngestReport()
        console = Console(stderr=True)
        # A bar is for a person watching: not with -q, not into a log file or a pipe.
        with Progress(console=console, transient=True, disable=not console.is_terminal
                      or verbosity(ctx) is Verbosity.QUIET) as progress:
            files = watcher.changed_files()
            task = progress.add_task("articles", total=len(files))
            for path in files:
                watcher.ingest_file(db, path, report)
                progress.advance(task)
        feeds = ingest_feeds(db, utcnow(), settings, due_only=False)
        typer.echo(f"folder: {report.stored} stored, {report.duplicates} already known, "
                   f"{len(report.rejected)} rejected; feeds: {feeds.polled} polled, "
                   f"{feeds.stored} stored, {len(feeds.errors)} failed")
        for line in report.rejected + [f"{u}: {e}" for u, e in feeds.errors.items()]:
            typer.echo(f"  skipped {line}", err=True)
        if summarise:
            done = summarise_pending(db, settings)
            typer.echo(f"summarised {len(done.summarised)} stories, {len(done.failed)} waiting")


@feeds_app.command("add")
def feeds_add(
    url: Annotated[str, typer.Argument(help="The feed's http(s) address.")],
    config: ConfigOption = None,
) -> None:
    """Add a feed by URL, after checking that it answers with a usable RSS or Atom feed."""
    from briefing.service.feeds_admin import add_checked_feed

    with edge(), _store(config) as (settings, db):
        added = add_checked_feed(db, url, settings.fetch, settings.service)
        title = f" ({added.title})" if added.title else ""
        typer.echo(f"added feed {added.id}: {url.strip()}{title}, {added.entries} entries")
        for warning in added.warnings:
            typer.echo(f"warning: {warning}", err=True)


@feeds_app.command("list")
def feeds_list(config: ConfigOption = None) -> None:
    """List the feeds with their state."""
    with edge(), _store(config) as (_, db):
        table = Table("id", "url", "title", "errors", "next poll")
        from briefing.store.feeds import all_feeds

        for feed, _articles in all_feeds(db):
            table.add_row(str(feed.id), feed.url, feed.title or "", str(feed.errors),
                          str(feed.next_poll_at or "now"))
        output_console().print(table)


@feeds_app.command("remove")
def feeds_remove(
    feed_id: Annotated[int, typer.Argument(help="The feed's id, as `feeds list` shows it.")],
    config: ConfigOption = None,
) -> None:
    """Remove a feed (its articles stay)."""
    from briefing.service.feeds_admin import remove_feed

    with edge(), _store(config) as (_, db):
        remove_feed(db, feed_id)
        typer.echo(f"removed feed {feed_id}")


@feeds_app.command("import")
def feeds_import(
    file: Annotated[str, typer.Argument(help="An OPML file (1.0 or 2.0), or - for stdin.")],
    config: ConfigOption = None,
) -> None:
    """Add the feeds of an OPML file (another reader's export), folders flattened.

    Each URL must pass the URL rules (http or https, a host that resolves to public
    addresses); feeds are not fetched here, the next `briefing ingest` polls them. Feeds
    already added are skipped and named, refused URLs named with the reason, the others
    added in one transaction; a file that is not OPML (or declares a DTD, or is over
    fetch.max_bytes) is refused with nothing added.
    """
    from briefing.service.feeds_admin import import_opml
    from briefing.sources.fetch import shown_url
    from briefing.sources.load import STDIN, read_capped, read_file

    with edge(), _store(config) as (settings, db):
        limit = settings.fetch.max_bytes
        data = (read_capped(sys.stdin.buffer, "stdin", limit) if file == STDIN
                else read_file(Path(file), file, limit))
        report = import_opml(db, data, "stdin" if file == STDIN else file, settings.fetch)
        for outline in report.present:
            typer.echo(f"  already added: {shown_url(outline.url)}", err=True)
        for failed in report.failed:
            typer.echo(f"  refused: {failed.error}", err=True)
        typer.echo(f"imported {len(report.added)} {'feed' if len(report.added) == 1 else 'feeds'}"
                   f", {len(report.present)} already added, {len(report.failed)} refused")


@feeds_app.command("export")
def feeds_export(
    file: Annotated[Path | None, typer.Argument(
        help="Where to write the OPML 2.0 list (default: stdout).", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write every feed, with its title, as an OPML 2.0 file another reader imports."""
    from briefing.sources.feeds.opml import Outline, write_opml
    from briefing.store.feeds import all_feeds

    with edge(), _store(config) as (_, db):
        outlines = [Outline(feed.url, feed.title) for feed, _ in all_feeds(db)]
        data = write_opml(outlines, "briefing feeds", utcnow())
        if file is None:
            typer.echo(data.decode("utf-8"), nl=False)
            return
        try:
            file.write_bytes(data)
        except OSError as exc:
            raise BadInput(f"{file}: cannot write ({exc.strerror})") from None
        typer.echo(f"exported {len(outlines)} {'feed' if len(outlines) == 1 else 'feeds'} "
                   f"to {file}", err=True)


# --- stories, digest ----------------------------------------------------------------------


@commands.command()
def stories(
    since: Annotated[str, typer.Option(help="Window, e.g. 24h, 7d.")] = "24h",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print a JSON list: headlines, sources, state and version of each.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """List the stories published or collected in the window, with sources and brief state.

    A story is listed when it was published in the window or reached the service (or gained
    a source) in it; a date-only published date is shown as a date. A story's state is
    pending (its brief is older than its sources), briefed, or withheld (with the reason).
    """
    with edge(), _store(config) as (_, db):
        from briefing.store.stories import recent_stories

        cutoff = utcnow() - parse_duration(since)
        data = [_story_json(story) for story in recent_stories(db, cutoff)]
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        table = Table("id", "title", "sources", "state", "last published")
        for row in data:
            state = f"withheld: {row['withheld']}" if row["state"] == "withheld" else row["state"]
            table.add_row(str(row["id"]), _shown_title(row), str(len(row["sources"])), state,
                          str(row["last_published"] or ""))
        output_console().print(table)


def _shown_title(story: dict[str, Any]) -> str:
    """A story's title for the table: its own, else its brief's headline (folder articles
    without a title line have none), else the first source's file name or URL."""
    if story["title"]:
        return str(story["title"])
    headlines = story["headlines"]
    if headlines:
        return str(headlines.get(story["language"]) or next(iter(headlines.values())))
    source = story["sources"][0] if story["sources"] else {}
    return Path(source["path"]).name if source.get("path") else str(source.get("url") or "")


def _story_json(story: ListedStory) -> dict[str, Any]:
    """A listed story as `stories --json` prints it."""
    return {
        "id": story.id, "title": story.title, "language": story.language,
        "headlines": story.headlines, "sources": [asdict(s) for s in story.sources],
        "state": story.state, "version": story.version,
        "summarised": story.summarised_version >= story.version,
        "withheld": story.withheld, "last_published": story.last_published,
    }


@commands.command()
def digest(
    subscriber: Annotated[int | None, typer.Option(
        help="Preview this reader's digest (their id; default: every story, both languages)."
    )] = None,
    lang: Annotated[str | None, typer.Option(help="fr | en | both")] = None,
    since: Annotated[str, typer.Option(help="Window, e.g. 24h.")] = "24h",
    config: ConfigOption = None,
) -> None:
    """Preview a digest on the console (nothing is sent)."""
    from briefing.render.text import render_text
    from briefing.service.digests import Digest, compose, languages_of

    with edge():
        if lang is not None and lang not in READER_LANGUAGES:
            raise BadInput("--lang must be fr, en or both")
        cutoff = utcnow() - parse_duration(since)
        with _store(config) as (settings, db):
            reader, feeds = _reader_choices(db, subscriber)
            languages = languages_of(lang or reader)
            items = compose(db, cutoff, languages, feeds, settings.service.digest_max_stories)
        if not items:  # one line, not a digest header over nothing
            typer.echo(f"nothing new since {cutoff:%Y-%m-%d %H:%M} UTC")
            return
        for part in render_text(Digest(utcnow().date(), languages, tuple(items))):
            typer.echo(part.text + "\n")


# --- subscribers, db ----------------------------------------------------------------------


# A group's id is negative: taken as the chat id, not as an unknown option ("-100...").
@subscribers_app.command("add", context_settings={"ignore_unknown_options": True})
def subscribers_add(
    chat_id: Annotated[str, typer.Argument(
        help="Telegram chat id: 123456789, -1001234567890 for a group or channel, "
             "or @channelname.")],
    time: Annotated[str, typer.Option(help="Local digest time HH:MM.")] = DEFAULT_DIGEST_TIME,
    timezone: Annotated[str, typer.Option(help="IANA zone, e.g. Europe/Paris.")
                        ] = DEFAULT_TIMEZONE,
    lang: Annotated[str, typer.Option(help="fr | en | both")] = DEFAULT_LANGUAGES,
    config: ConfigOption = None,
) -> None:
    """Add a reader who gets a daily digest (an existing reader's settings are updated)."""
    from briefing.service.subscribers import subscribe

    with edge():
        chat = check_chat_id(chat_id)
        with _store(config) as (_, db):
            reader, created = subscribe(db, chat, time, timezone, lang)
        typer.echo(f"{'added' if created else 'updated'} subscriber {reader.id} ({chat})")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply pending database migrations."""
    with edge(), _store(config):
        typer.echo("database is up to date")


def _reader_choices(db: Database, subscriber: int | None) -> tuple[str, tuple[int, ...]]:
    """A reader's languages (fr, en, both) and followed feeds (empty: all); BadInput when
    there is no such reader. No reader: both languages, every feed."""
    from briefing.store.subscribers import by_id

    if subscriber is None:
        return DEFAULT_LANGUAGES, ()
    reader = by_id(db, subscriber)
    if reader is None:
        raise BadInput(f"no subscriber {subscriber}")
    return reader.languages, reader.feeds

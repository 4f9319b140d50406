"""Service commands: run, ingest, feeds, stories, digest, subscribers, db.

Each command imports the service modules it needs when it runs, so that
`briefing summarize` and `--help` start without loading the store and scheduler.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from briefing.cli.common import ConfigOption, edge, settings_from
from briefing.clock import utcnow
from briefing.config import Settings
from briefing.errors import BadInput

if TYPE_CHECKING:
    from briefing.store.db import Database

commands = typer.Typer()
feeds_app = typer.Typer(help="Manage the RSS/Atom feeds the service polls.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Manage readers (the bot does this for Telegram users).",
                              no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
commands.add_typer(feeds_app, name="feeds")
commands.add_typer(subscribers_app, name="subscribers")
commands.add_typer(db_app, name="db")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhd])$")


def parse_duration(text: str) -> timedelta:
    """`90m`, `24h`, `7d` as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise BadInput(f"invalid duration {text!r} (use e.g. 90m, 24h, 7d)")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: float(match.group(1))})


def _open(config: Path | None) -> tuple[Settings, Database]:
    from briefing.store.db import open_database

    settings = settings_from(config)
    return settings, open_database(settings.store)


@commands.command()
def run(
    config: ConfigOption = None,
    deliver_to: Annotated[Path | None, typer.Option(
        help="Without a bot: append deliveries to this file (default data/deliveries.jsonl).")
    ] = None,
) -> None:
    """Run the service: poll, summarise, deliver digests (and the bot when a token is set)."""
    with edge():
        settings, db = _open(config)
        asyncio.run(_run(settings, db, deliver_to))


async def _run(settings: Settings, db: Database, deliver_to: Path | None) -> None:
    from briefing.service.outbox import FileChannel
    from briefing.service.runner import Service, run_service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if settings.telegram.token is None:
        channel = FileChannel(deliver_to or Path(settings.store.data_dir) / "deliveries.jsonl")
        await run_service(Service(settings, db, channel), stop)
        return
    from briefing.bot.app import build_application, channel_for, running_bot

    application = build_application(settings, db)
    async with running_bot(application, settings):
        await run_service(Service(settings, db, channel_for(application)), stop)


@commands.command()
def ingest(
    config: ConfigOption = None,
    summarise: Annotated[bool, typer.Option(help="Summarise pending stories after.")] = True,
) -> None:
    """One pass now: new articles from the folder and from every active feed.

    Every active feed is polled whatever its schedule (`briefing run` keeps the schedule and
    the backoff); the requests are conditional, so an unchanged feed costs a 304.
    """
    from briefing.service.folder import FolderWatcher, IngestReport
    from briefing.service.ingest import ingest_feeds
    from briefing.service.summaries import summarise_pending

    with edge():
        settings, db = _open(config)
        watcher = FolderWatcher(Path(settings.sources.folder), settle_seconds=0,
                                max_bytes=settings.fetch.max_bytes)
        report = IngestReport()
        with Progress(console=Console(stderr=True), transient=True) as progress:
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
def feeds_add(url: str, config: ConfigOption = None) -> None:
    """Add a feed by URL, after checking that it answers with a usable RSS or Atom feed."""
    from briefing.service.feeds_admin import add_checked_feed

    with edge():
        settings, db = _open(config)
        added = add_checked_feed(db, url, settings.fetch, settings.service)
        title = f" ({added.title})" if added.title else ""
        typer.echo(f"added feed {added.id}: {url.strip()}{title}, {added.entries} entries")
        for warning in added.warnings:
            typer.echo(f"warning: {warning}", err=True)


@feeds_app.command("list")
def feeds_list(config: ConfigOption = None) -> None:
    """List the feeds with their state."""
    from sqlalchemy import select

    from briefing.store.models import FeedRow

    with edge():
        _, db = _open(config)
        table = Table("id", "url", "title", "errors", "next poll")
        with db.session() as session:
            for feed in session.scalars(select(FeedRow).order_by(FeedRow.id)):
                table.add_row(str(feed.id), feed.url, feed.title or "", str(feed.errors),
                              str(feed.next_poll_at or "now"))
        Console().print(table)


@feeds_app.command("remove")
def feeds_remove(feed_id: int, config: ConfigOption = None) -> None:
    """Remove a feed (its articles stay)."""
    from briefing.service.feeds_admin import remove_feed

    with edge():
        _, db = _open(config)
        remove_feed(db, feed_id)
        typer.echo(f"removed feed {feed_id}")


@commands.command()
def stories(
    since: Annotated[str, typer.Option(help="Window, e.g. 24h, 7d.")] = "24h",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOption = None,
) -> None:
    """List the stories published or collected in the window, with sources and brief state.

    A story is listed when it was published in the window or reached the service (or gained
    a source) in it; a date-only published date is shown as a date.
    """
    from sqlalchemy import func, or_, select

    from briefing.store.models import ArticleRow, StoryRow
    from briefing.text.dates import story_published

    with edge():
        _, db = _open(config)
        cutoff = utcnow() - parse_duration(since)
        with db.session() as session:
            rows = session.execute(
                select(StoryRow, func.count(ArticleRow.id)).join(ArticleRow)
                .where(or_(StoryRow.last_published > cutoff, StoryRow.updated_at > cutoff))
                .group_by(StoryRow.id)
                .order_by(StoryRow.last_published.desc(), StoryRow.id.desc())).all()
            dates: dict[int | None, list[tuple[datetime | None, str | None]]] = {}
            for story_id, published, text in session.execute(
                    select(ArticleRow.story_id, ArticleRow.published, ArticleRow.published_text)
                    .where(ArticleRow.story_id.in_([s.id for s, _ in rows]))):
                dates.setdefault(story_id, []).append((published, text))
            data = [{"id": s.id, "title": s.title, "sources": n, "version": s.version,
                     "summarised": s.summarised_version >= s.version,
                     "withheld": s.withheld,  # why its brief stays out of digests, if it does
                     "last_published": story_published(s.last_published, dates.get(s.id, []))}
                    for s, n in rows]
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        table = Table("id", "title", "sources", "summarised", "last published")
        for row in data:
            state = "pending" if not row["summarised"] else (
                f"withheld: {row['withheld']}" if row["withheld"] else "yes")
            table.add_row(str(row["id"]), str(row["title"] or ""), str(row["sources"]),
                          state, str(row["last_published"] or ""))
        Console().print(table)


@commands.command()
def digest(
    subscriber: Annotated[int | None, typer.Option(help="Preview this reader's digest.")] = None,
    lang: Annotated[str | None, typer.Option(help="fr | en | both")] = None,
    since: Annotated[str, typer.Option(help="Window, e.g. 24h.")] = "24h",
    config: ConfigOption = None,
) -> None:
    """Preview a digest on the console (nothing is sent)."""
    from briefing.service.digests import compose, languages_of, render_text
    from briefing.store.models import SubscriberRow

    with edge():
        settings, db = _open(config)
        if lang not in (None, "fr", "en", "both"):
            raise BadInput("--lang must be fr, en or both")
        with db.session() as session:
            sub = session.get(SubscriberRow, subscriber) if subscriber is not None else None
            if subscriber is not None and sub is None:
                raise BadInput(f"no subscriber {subscriber}")
            items = compose(session, utcnow() - parse_duration(since),
                            languages_of(lang or (sub.languages if sub else "both")),
                            list(sub.feeds or []) if sub else [],
                            settings.service.digest_max_stories)
        if not items:
            typer.echo("nothing new in this period")
        for part in render_text(items, utcnow().date()):
            typer.echo(part["text"] + "\n")


@subscribers_app.command("add")
def subscribers_add(
    chat_id: str,
    time: Annotated[str, typer.Option(help="Local digest time HH:MM.")] = "07:30",
    timezone: Annotated[str, typer.Option(help="IANA zone, e.g. Europe/Paris.")] = "Europe/Paris",
    lang: Annotated[str, typer.Option(help="fr | en | both")] = "both",
    config: ConfigOption = None,
) -> None:
    """Add a reader who gets a daily digest."""
    with edge():
        from briefing.service.subscribers import add_subscriber

        _, db = _open(config)
        sub_id = add_subscriber(db, chat_id, time, timezone, lang)
        typer.echo(f"added subscriber {sub_id} ({chat_id})")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply pending database migrations."""
    with edge():
        _open(config)
        typer.echo("database is up to date")

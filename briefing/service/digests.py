"""Daily digests: which stories a reader gets, and when.

A digest holds the stories that got a new brief since the reader's last digest
(they reached the service, gained a source or were summarised again: see
`Story.briefed_at`) and are not withheld, from the feeds they follow (all by
default), in their language(s), best-sourced first, then newest, at most
`service.digest_max_stories`; an empty period sends nothing. The publication
date orders and labels stories but never hides one: a story published at 06:20
that arrives at 06:32 is in the digest after 06:32, whatever its date says.
A digest is due at the reader's local time; one missed while the service was
down is still sent within `service.digest_grace_hours`, and never twice: the
outbox key is the reader and their local date.

The outbox row says what to send (the stories, the languages, the day); the
channel renders the `Digest` at delivery (`load_digest`), so what goes out shows
the briefs and the rendering of that moment.

A digest that stops at the limit says how many more stories the period had and offers
them behind a button: the row keeps their ids after the shown ones (up to `MORE_KEPT`),
and `load_digest` shows the first `digest_max_stories` that may still be read and puts
the rest in `Digest.more`. A rendered part may carry buttons (`Part.keyboard`, typed here
so that the service knows no channel's types). A digest posted in a Telegram channel says
so (`Digest.in_channel`, from the target's kind): its readers cannot talk to the bot there.

A pass composes once per setting: the targets whose digests would hold the same stories
(the same languages, sources followed, keyword filters, last digest and limit: `Setting`)
share one composition and each gets its own outbox row, written by batches. What is a
target's own beyond that (the stories already posted to a live target) is taken out
after. `digest_for` composes one target's digest alone, with the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from briefing.briefs.models import Brief
from briefing.config import DEFAULT_LANGUAGES, READER_LANGUAGES, Settings
from briefing.sources.models import Story
from briefing.store.db import Database
from briefing.store.deliveries import NewDigest, digest_keys_since, live_posted_since
from briefing.store.digests import (
    BriefedStory,
    briefed_and_left_out,
    briefed_since,
    briefed_stories,
    followed,
    queue_digest_rows,
)
from briefing.store.subscribers import CHANNEL, LIVE, Subscriber, active_targets, find
from briefing.stories.filters import Filters

log = logging.getLogger(__name__)
# The stories beyond the limit a digest keeps to offer: one more than a list shows, so a
# digest can tell "more than 100" from "100".
MORE_KEPT = 101


@dataclass(frozen=True)
class SourceRef:
    """A source as a reader sees it under a quote or a brief: its id in the story (S1, ...),
    the name to show, its title and its address."""

    id: str
    outlet: str | None  # in digests: the outlet, else the title, else the file name
    title: str | None = None
    url: str | None = None

    @property
    def label(self) -> str:
        """The name to show: outlet, else title, else the id."""
        return self.outlet or self.title or self.id


@dataclass(frozen=True)
class DigestItem:
    """One story of a digest, in the reader's language(s)."""

    story_id: int
    briefs: tuple[Brief, ...]  # one per language, in the reader's order
    sources: tuple[SourceRef, ...]  # the story's articles, S1 first
    published: datetime | None = None


@dataclass(frozen=True)
class Before:
    """What a live post showed, for the update that answers it: its sources and points."""

    sources: tuple[str, ...]
    points: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    """What a channel renders: a reader's digest for one local day."""

    day: date
    languages: tuple[str, ...]  # the brief languages, in the reader's order
    items: tuple[DigestItem, ...]
    more: tuple[int, ...] = ()  # the stories the limit left out, in digest order
    delivery_id: int | None = None  # its outbox row; None for a digest asked for now
    # The reader's interface language; None when unknown (a queued digest): the first
    # brief language.
    interface: str | None = None
    # Posted in a Telegram channel: its readers can neither press a button that answers in
    # the chat nor reply, so a story's question opens a private chat with the bot instead.
    in_channel: bool = False
    # A live post (briefing.service.live): the story alone, with no digest header.
    post: bool = False
    # An update answering an older live post: what that post showed (None: not one).
    before: Before | None = None

    @property
    def ui_language(self) -> str:
        """The language the digest speaks in (header, labels, buttons)."""
        return self.interface or (self.languages[0] if self.languages else "en")


@dataclass(frozen=True)
class Button:
    """A button under a message: it opens `url`, or sends `data` back to the bot."""

    text: str
    url: str | None = None
    data: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]  # rows of buttons, top first


@dataclass(frozen=True)
class Part:
    """One message of a rendered digest, the stories it covers, and its buttons."""

    text: str
    stories: tuple[int, ...] = ()
    keyboard: Keyboard = ()


class Schedule(Protocol):
    """When a reader gets their digest."""

    @property
    def digest_time(self) -> str:
        """Local time, HH:MM."""
        ...

    @property
    def timezone(self) -> str:
        """IANA time zone name."""
        ...


def languages_of(setting: str) -> tuple[str, ...]:
    """The brief languages for a reader's setting: fr, en or both."""
    return READER_LANGUAGES.get(setting, READER_LANGUAGES[DEFAULT_LANGUAGES])


def source_label(outlet: str | None, title: str | None, path: str | None) -> str:
    """How a reader recognises an article: outlet, else title, else a folder file's name."""
    return outlet or title or PurePath(path or "source").name


def source_refs(story: Story) -> dict[str, SourceRef]:
    """The sources of a pipeline story as readers see them, by id (S1, S2, ...)."""
    return {d.id: SourceRef(d.id, source_label(d.outlet, d.title, d.path), d.title, d.url)
            for d in story.sources}


def _item(story: BriefedStory) -> DigestItem:
    sources = tuple(SourceRef(f"S{i}", source_label(a.outlet, a.title, a.path), a.title, a.url)
                    for i, a in enumerate(story.articles, start=1))
    return DigestItem(story.story_id, story.briefs, sources, story.published)


def compose(db: Database, since: datetime, languages: tuple[str, ...], feeds: Sequence[int],
            limit: int) -> list[DigestItem]:
    """The stories of a digest covering what was briefed after `since`, in order."""
    return [_item(s) for s in briefed_since(db, since, languages, feeds, limit)]


def compose_digest(db: Database, since: datetime, languages: tuple[str, ...],
                   feeds: Sequence[int], limit: int, filters: Filters | None = None,
                   ) -> tuple[list[DigestItem], tuple[int, ...]]:
    """`compose`, and the ids of the stories the limit left out (at most `MORE_KEPT`), in
    digest order: their count is the "N more" of the digest. With `filters`, only the
    stories they keep (read on the title and the briefs in every language)."""
    keep = filters.keeps if filters is not None and filters.active else None
    shown, left_out = briefed_and_left_out(db, since, languages, feeds, limit, MORE_KEPT, keep)
    return [_item(s) for s in shown], tuple(left_out)


def filters_of(target: Subscriber | None) -> Filters:
    """A target's keyword filters (none for no target)."""
    return Filters(target.include, target.exclude) if target is not None else Filters()


def load_digest(db: Database, day: date, languages: tuple[str, ...],
                story_ids: Sequence[int], *, shown: int | None = None,
                delivery_id: int | None = None, interface: str | None = None,
                in_channel: bool = False) -> Digest:
    """A queued digest as it is now: these stories' current briefs, in the queued order
    (a story withheld or removed since is left out); with `shown`, only the first `shown`
    that may be read, the ids after them in `more`. `in_channel`: it is posted in a
    channel (`posted_in_channel`)."""
    ids = list(story_ids)
    if shown is None:
        return Digest(day, languages, tuple(_item(s) for s in briefed_stories(db, ids, languages)),
                      delivery_id=delivery_id, interface=interface, in_channel=in_channel)
    items: list[DigestItem] = []
    used = 0
    while len(items) < shown and used < len(ids):  # a story withheld since: the next one shows
        batch = ids[used:used + shown - len(items)]
        used += len(batch)
        items += [_item(s) for s in briefed_stories(db, batch, languages)]
    return Digest(day, languages, tuple(items), more=tuple(ids[used:]), delivery_id=delivery_id,
                  interface=interface, in_channel=in_channel)


def posted_in_channel(db: Database, target_address: str) -> bool:
    """Whether the target at this address is a channel (its digests read without buttons)."""
    target = find(db, target_address)
    return target is not None and target.kind == CHANNEL


def local_zone(name: str) -> ZoneInfo:
    """The reader's time zone (UTC when the stored name is unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def due_date(subscriber: Schedule, now: datetime, grace: timedelta) -> date | None:
    """The local date whose digest is due now for this reader, if any."""
    local_now = now.astimezone(local_zone(subscriber.timezone))
    hour, minute = (int(x) for x in subscriber.digest_time.split(":"))
    for day in (local_now.date(), local_now.date() - timedelta(days=1)):
        at = datetime.combine(day, time(hour, minute), tzinfo=local_now.tzinfo)
        if at <= local_now <= at + grace:
            return day
    return None


def digest_key(subscriber_id: int, day: date) -> str:
    """The outbox key of a reader's digest for one local date."""
    return f"digest:{subscriber_id}:{day.isoformat()}"


@dataclass(frozen=True)
class Setting:
    """Everything that decides what a digest (or a live target's candidates) holds, in one
    spelling: targets with equal settings get the same composition, so a pass composes
    once per setting (`compose_setting`) and queues a row per target. What is per target
    beyond it (the stories already posted live to it) is taken out after (`without_posted`).
    """

    since: datetime  # what was briefed after this
    languages: tuple[str, ...]  # the brief languages, in the target's order
    feeds: tuple[int, ...]  # `briefing.store.digests.followed`
    include: tuple[str, ...]  # the filters' phrases, sorted, each once: a match of any
    exclude: tuple[str, ...]  # counts, so neither their order nor a repeat changes a story
    limit: int


def setting_of(target: Subscriber, since: datetime, limit: int) -> Setting:
    """The setting a target's composition covering what was briefed after `since` reads."""
    return Setting(since, languages_of(target.languages), followed(target.feeds),
                   tuple(sorted(set(target.include))), tuple(sorted(set(target.exclude))),
                   limit)


def digest_since(target: Subscriber, now: datetime) -> datetime:
    """Where a target's next digest starts: its last digest, else a day before `now`."""
    return target.last_digest_at or now - timedelta(days=1)


def compose_setting(db: Database, setting: Setting) -> tuple[list[DigestItem], tuple[int, ...]]:
    """`compose_digest` for every target of this setting."""
    return compose_digest(db, setting.since, setting.languages, setting.feeds, setting.limit,
                          Filters(setting.include, setting.exclude))


def without_posted(db: Database, target: Subscriber, since: datetime,
                   story_ids: tuple[int, ...]) -> tuple[int, ...]:
    """A digest's stories for this target: for a live target, without those posted live
    to it since `since` (its digest holds what was not posted)."""
    if target.schedule != LIVE:
        return story_ids
    posted = live_posted_since(db, target.id, since)
    return tuple(i for i in story_ids if i not in posted)


def due_targets(db: Database, now: datetime, settings: Settings) -> list[tuple[Subscriber, date]]:
    """The active targets whose digest is due now and not queued (nor skipped) yet, with
    the local day it is for, in id order."""
    grace = timedelta(hours=settings.service.digest_grace_hours)
    done = digest_keys_since(db, now - timedelta(days=2))
    # The day depends on the time zone and the digest time only: a hundred thousand targets
    # have a few hundred of those, so each is worked out once.
    days: dict[tuple[str, str], date | None] = {}
    due = []
    for target in active_targets(db):
        when = (target.timezone, target.digest_time)
        if when not in days:
            days[when] = due_date(target, now, grace)
        day = days[when]
        if day is not None and digest_key(target.id, day) not in done:
            due.append((target, day))
    return due


def digest_for(db: Database, target: Subscriber, day: date, now: datetime,
               settings: Settings) -> NewDigest:
    """One target's due digest composed for it alone (a digest pass composes once per
    setting instead, `shared_digests`, with the same result): the shown stories, then
    those the limit left out, which the digest offers."""
    since = digest_since(target, now)
    items, more = compose_digest(db, since, languages_of(target.languages), target.feeds,
                                 settings.service.digest_max_stories, filters_of(target))
    ids = without_posted(db, target, since, tuple(i.story_id for i in items) + more)
    return NewDigest(target.id, digest_key(target.id, day), day, languages_of(target.languages),
                     ids)


@dataclass(frozen=True)
class Shared:
    """The digests of a pass, and how many compositions they took (one per setting)."""

    digests: tuple[NewDigest, ...]
    compositions: int


def shared_digests(db: Database, due: Sequence[tuple[Subscriber, date]], now: datetime,
                   settings: Settings) -> Shared:
    """The due targets' digests, each as `digest_for` composes it, composed once per
    setting (`Setting`) and given to every target that has it."""
    limit = settings.service.digest_max_stories
    composed: dict[Setting, tuple[int, ...]] = {}
    digests = []
    for target, day in due:
        since = digest_since(target, now)
        setting = setting_of(target, since, limit)
        ids = composed.get(setting)
        if ids is None:
            items, more = compose_setting(db, setting)
            ids = composed[setting] = tuple(i.story_id for i in items) + more
        digests.append(NewDigest(target.id, digest_key(target.id, day), day, setting.languages,
                                 without_posted(db, target, since, ids)))
    return Shared(tuple(digests), len(composed))


def schedule_digests(db: Database, now: datetime, settings: Settings) -> int:
    """Queue in the outbox every digest that is due now; returns how many have stories.

    Only what to send is queued (stories, languages, day): channels render at delivery.
    A due digest with nothing new is recorded as skipped, so it is not composed again.
    Targets with the same setting share one composition; the rows go in by batches.
    """
    due = shared_digests(db, due_targets(db, now, settings), now, settings)
    queued = queue_digest_rows(db, due.digests, now)
    if due.digests:
        log.info("digests: %d due, %d composed, %d queued with stories", len(due.digests),
                 due.compositions, queued)
    return queued

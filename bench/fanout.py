"""Fan-out of one digest to 1,000 subscribers through the outbox, against the fake Bot API.

Target (from the issue): delivered messages per second >= 27 (90 % of Telegram's
30 messages/s), 429s served <= 1 % of sends, no lost and no duplicate delivery.

1. A fresh SQLite store (temporary directory, migrations applied) holds 3
   summarised stories of one feed (French briefs, 1 or 2 articles each, text with `&` and
   `<` to escape; each point stored with the article sentence it rests on, as
   `save_result` stores it), 5 longer ones of a second feed (a wire), and N active
   subscribers (distinct chat ids, French, digest at 07:30 Europe/Paris) who follow the
   first feed. The mix variants add 20 supergroups and 5 channels per 1,000 readers,
   spread evenly among them, which follow every source: their digest has the 8 stories
   (`service.digest_max_stories`) and takes several messages. `schedule_digests` at
   08:00 Paris queues one outbox row per target, as the service does; the channel
   renders it at delivery.
2. `FakeTelegram()` (30 messages/s overall, 1/s per chat, 20 a minute per group or
   channel, 1,000/s for paid broadcasts, 429 + retry_after over the limits) is started
   afresh for each run, with the mix's groups and channels, in a child process like the
   remote Bot API (the harness's `Served`; `--in-process`: in this process, as
   the tests do). The bot is built as `build_application` and `channel_for`
   build it: an `ExtBot` whose every send goes through
   `BotRateLimiter(RateLimiter())` (the built-in `[telegram]` pacing settings), the one
   limiter of the whole bot, and
   `DeepLinkChannel(bot, limiter, bot_paced=True)` (a `TelegramChannel`) on top.
3. `deliver_pending(db, channel, now, settings)` is called until no row is
   pending. A row that failed (e.g. `RetryLater` after repeated 429s) gets a
   `next_attempt_at` in the future; the next pass (back to back) is then given
   `now` = the latest such time, and the retried rows are counted.

Measured per run, from the fake's records: the span from the first to the last
accepted digest `sendMessage` (arrival times), delivered messages / s =
(delivered - 1) / span, the end-to-end rate over the whole delivery loop, the
digests' `sendMessage` requests and the 429s served to them (% of those
requests), lost subscribers (no message), duplicates (the same message twice to
a chat) and wrong texts (a subscriber whose messages differ from what most got;
that digest must name every story's headline). A breakdown per message says
where the time goes: waiting in the `RateLimiter`, the HTTP round trip, the
store (every `db.session()` block), and the rest (event loop, PTB objects).

Variants, interleaved run by run so that drift hits all alike; the baseline is
`seq-30`, measured in the same run (ratio of the median rates):

- `seq-30`: the product's configuration, `deliver_pending` back to back.
- `svc-30`: `deliver_pending` started every `service.deliver_seconds` (60 s), as
  `Service.schedule` runs it; `now` follows the clock.
- `seq-30-replies`: as `seq-30`, while the bot also sends 1 reply/s to other
  chats (`send_html`, as its handlers do), through the same limiter.
- `seq-30-rtt50`: as `seq-30` with a 50 ms network round trip added to every
  Bot API call (an assumed figure for api.telegram.org; loopback costs nothing).
- `seq-ceiling`: no limit anywhere (`RateLimiter(overall=1e6)`,
  `FakeTelegram(global_rate=0)`): how fast `deliver_pending` itself can go.
- `mix-30` (issue #12): as `seq-30` with the groups and channels, at their real limit
  (20 messages a minute each, which our limiter spaces 3 s apart). Also measured: their
  429s, lost and duplicate digests, the shortest gap between two sends to one group, a
  group's digest from its first part to its last, when each was complete after the
  fan-out's first send, and when the readers' last digest went (against `seq-30`'s span).
  Rate, 429s, lost and duplicates count every target's messages; its own target: no 429
  to a group, and every group's sends at least 3 s apart (minus the fake's 0.05 s).
- `mix-paid`: as `mix-30` with `telegram.allow_paid_broadcast`: the digests carry the
  flag and share the paid 1,000/s (the fake's paid limit); per-chat and group limits stay.

Timing wrappers (`TimedLimiter`, `TimedChannel` around `send_buttons`, which every part
goes through, `TimedDatabase`, `BenchRequest`)
subclass the project's or PTB's classes and only add `time.perf_counter` around
the inherited calls. Each run also records this process's CPU per message, the
longest store block and Bot API request, and the load average. `--profile` runs
one extra `seq-30` delivery under cProfile (untimed) and prints the functions
with the most own time.

Run: .venv/bin/python -m bench.fanout                      (3 runs x 7 variants x 1,000; ~12 min)
     .venv/bin/python -m bench.fanout --variants seq-30    (the issue's figure only; ~2 min)
     .venv/bin/python -m bench.fanout --variants seq-30 mix-30 mix-paid --name fanout-mix
                                                           (issue #12: groups and channels)
     .venv/bin/python -m bench.fanout --quick              (1 run x 7 variants x 60; ~25 s)
"""

from __future__ import annotations

import asyncio
import cProfile
import html
import io
import itertools
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from telegram.error import TelegramError
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bench.harness import (
    Served,
    context,
    finish,
    median,
    parser,
    percentile,
    pick,
    print_context,
    print_table,
    ratio,
    result_name,
    times,
)
from briefing.bot.channel import BotRateLimiter, RateLimiter, TelegramChannel, send_html
from briefing.bot.channels import DeepLinkChannel
from briefing.config import load_settings
from briefing.service.digests import Keyboard, schedule_digests
from briefing.service.outbox import deliver_pending
from briefing.store.db import Database, make_engine, upgrade
from briefing.store.models import (
    PENDING,
    SENT,
    ArticleRow,
    BriefRow,
    DeliveryRow,
    FeedRow,
    StoryRow,
    SubscriberRow,
)
from briefing.text.sentences import sentence_number
from tests.fakes.telegram_server import FakeTelegram

TARGET_RATE = 27.0  # delivered messages / s (90 % of the limit)
TELEGRAM_LIMIT = 30.0
TARGET_429_PCT = 1.0
NOW = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 in Paris: the 07:30 digest is due
FIRST_CHAT = 500_000_001
GROUPS, CHANNELS = 20, 5  # the mix variants' supergroups and channels per 1,000 readers
ROOM_GAP_TOLERANCE = 0.05  # s: a group's sends may arrive this much early (the fake's too)
REPLY_CHAT = 900_000_001  # replies go to chats from here on, never a subscriber's
REPLY_TEXT = "Réponse à votre question : voir le briefing de ce matin."
SETTINGS = load_settings(env={})  # built-in defaults: no local briefing.toml, no environment
MAX_PASSES = 20
SUBSCRIBERS, QUICK_SUBSCRIBERS = 1000, 60
RUNS, QUICK_RUNS = 3, 1

# --------------------------------------------------------------------------- the store

STORIES: tuple[dict[str, Any], ...] = (
    {
        "title": "Le Parlement adopte la réforme du logement social",
        "articles": (("Le Quotidien", "https://lequotidien.example/logement"),
                     ("La Gazette", "https://lagazette.example/2025/03/09/hlm")),
        "headline": "Le Parlement adopte la réforme du logement social",
        "points": (
            "30 % de logements sociaux exigés dans les communes de plus de 3 500 habitants "
            "d'ici 2030.",
            "Amendes doublées pour les maires récalcitrants & permis repris par les préfets.",
        ),
        "quote": "Plus aucune commune ne pourra s'exonérer",
    },
    {
        "title": "Grève dans les transports: le trafic très perturbé lundi",
        "articles": (("Le Courrier", "https://lecourrier.example/greve"),),
        "headline": "Grève : un train sur trois lundi en Île-de-France",
        "points": (
            "Les syndicats réclament 6 % de hausse <après> deux ans de gel des salaires.",
            "La direction propose 2,5 % et une prime de 400 euros.",
        ),
        "quote": "Sans geste fort, le mouvement sera reconduit mercredi",
    },
    {
        "title": "Climat: l'Europe relève son objectif pour 2040",
        "articles": (("L'Éclaireur", "https://leclaireur.example/climat-2040"),
                     ("Le Réveil", None)),
        "headline": "Climat : Bruxelles vise -90 % d'émissions en 2040",
        "points": (
            "Crédits carbone internationaux limités à 3 %.",
            "Plusieurs États demandent des flexibilités pour l'agriculture.",
        ),
        "quote": "Un objectif ambitieux mais atteignable",
    },
)


CITIES = ("Lyon", "Nantes", "Lille", "Rennes", "Dijon")
# What a newsroom's group or channel reads beyond the readers' digest: it follows every
# source, and the wire's five stories make its digest several messages long (8 stories,
# `service.digest_max_stories`), so that the group's pace shows.
WIRE_STORIES: tuple[dict[str, Any], ...] = tuple(
    {
        "title": f"{city} : le conseil municipal vote le budget des écoles",
        "articles": (("L'Agence", f"https://agence.example/2025/03/09/{city.lower()}"),),
        "headline": f"{city} vote {12 + n} millions d'euros pour rénover ses écoles",
        "points": (
            f"Le budget de {city} prévoit {12 + n} millions d'euros de travaux dans "
            f"{20 + 3 * n} écoles & {4 + n} gymnases d'ici la rentrée 2026, dont la moitié "
            "pour l'isolation thermique des bâtiments les plus anciens.",
            f"L'opposition <municipale> dénonce une hausse de {2 + n} % de la taxe foncière "
            "et demande un audit indépendant des chantiers déjà engagés par la majorité.",
            f"Les parents d'élèves de {city} réclament un calendrier précis des travaux, "
            f"après {3 + n} fermetures de classes pour cause de fuites ou de chauffage en "
            "panne depuis le début de l'hiver, et une cantine rouverte avant les vacances.",
        ),
        "quote": f"Nos enfants méritent des écoles dignes de ce nom à {city}",
    }
    for n, city in enumerate(CITIES)
)
FEEDS = (("https://lequotidien.example/rss", STORIES), ("https://agence.example/rss",
                                                        WIRE_STORIES))


def article_text(spec: dict[str, Any]) -> str:
    """A story's article: its points' sentences, then its quote three times."""
    return " ".join(spec["points"]) + " " + f"{spec['quote']}. " * 3


def stored_point(text: str, sentence: str) -> dict[str, Any]:
    """A point as `save_result` stores it: its text and the article sentence it rests on
    (source, sentence number, offsets, the sentence)."""
    start = text.index(sentence)
    end = start + len(sentence)
    return {"text": sentence, "support": [{
        "source": "S1", "sentence": sentence_number(text, start), "start": start, "end": end,
        "text": text[start:end]}]}


def add_feeds(session: Session) -> list[int]:
    """The bench's feeds and their summarised stories, in `session`; the feeds' ids."""
    feed_ids: list[int] = []
    number = 0
    for url, specs in FEEDS:
        feed = FeedRow(url=url, title=url.split("/")[2])
        session.add(feed)
        session.flush()
        feed_ids.append(feed.id)
        for spec in specs:
            number += 1
            add_story(session, spec, number, feed.id)
    return feed_ids


def build_store(path: Path, subscribers: int,
                rooms: Sequence[tuple[int, str]] = ()) -> TimedDatabase:
    """A fresh migrated store with the stories and `subscribers` French readers, who follow
    the first feed (its 3 stories); `rooms` (chat id, kind) follow every source (the wire's
    5 stories too) and are spread evenly among the readers, as they would sign up."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    db = TimedDatabase(engine)
    with db.session() as session:
        feed_ids = add_feeds(session)
        readers: list[dict[str, Any]] = [
            {"chat_id": str(FIRST_CHAT + i), "name": f"Lecteur {i}", "languages": "fr",
             "digest_time": "07:30", "timezone": "Europe/Paris", "feeds": [feed_ids[0]],
             "active": True, "kind": "private"}
            for i in range(subscribers)]
        for j, (chat, kind) in reversed(list(enumerate(rooms))):
            readers.insert((j + 1) * subscribers // (len(rooms) + 1), {
                "chat_id": str(chat), "name": None, "title": f"Rédaction {j}",
                "languages": "fr", "digest_time": "07:30", "timezone": "Europe/Paris",
                "feeds": [], "active": True, "kind": kind})
        session.execute(insert(SubscriberRow), readers)
    db.reset_timer()
    return db


def add_story(session: Session, spec: dict[str, Any], number: int, feed_id: int) -> None:
    """One summarised story of `feed_id`, published `10 - number` hours before NOW."""
    published = NOW - timedelta(hours=10 - number)
    story = StoryRow(title=spec["title"], language="fr", version=1, summarised_version=1,
                     first_published=published, last_published=published,
                     briefed_at=published)
    session.add(story)
    session.flush()
    body = article_text(spec)
    for index, (outlet, url) in enumerate(spec["articles"]):
        session.add(ArticleRow(
            content_hash=f"{number:02d}{index:02d}".ljust(64, "0"), url=url,
            title=spec["title"], outlet=outlet, published=published, language="fr",
            text=body, state="summarised", story_id=story.id, feed_id=feed_id))
    quote = {"text": spec["quote"], "source": "S1"}
    session.add(BriefRow(story_id=story.id, language="fr", story_version=1,
                         headline=spec["headline"],
                         points=[stored_point(body, p) for p in spec["points"]],
                         quotes=[quote], engine="bench", model=None, usage={},
                         citations={}))


def queue_digests(db: Database) -> int:
    """Queue the digests as the service does (`schedule_digests`); how many were queued."""
    return schedule_digests(db, NOW, SETTINGS)


def pending_rows(db: Database) -> tuple[int, datetime | None]:
    """Outbox rows still pending, and the latest `next_attempt_at` among them."""
    with db.session() as session:
        pending = session.scalar(select(func.count()).select_from(DeliveryRow)
                                 .where(DeliveryRow.state == PENDING)) or 0
        latest = session.scalar(select(func.max(DeliveryRow.next_attempt_at))
                                .where(DeliveryRow.state == PENDING))
    return pending, latest


def sent_rows(db: Database) -> int:
    """Outbox rows in state SENT."""
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(DeliveryRow)
                              .where(DeliveryRow.state == SENT)) or 0


# --------------------------------------------------------------------------- timing wrappers


class TimedDatabase(Database):
    """The project's Database; adds the wall time spent inside `session()` blocks."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.seconds = 0.0
        self.blocks = 0
        self.longest = 0.0

    def reset_timer(self) -> None:
        """Forget the time counted so far."""
        self.seconds, self.blocks, self.longest = 0.0, 0, 0.0

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The inherited session (commit on exit), timed up to the end of the commit."""
        started = time.perf_counter()
        try:
            with super().session() as session:
                yield session
        finally:
            spent = time.perf_counter() - started
            self.seconds += spent
            self.blocks += 1
            self.longest = max(self.longest, spent)


class TimedLimiter(RateLimiter):
    """The project's RateLimiter; adds the time digests spend in `wait` (lock and sleep)."""

    def __init__(self, overall: float = 30.0, per_chat: float = 1.0,
                 paid_broadcast: bool = False) -> None:
        telegram = SETTINGS.telegram  # the built-in defaults: 20 a minute per group, 1,000/s
        super().__init__(overall=overall, per_chat=per_chat,
                         group_per_minute=telegram.group_messages_per_minute,
                         paid_overall=telegram.paid_messages_per_second,
                         paid_broadcast=paid_broadcast)
        self.seconds = 0.0
        self.waits = 0

    async def wait(self, chat_id: str, *, paid: bool = False) -> None:
        """The inherited wait; timed for the digests' chats only (not the replies')."""
        started = time.perf_counter()
        await super().wait(chat_id, paid=paid)
        if int(chat_id) < REPLY_CHAT:
            self.seconds += time.perf_counter() - started
            self.waits += 1


class TimedChannel(DeepLinkChannel):
    """The outbox's channel as `channel_for` builds it (a `TelegramChannel` whose channel
    digests link each story to the bot); adds the time spent in `send_buttons` (limiter
    included), which every part goes through (`send` calls it for a part without buttons)."""

    def __init__(self, bot: ExtBot[None], limiter: TimedLimiter) -> None:
        super().__init__(bot, limiter, bot_paced=True)
        self.seconds = 0.0
        self.calls = 0
        self.errors: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0

    async def send_buttons(self, chat_id: str, text: str, keyboard: Keyboard, *,
                           key: str) -> str:
        """The inherited send, timed; the exceptions it raises are counted by type."""
        started = time.perf_counter()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super().send_buttons(chat_id, text, keyboard, key=key)
        except Exception as exc:
            self.errors[type(exc).__name__] += 1
            raise
        finally:
            self.in_flight -= 1
            self.seconds += time.perf_counter() - started
            self.calls += 1


class BenchRequest(HTTPXRequest):
    """PTB's default HTTPXRequest, timed; with `rtt`, plus a network round trip (half
    before the request, half after)."""

    def __init__(self, rtt: float = 0.0) -> None:
        super().__init__()
        self.rtt = rtt
        self.longest = 0.0

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """The inherited request (`rtt / 2` later, answered `rtt / 2` later), timed."""
        started = time.perf_counter()
        if self.rtt:
            await asyncio.sleep(self.rtt / 2)
        answer = await super().do_request(*args, **kwargs)
        if self.rtt:
            await asyncio.sleep(self.rtt / 2)
        self.longest = max(self.longest, time.perf_counter() - started)
        return answer


def paced_bot(token: str, base_url: str, request: BenchRequest,
              limiter: RateLimiter) -> ExtBot[None]:
    """The bot as `build_application` builds it: every send through one `BotRateLimiter`."""
    return ExtBot(token, base_url=base_url, request=request,
                  rate_limiter=BotRateLimiter(limiter))


# --------------------------------------------------------------------------- the fake Bot API


@dataclass(frozen=True)
class FakeRecord:
    """What the fake saw during one run."""

    too_many: int
    requests: list[tuple[str, int | None, float, Any]]  # method, status, arrival, chat_id
    sent: list[tuple[int, int, str, bool]]  # chat id, message id, text as sent, paid


class TelegramHost:
    """A fresh FakeTelegram per run (fresh buckets and records); run by the harness's
    `Served`, in a child process or in this one."""

    def __init__(self) -> None:
        self.fake: FakeTelegram | None = None

    def start(self, global_rate: float, groups: int = 0,
              channels: int = 0) -> tuple[str, str, list[tuple[int, str]]]:
        """Stop the previous fake, start a new one (its limits Telegram's: 1/s per chat,
        20 a minute per group or channel, `global_rate` in all, 1,000/s paid) with `groups`
        supergroups and `channels` channels the bot may post in; its token, base URL and
        those chats (id, kind)."""
        self.close()
        self.fake = FakeTelegram(global_rate=global_rate).start()
        rooms = [(self.fake.add_chat("supergroup", title=f"Rédaction {i}"), "supergroup")
                 for i in range(groups)]
        rooms += [(self.fake.add_chat("channel", title=f"Le Fil {i}"), "channel")
                  for i in range(channels)]
        return self.fake.token, self.fake.base_url, rooms

    def snapshot(self) -> FakeRecord:
        """What the current fake saw."""
        assert self.fake is not None
        fake = self.fake
        return FakeRecord(
            fake.too_many,
            [(r.method, r.status, r.at, r.params.get("chat_id")) for r in fake.requests],
            [(m["chat_id"], m["message_id"], m["text"], bool(m["allow_paid_broadcast"]))
             for m in fake.sent])

    def close(self) -> None:
        """Stop the current fake."""
        if self.fake is not None:
            self.fake.stop()
            self.fake = None


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """A limiter rate, a pass cadence, replies on the same bot, a network round trip."""

    name: str
    overall: float
    label: str
    cadence: float | None = None  # seconds between pass starts (None: back to back)
    reply_rate: float = 0.0  # replies / s the bot sends to other chats, through the limiter
    fake_rate: float = TELEGRAM_LIMIT  # the fake's global limit (0: none)
    rtt: float = 0.0  # seconds of network round trip added to every Bot API call
    rooms: bool = False  # also GROUPS supergroups and CHANNELS channels (issue #12)
    paid: bool = False  # telegram.allow_paid_broadcast: the digests on the paid lane


BASELINE = "seq-30"
REPLY_RATE = 1.0
RTT = 0.05  # assumed round trip to api.telegram.org (loopback to the fake: well under 1 ms)
VARIANTS = {v.name: v for v in (
    Variant("seq-30", 30.0,
            "the product's configuration (one RateLimiter() for the bot, BotRateLimiter, "
            "TelegramChannel bot_paced), deliver_pending back to back"),
    Variant("svc-30", 30.0,
            "as seq-30, deliver_pending started every service.deliver_seconds "
            f"({SETTINGS.service.deliver_seconds:g} s) as Service.schedule runs it",
            cadence=SETTINGS.service.deliver_seconds),
    Variant("seq-30-replies", 30.0,
            f"as seq-30, plus {REPLY_RATE:g} reply/s to other chats through the same limiter",
            reply_rate=REPLY_RATE),
    Variant("seq-30-rtt50", 30.0,
            f"as seq-30, with a {1000 * RTT:g} ms network round trip per Bot API call", rtt=RTT),
    Variant("seq-ceiling", 1e6,
            "no limit anywhere (RateLimiter(overall=1e6), FakeTelegram(global_rate=0)): "
            "what deliver_pending itself can do", fake_rate=0.0),
    Variant("mix-30", 30.0,
            f"as seq-30, plus {GROUPS} supergroups and {CHANNELS} channels per 1,000 readers, "
            "following every source (a longer digest), at the fake's 20 messages a minute per "
            "group or channel", rooms=True),
    Variant("mix-paid", 30.0,
            "as mix-30 with telegram.allow_paid_broadcast: the digests carry the flag and "
            "share the paid 1,000/s", rooms=True, paid=True),
)}


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    """The figures of one fan-out."""

    variant: str
    subscribers: int
    queued: int = 0  # outbox rows schedule_digests queued
    delivered: int = 0  # subscribers who got the digest (at least one message)
    parts: int = 0  # messages per digest (what most subscribers got)
    span_s: float = 0.0
    rate: float = 0.0  # (accepted - 1) / span, from the fake's arrival times
    loop_s: float = 0.0  # the whole delivery loop, client clock
    rate_e2e: float = 0.0  # accepted / loop_s
    requests: int = 0  # sendMessage requests for the digests
    too_many: int = 0  # 429s served to those
    too_many_pct: float = 0.0
    lost: int = 0
    duplicates: int = 0
    wrong_text: int = 0
    missing_headlines: int = 0  # headlines the reference digest does not show
    passes: int = 0
    rows_per_pass: list[int] = field(default_factory=list)
    retried_rows: int = 0  # rows put back with a next_attempt_at (RetryLater and others)
    failed_rows: int = 0
    db_sent_rows: int = 0
    idle_s: float = 0.0  # waiting between passes (service cadence)
    reply_requests: int = 0
    reply_too_many: int = 0
    reply_errors: int = 0
    fake_too_many: int = 0  # every 429 the fake served (fake.too_many)
    channel_errors: dict[str, int] = field(default_factory=dict)
    gap_p50_ms: float = 0.0
    gap_p95_ms: float = 0.0
    gap_max_ms: float = 0.0
    per_message_ms: dict[str, float] = field(default_factory=dict)
    chars: int = 0  # length of the reference digest's messages
    cpu_ms_per_msg: float = 0.0  # this process's CPU (the fake runs apart unless --in-process)
    longest_store_ms: float = 0.0  # the longest db.session() block
    longest_http_ms: float = 0.0  # the longest Bot API request (rtt included)
    load_1m: float = 0.0  # the machine's 1-minute load average at the end of the run
    most_in_flight: int = 0  # the most channel.send calls under way at once
    # Groups and channels (mix variants; the figures above count their messages too).
    rooms: int = 0
    room_parts: int = 0  # messages per group digest (what most groups got)
    room_requests: int = 0
    room_too_many: int = 0
    room_lost: int = 0
    room_duplicates: int = 0
    room_wrong_text: int = 0  # a group (or channel) whose digest differs from most of its kind
    room_gap_min_s: float = 0.0  # the shortest time between two sends to one group
    room_digest_p50_s: float = 0.0  # a group's first part to its last
    room_digest_max_s: float = 0.0
    room_done_p50_s: float = 0.0  # the fan-out's first send to a group's last part
    room_done_max_s: float = 0.0
    private_done_s: float = 0.0  # the fan-out's first send to the readers' last
    paid_sends: int = 0  # digest messages that carried allow_paid_broadcast


async def deliver_all(db: Database, channel: TelegramChannel, variant: Variant,
                      run: Run) -> None:
    """Call `deliver_pending` until no row is pending.

    Back to back, a later pass gets `now` past every backoff; with a cadence, passes
    start every `cadence` seconds (or when the previous one ends, if later) with
    `now` advancing with the wall clock, as the service's interval job does.
    """
    started = time.perf_counter()
    now = NOW
    for _ in range(MAX_PASSES):
        pass_start = time.perf_counter()
        if variant.cadence is not None:
            now = NOW + timedelta(seconds=pass_start - started)
        report = await deliver_pending(db, channel, now, SETTINGS)
        run.passes += 1
        run.rows_per_pass.append(report.sent)
        run.retried_rows += report.retried
        run.failed_rows += report.failed
        pending, latest = pending_rows(db)
        if not pending:
            return
        if variant.cadence is not None:
            idle = pass_start + variant.cadence - time.perf_counter()
            if idle > 0:
                run.idle_s += idle
                await asyncio.sleep(idle)
        elif latest is not None:
            now = max(now, latest)
    sys.exit(f"rows still pending after {MAX_PASSES} passes "
             f"(failed {run.failed_rows}, retried {run.retried_rows})")


async def reply_traffic(bot: ExtBot[None], rate: float, stop: asyncio.Event, run: Run) -> None:
    """Replies to other chats at `rate`/s through the bot, as its handlers send them
    (`send_html`), so through the bot's one limiter; errors are counted."""
    started = time.perf_counter()
    number = 0
    while not stop.is_set():
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass
        try:
            await send_html(bot, REPLY_CHAT + number, REPLY_TEXT)
        except TelegramError:
            run.reply_errors += 1
        number += 1


def check(run: Run, record: FakeRecord, db: Database, headlines: Sequence[str],
          rooms: dict[int, str] | None = None, room_headlines: Sequence[str] = ()) -> None:
    """Throughput, 429s, lost, duplicates and content, from what the fake recorded; for
    the groups and channels (`rooms`: chat id -> kind) also their pace and completion."""
    rooms = rooms or {}
    chats = set(range(FIRST_CHAT, FIRST_CHAT + run.subscribers))
    targets = chats | set(rooms)
    sends = [(status, at, chat) for method, status, at, chat in record.requests
             if method == "sendMessage"]
    digest = [(status, at) for status, at, chat in sends if chat in targets]
    replies = [status for status, _, chat in sends if chat not in targets]
    accepted = sorted(at for status, at in digest if status == 200)
    run.requests = len(digest)
    run.too_many = sum(status == 429 for status, _ in digest)
    run.too_many_pct = round(100 * run.too_many / max(1, run.requests), 2)
    run.reply_requests = len(replies)
    run.reply_too_many = sum(status == 429 for status in replies)
    run.fake_too_many = record.too_many
    if len(accepted) > 1:
        run.span_s = round(accepted[-1] - accepted[0], 3)
        run.rate = round((len(accepted) - 1) / run.span_s, 2)
        gaps = [1000 * (b - a) for a, b in itertools.pairwise(accepted)]
        run.gap_p50_ms = round(percentile(gaps, 50), 1)
        run.gap_p95_ms = round(percentile(gaps, 95), 1)
        run.gap_max_ms = round(max(gaps), 1)
    run.rate_e2e = round(len(accepted) / run.loop_s, 2) if run.loop_s else 0.0
    received: dict[int, list[str]] = {chat: [] for chat in targets}
    for chat, _, text, paid in sorted(record.sent, key=lambda m: (m[0], m[1])):
        if chat in received:
            received[chat].append(text)
            run.paid_sends += paid
    got = {chat: texts for chat, texts in received.items() if texts and chat in chats}
    run.delivered = len(got)
    run.lost = len(chats) - len(got)
    run.duplicates = sum(1 for texts in got.values() if len(set(texts)) < len(texts))
    reference = Counter(tuple(dict.fromkeys(texts)) for texts in got.values()).most_common(1)
    if reference:
        parts = reference[0][0]
        run.parts, run.chars = len(parts), sum(len(p) for p in parts)
        run.wrong_text = sum(1 for texts in got.values() if tuple(dict.fromkeys(texts)) != parts)
        shown = "\n".join(parts)
        run.missing_headlines = sum(1 for h in headlines
                                    if html.escape(h, quote=False) not in shown)
    if rooms:
        check_rooms(run, record, rooms, received, room_headlines, accepted[0] if accepted else 0.0)
        run.lost += run.room_lost
        run.duplicates += run.room_duplicates
        run.wrong_text += run.room_wrong_text
        private = sorted(at for status, at, chat in sends if chat in chats and status == 200)
        run.private_done_s = round(private[-1] - accepted[0], 3) if private else 0.0
    run.db_sent_rows = sent_rows(db)


def check_rooms(run: Run, record: FakeRecord, rooms: dict[int, str],
                received: dict[int, list[str]], headlines: Sequence[str], start: float) -> None:
    """The groups' and channels' figures: lost, duplicates, a digest that differs from most
    of its kind (or lacks a headline), the shortest gap between two sends to one of them,
    and how long after the fan-out's first send each one's digest was complete."""
    times: dict[int, list[float]] = {chat: [] for chat in rooms}
    for method, status, at, chat in record.requests:
        if method == "sendMessage" and chat in rooms:
            run.room_requests += 1
            run.room_too_many += status == 429
            if status == 200:
                times[chat].append(at)
    run.rooms = len(rooms)
    got = {chat: received[chat] for chat in rooms if received[chat]}
    run.room_lost = len(rooms) - len(got)
    run.room_duplicates = sum(1 for texts in got.values() if len(set(texts)) < len(texts))
    for kind in set(rooms.values()):
        digests = [tuple(dict.fromkeys(t)) for c, t in got.items() if rooms[c] == kind]
        if not digests:
            continue
        parts = Counter(digests).most_common(1)[0][0]
        shown = "\n".join(parts)
        missing = any(html.escape(h, quote=False) not in shown for h in headlines)
        run.room_wrong_text += sum(1 for d in digests if d != parts or missing)
        if kind != "channel":
            run.room_parts = len(parts)
    gaps = [b - a for chat_times in times.values()
            for a, b in itertools.pairwise(sorted(chat_times))]
    run.room_gap_min_s = round(min(gaps), 3) if gaps else 0.0
    spans = [max(t) - min(t) for t in times.values() if t]
    done = [max(t) - start for t in times.values() if t]
    if spans:
        run.room_digest_p50_s = round(median(spans), 2)
        run.room_digest_max_s = round(max(spans), 2)
        run.room_done_p50_s = round(median(done), 2)
        run.room_done_max_s = round(max(done), 2)


def room_counts(subscribers: int) -> tuple[int, int]:
    """The mix variants' supergroups and channels: `GROUPS` and `CHANNELS` per 1,000 readers
    (at least one of each), so that a quick run keeps the proportions."""
    return (max(1, round(GROUPS * subscribers / SUBSCRIBERS)),
            max(1, round(CHANNELS * subscribers / SUBSCRIBERS)))


async def fan_out(variant: Variant, subscribers: int, fake: Served,
                  profile: cProfile.Profile | None = None) -> Run:
    """One fan-out in a fresh store against a fresh fake."""
    run = Run(variant.name, subscribers)
    groups, channels = room_counts(subscribers) if variant.rooms else (0, 0)
    token, base_url, made = fake.call("start", variant.fake_rate, groups, channels)
    rooms: dict[int, str] = dict(made)
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        db = build_store(Path(tmp) / "fanout.db", subscribers, made)
        try:
            request = BenchRequest(variant.rtt)
            limiter = TimedLimiter(overall=variant.overall, paid_broadcast=variant.paid)
            async with paced_bot(token, base_url, request, limiter) as bot:
                channel = TimedChannel(bot, limiter)
                run.queued = queue_digests(db)
                if run.queued != subscribers + len(rooms):
                    sys.exit(f"schedule_digests queued {run.queued} of "
                             f"{subscribers + len(rooms)} digests")
                db.reset_timer()
                stop = asyncio.Event()
                replies = (asyncio.create_task(reply_traffic(bot, variant.reply_rate, stop, run))
                           if variant.reply_rate > 0 else None)
                if profile is not None:
                    profile.enable()
                started, cpu = time.perf_counter(), time.process_time()
                await deliver_all(db, channel, variant, run)
                run.loop_s = round(time.perf_counter() - started, 3)
                cpu = time.process_time() - cpu
                if profile is not None:
                    profile.disable()
                stop.set()
                if replies is not None:
                    await replies
            check(run, fake.call("snapshot"), db, [s["headline"] for s in STORIES], rooms,
                  [s["headline"] for s in (*STORIES, *WIRE_STORIES)])
            run.idle_s = round(run.idle_s, 3)
            messages = max(1, run.delivered * max(1, run.parts)
                           + (run.rooms - run.room_lost) * max(1, run.room_parts))
            run.cpu_ms_per_msg = round(1000 * cpu / messages, 2)
            run.longest_store_ms = round(1000 * db.longest, 1)
            run.longest_http_ms = round(1000 * request.longest, 1)
            run.load_1m = round(os.getloadavg()[0], 2)
            run.channel_errors = dict(channel.errors)
            n = max(1, channel.calls)
            per = {"limiter wait": limiter.seconds / n,
                   "HTTP send": (channel.seconds - limiter.seconds) / n,
                   "store": db.seconds / n,
                   "rest": (run.loop_s - run.idle_s - channel.seconds - db.seconds) / n,
                   "idle": run.idle_s / n}
            run.most_in_flight = channel.most_in_flight
            if channel.most_in_flight > 1:  # overlapping sends: the parts exceed the wall
                del per["rest"]
            per["wall"] = run.loop_s / n
            run.per_message_ms = {k: round(1000 * v, 2) for k, v in per.items()}
        finally:
            db.close()
    return run


# --------------------------------------------------------------------------- report

COLUMNS = ("run", "deliv.", "span s", "msg/s", "e2e/s", "requests", "429s", "429 %", "lost",
           "dup.", "passes", "retried", "gap p50", "gap p95", "gap max")
MEDIAN_FIELDS = ("delivered", "span_s", "rate", "rate_e2e", "requests", "too_many",
                 "too_many_pct", "lost", "duplicates", "passes", "retried_rows", "gap_p50_ms",
                 "gap_p95_ms", "gap_max_ms")


def row_of(label: str, run: Run) -> list[Any]:
    """A table row."""
    return [label, run.delivered, run.span_s, run.rate, run.rate_e2e, run.requests,
            run.too_many, run.too_many_pct, run.lost, run.duplicates, run.passes,
            run.retried_rows, run.gap_p50_ms, run.gap_p95_ms, run.gap_max_ms]


def median_run(runs: Sequence[Run]) -> dict[str, Any]:
    """The median of every numeric figure over the runs; totals and worst cases too."""
    numeric = [k for k, v in asdict(runs[0]).items() if isinstance(v, int | float)]
    out: dict[str, Any] = {k: median([getattr(r, k) for r in runs]) for k in numeric}
    out["per_message_ms"] = {k: round(median([r.per_message_ms[k] for r in runs]), 2)
                             for k in runs[0].per_message_ms}
    out["lost_total"] = sum(r.lost for r in runs)
    out["duplicates_total"] = sum(r.duplicates for r in runs)
    out["wrong_text_total"] = sum(r.wrong_text + r.missing_headlines for r in runs)
    out["max_too_many_pct"] = max(r.too_many_pct for r in runs)
    out["min_rate"] = min(r.rate for r in runs)
    out["room_too_many_total"] = sum(r.room_too_many for r in runs)
    rooms = [r.room_gap_min_s for r in runs if r.rooms]
    out["min_room_gap_s"] = min(rooms) if rooms else None
    return out


def verdict_of(summary: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets: rate and 429s on the medians, loss and duplicates on every run;
    with groups, also no 429 to a group and every group's sends a group's spacing apart
    (issue #12), on every run."""
    verdict = {"rate": summary["rate"] >= TARGET_RATE,
               "429s": summary["too_many_pct"] <= TARGET_429_PCT,
               "no loss": summary["lost_total"] == 0,
               "no duplicate": summary["duplicates_total"] == 0
               and summary["wrong_text_total"] == 0}
    if summary["rooms"]:
        spacing = 60.0 / SETTINGS.telegram.group_messages_per_minute
        verdict["groups paced"] = (summary["room_too_many_total"] == 0
                                   and summary["min_room_gap_s"] >= spacing - ROOM_GAP_TOLERANCE)
    return verdict


def print_variant(name: str, runs: Sequence[Run], summary: dict[str, Any]) -> None:
    """One variant's table (every run, then the medians) and its notes."""
    print(f"\n{name}: {VARIANTS[name].label}; {runs[0].subscribers} subscribers")
    rows = [row_of(f"{name} #{i}", r) for i, r in enumerate(runs, start=1)]
    rows.append(row_of("median", Run(name, runs[0].subscribers,
                                     **{k: summary[k] for k in MEDIAN_FIELDS})))
    print_table(COLUMNS, rows)
    errors = Counter[str]()
    for r in runs:
        errors.update(r.channel_errors)
    print(f"  digest: {runs[0].parts} part(s), {runs[0].chars} chars; rows sent per pass "
          f"{[r.rows_per_pass for r in runs]}; rows SENT in the store "
          f"{[r.db_sent_rows for r in runs]}; exceptions out of channel.send_buttons "
          f"{dict(errors) or 'none'}; wrong texts or missing headlines "
          f"{summary['wrong_text_total']}")
    print(f"  sends in flight at most {[r.most_in_flight for r in runs]}; "
          f"CPU of this process per message, ms {[r.cpu_ms_per_msg for r in runs]}; "
          f"longest store block, ms {[r.longest_store_ms for r in runs]}; longest Bot API "
          f"request, ms {[r.longest_http_ms for r in runs]}; load average (1 min) at the "
          f"end {[r.load_1m for r in runs]}")
    if VARIANTS[name].reply_rate:
        print(f"  replies (through the same limiter): requests "
              f"{[r.reply_requests for r in runs]}, 429s {[r.reply_too_many for r in runs]}, "
              f"errors {[r.reply_errors for r in runs]}")
    if VARIANTS[name].cadence:
        print(f"  idle between passes, s: {[r.idle_s for r in runs]}")
    if VARIANTS[name].rooms:
        groups, channels = room_counts(runs[0].subscribers)
        print(f"  {runs[0].rooms} groups and channels ({groups} supergroups, {channels} "
              f"channels; counted above): {runs[0].room_parts} part(s) per group digest; "
              f"requests {[r.room_requests for r in runs]}, 429s "
              f"{[r.room_too_many for r in runs]}, lost {[r.room_lost for r in runs]}, "
              f"duplicates {[r.room_duplicates for r in runs]}, wrong texts "
              f"{[r.room_wrong_text for r in runs]}; shortest gap between two sends to one "
              f"group, s {[r.room_gap_min_s for r in runs]}")
        print(f"  a group's digest, first part to last, s: median "
              f"{[r.room_digest_p50_s for r in runs]}, max {[r.room_digest_max_s for r in runs]}"
              f"; complete after the fan-out's first send, s: median "
              f"{[r.room_done_p50_s for r in runs]}, max {[r.room_done_max_s for r in runs]}; "
              f"the readers' last, s {[r.private_done_s for r in runs]}; sends with "
              f"allow_paid_broadcast {[r.paid_sends for r in runs]}")


def report(results: dict[str, list[Run]], runs: int, subscribers: int,
           where: str) -> dict[str, Any]:
    """Print the tables and the summary; return the JSON document."""
    summaries = {name: median_run(rs) for name, rs in results.items()}
    for name, rs in results.items():
        print_variant(name, rs, summaries[name])
    print("\nPer digest message (median over runs, ms): where the delivery loop spends its time")
    keys = ("limiter wait", "HTTP send", "store", "rest", "idle", "wall")
    print_table(["variant", *keys],
                [[n, *(s["per_message_ms"].get(k, "-") for k in keys)]
                 for n, s in summaries.items()])
    print("(limiter wait: RateLimiter.wait, lock + sleep, digests only; HTTP send: the rest of "
          "TelegramChannel.send_buttons,\n i.e. the request through the fake, and RetryAfter "
          "sleeps; "
          "store: every db.session() block;\n rest: loop, asyncio and PTB overhead; idle: "
          "between passes; a variant with several\n sends in flight overlaps them, so its parts "
          "add up to more than its wall and no rest is shown)")
    base = summaries.get(BASELINE, {}).get("rate")
    print(f"\nSummary (targets: >= 27 msg/s, 429s <= 1 % of sends, 0 lost, 0 duplicates; "
          f"baseline {BASELINE if base else 'not run'}):")
    verdicts: dict[str, dict[str, bool]] = {}
    for name, s in summaries.items():
        verdict = verdict_of(s)
        verdicts[name] = verdict
        s["vs_baseline"] = ratio(s["rate"], base) if base else None
        failing = [k for k, v in verdict.items() if not v]
        vs = f", {times(s['vs_baseline'])} {BASELINE}" if base else ""
        print(f"  {name:15} median {s['rate']:6.2f} msg/s ({100 * s['rate'] / TELEGRAM_LIMIT:5.1f}"
              f" % of 30/s; worst run {s['min_rate']:6.2f}{vs}), 429s {s['too_many_pct']:.2f} % "
              f"(worst {s['max_too_many_pct']:.2f} %), lost {s['lost_total']}, duplicates "
              f"{s['duplicates_total']}: {'PASS' if not failing else 'FAIL ' + ', '.join(failing)}")
    print(f"  FakeTelegram (30/s overall, 1/s per chat, 20/min per group or channel, 1,000/s "
          f"paid) ran {where}; {runs} run(s) per variant, {subscribers} subscribers (mix: "
          f"plus {GROUPS} supergroups and {CHANNELS} channels per 1,000).")
    return {
        "target": {"rate": TARGET_RATE, "too_many_pct": TARGET_429_PCT, "lost": 0,
                   "duplicates": 0, "telegram_limit": TELEGRAM_LIMIT},
        "subscribers": subscribers, "runs_per_variant": runs, "fake": where,
        "reply_rate": REPLY_RATE, "baseline": BASELINE if base else None,
        "variants": {n: {"label": VARIANTS[n].label, "median": summaries[n],
                         "passes": verdicts[n], "all_pass": all(verdicts[n].values()),
                         "runs": [asdict(r) for r in rs]}
                     for n, rs in results.items()},
    }


def print_profile(profile: cProfile.Profile, top: int = 18) -> None:
    """The functions with the most own time during the profiled delivery."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("\ncProfile of one more seq-30 delivery (not in the figures), top functions by own "
          "time:")
    print("\n".join(lines[start - 2:start + top + 1]))


async def run_all(variants: Sequence[str], runs: int, subscribers: int, in_process: bool,
                  profile: bool) -> dict[str, Any]:
    """Every run of every variant, interleaved, then the report."""
    results: dict[str, list[Run]] = {name: [] for name in variants}
    with Served(TelegramHost, in_process=in_process) as fake:
        for number in range(1, runs + 1):
            for name in variants:  # interleaved, so drift hits every variant alike
                run = await fan_out(VARIANTS[name], subscribers, fake)
                results[name].append(run)
                print(f"run {number}/{runs} {name:15}: {run.delivered} delivered in "
                      f"{run.span_s:.2f} s = {run.rate:.2f} msg/s, 429s {run.too_many}, "
                      f"lost {run.lost}, duplicates {run.duplicates}", flush=True)
        document = report(results, runs, subscribers, fake.where)
        if profile:
            profiler = cProfile.Profile()
            await fan_out(VARIANTS[BASELINE], subscribers, fake, profiler)
            print_profile(profiler)
    return document


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, write bench/results/<name>.json."""
    options = parser(__doc__, servers=True)
    options.add_argument("--subscribers", type=int,
                         help=f"default {SUBSCRIBERS}, quick {QUICK_SUBSCRIBERS}")
    options.add_argument("--runs", type=int, help=f"default {RUNS}, quick {QUICK_RUNS}")
    options.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    options.add_argument("--profile", action="store_true",
                         help="also profile one extra seq-30 delivery with cProfile")
    options.add_argument("--name", default="fanout", help="results file name (no .json)")
    args = options.parse_args(argv)
    subscribers = pick(args.subscribers, SUBSCRIBERS, QUICK_SUBSCRIBERS, args.quick)
    runs = pick(args.runs, RUNS, QUICK_RUNS, args.quick)
    if subscribers < 2 or runs < 1:
        options.error("--subscribers >= 2 and --runs >= 1")
    info = context("fanout", args.quick)
    print_context(info)
    document = asyncio.run(run_all(args.variants, runs, subscribers, args.in_process,
                                   args.profile))
    headline = {name: {"rate": v["median"]["rate"],
                       "vs_baseline": (round(v["median"]["vs_baseline"], 3)
                                       if v["median"]["vs_baseline"] is not None else None),
                       "too_many_pct": v["median"]["too_many_pct"],
                       "lost": v["median"]["lost_total"],
                       "duplicates": v["median"]["duplicates_total"], "pass": v["all_pass"],
                       **({"rooms_done_max_s": v["median"]["room_done_max_s"],
                           "room_gap_min_s": v["median"]["min_room_gap_s"]}
                          if v["median"]["rooms"] else {})}
                for name, v in document["variants"].items()}
    finish(info, result_name(args.name, args.quick), document,
           {"subscribers": subscribers, "runs": runs, "variants": headline})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

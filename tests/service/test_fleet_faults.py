"""Three `briefing run` workers on one PostgreSQL, killed with SIGKILL at random moments and
restarted; and a PostgreSQL restart under two workers.

The world is real at the protocol level: feeds on a local web server that gain entries during
the run, the fake OpenAI-compatible server (every brief takes a while, so calls are in flight
when a worker dies), the fake Bot API at Telegram's limits (30 messages a second overall, one a
second per chat, 20 a minute per channel), with readers whose digest is due, a channel posted
to as stories come, and people writing to the bot during the run.

After the kills, the run must end with:

* every article stored once (one row per entry, none twice);
* every story briefed at its last version;
* no paid LLM call repeated, beyond the calls in flight at a kill (at most
  `summarise_concurrency` per kill: the answer of a call whose worker died was never logged);
* every digest delivered, none of its parts twice beyond one in flight per sender at a kill
  (Telegram has no idempotency key: a part whose answer a dead worker never read is either
  sent again, for a digest, or never again, for a live post, see `service.outbox`), and no
  live post twice;
* the send rate at or under 30 in every one-second window, and no 429;
* every update answered once: no update lost, none answered twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from briefing.config import StoreSettings
from briefing.store.db import Database, open_database
from briefing.store.deliveries import DIGEST, IN_DOUBT
from briefing.store.feeds import add_feed
from briefing.store.models import FAILED, PENDING, SENT, ArticleRow, DeliveryRow, StoryRow
from briefing.store.subscribers import upsert
from tests.conftest import CLEAN_ENV
from tests.fakes.briefs import good_answer
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.telegram_server import RATE_TOLERANCE, FakeTelegram
from tests.fakes.web_server import FakeWebServer
from tests.pg import (
    Cluster,
    PostgresUnavailable,
    fresh_database,
    running_cluster,
    start_server,
    stop_server,
)

WORKERS = 3
KILLS = 10
FEEDS = 6
ENTRIES_PER_FEED = 4  # 2 at the start, the others published during the run
READERS = 120
WRITERS = 12  # people who write to the bot during the run
SUMMARISE_CONCURRENCY = 2
DELIVERY_CONCURRENCY = 4
CONFIG = (
    "[service]\npoll_minutes = 0.05\ndeliver_seconds = 0.5\n"
    f"summarise_concurrency = {SUMMARISE_CONCURRENCY}\n"
    f"delivery_concurrency = {DELIVERY_CONCURRENCY}\n"
    "rebrief_quiet_minutes = 0\nrebrief_max_delay_minutes = 0\n"
    "[live]\nconfirm_minutes = 0\n"
)

CITIES = ["Rennes", "Brest", "Nantes", "Lille", "Dijon", "Metz", "Nancy", "Reims", "Amiens",
          "Rouen", "Caen", "Tours", "Limoges", "Poitiers", "Angers", "Grenoble", "Annecy",
          "Toulon", "Nîmes", "Perpignan", "Pau", "Bayonne", "Valence", "Besançon"]
SUBJECTS = [
    ("une nouvelle ligne de tramway", "les travaux", "les rames"),
    ("la rénovation du musée des beaux-arts", "les tableaux", "les visiteurs"),
    ("un plan contre les inondations", "les digues", "la rivière"),
    ("la fermeture d'une usine de papier", "les salariés", "les machines"),
    ("un festival de cinéma d'animation", "les films", "les studios"),
    ("la construction d'un hôpital", "les lits", "les médecins"),
    ("un réseau de pistes cyclables", "les vélos", "les carrefours"),
    ("la découverte d'une villa romaine", "les mosaïques", "les archéologues"),
    ("une grève des chauffeurs de bus", "les dépôts", "les usagers"),
    ("la sécheresse dans les vignes", "les vendanges", "les viticulteurs"),
    ("un incendie dans une forêt domaniale", "les pompiers", "les hectares"),
    ("l'ouverture d'une école d'ingénieurs", "les étudiants", "les laboratoires"),
]
PEOPLE = ["Claire Martin", "Marc Petit", "Sophie Durand", "Luc Bernard", "Anne Morel",
          "Paul Girard", "Julie Lefèvre", "Hugo Fontaine", "Emma Chevalier", "Louis Garnier",
          "Léa Roussel", "Noé Mercier", "Inès Blanc", "Jules Guérin", "Zoé Faure",
          "Théo Andre", "Lina Henry", "Adam Perrin", "Rose Masson", "Gabin Picard",
          "Alice Robin", "Nathan Brun", "Chloé Dumont", "Tom Lambert"]


def article(n: int) -> tuple[str, str]:
    """Story `n`'s title and text: its own city, subject, people and figures, long enough
    to be a whole article in a feed entry (no page to fetch)."""
    city, person = CITIES[n], PEOPLE[n]
    subject, things, people = SUBJECTS[n % len(SUBJECTS)]
    figure, year = 12 + 7 * n, 2027 + n % 4
    title = f"{city} : {subject}"
    sentences = [
        f"La ville de {city} a présenté mardi {subject}, un projet de {figure} millions "
        f"d'euros porté par {person}.",
        f"« Nous voulons que {people} en voient les effets dès {year} », a déclaré "
        f"{person} devant le conseil réuni en séance publique à {city}.",
        f"Selon la préfecture, {things} concernent {figure * 3} habitants du quartier nord "
        f"et {figure + 5} commerces.",
        f"L'opposition municipale de {city} juge le calendrier trop serré et demande une "
        f"étude indépendante avant le vote de {year}.",
        f"Les associations locales ont réuni {figure * 11} signatures pour une réunion "
        f"publique consacrée à {subject}.",
        f"{person} assure que le financement est bouclé, avec une aide de l'État de "
        f"{figure // 2} millions d'euros et un prêt européen.",
        f"Un premier bilan sera présenté au printemps {year}, a précisé la mairie de {city} "
        f"dans un communiqué publié mercredi.",
    ]
    return title, " ".join(sentences * 2)


def rss(base: str, feed: int, entries: int, now: datetime) -> bytes:
    """Feed `feed` with its first `entries` entries, newest first."""
    items = []
    for k in reversed(range(entries)):
        n = feed * ENTRIES_PER_FEED + k
        title, text = article(n)
        published = format_datetime(now - timedelta(minutes=30 - k), usegmt=True)
        items.append(f"<item><title>{title}</title><link>{base}/a/{n}</link><guid>a-{n}</guid>"
                     f"<pubDate>{published}</pubDate><description>{text}</description></item>")
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Le Fil {feed}</title>{''.join(items)}</channel></rss>").encode()


@dataclass
class World:
    """The store, the outside world's fakes, and the work directory of the workers."""

    url: str
    root: Path
    tg: FakeTelegram
    llm: FakeOpenAI
    web: FakeWebServer
    channel: int
    readers: list[int]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    entries: list[int] = field(default_factory=lambda: [2] * FEEDS)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, feed: int) -> bool:
        """One more entry in `feed`; False when it has them all."""
        with self.lock:
            if self.entries[feed] >= ENTRIES_PER_FEED:
                return False
            self.entries[feed] += 1
            self.web.route(f"/feed/{feed}.xml", rss(self.web.base_url, feed,
                                                    self.entries[feed], self.started),
                           content_type="application/rss+xml")
            return True

    def env(self, worker: int) -> dict[str, str]:
        home = self.root / f"worker-{worker}"
        (home / "articles").mkdir(parents=True, exist_ok=True)
        return {**CLEAN_ENV, "BRIEFING_DB_URL": self.url,
                "BRIEFING_DATA_DIR": str(home / "data"),
                "BRIEFING_ARTICLES_DIR": str(home / "articles"),
                "BRIEFING_ALLOW_PRIVATE_URLS": "1",
                "TELEGRAM_BOT_TOKEN": self.tg.token, "TELEGRAM_API_BASE_URL": self.tg.base_url,
                "OPENAI_BASE_URL": self.llm.base_url, "BRIEFING_MODEL": "fake-model",
                "OPENAI_API_KEY": "sk-test-not-a-real-key"}

    def start(self, worker: int, *options: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"worker-{worker}.log", "ab")  # noqa: SIM115 (the child's)
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "briefing", "run", *options], cwd=self.root,
                env=self.env(worker), stdout=subprocess.DEVNULL, stderr=log)
        finally:
            log.close()

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:]
                         for path in sorted(self.root.glob("worker-*.log")))


def build_world(url: str, root: Path, tg: FakeTelegram, llm: FakeOpenAI,
                web: FakeWebServer, readers: int) -> World:
    (root / "briefing.toml").write_text(CONFIG, encoding="utf-8")
    channel = tg.add_chat("channel", title="Le Fil en direct")
    world = World(url, root, tg, llm, web, channel, [50_000 + i for i in range(readers)])
    for feed in range(FEEDS):
        world.web.route(f"/feed/{feed}.xml", rss(web.base_url, feed, 2, world.started),
                        content_type="application/rss+xml")
    db = open_database(StoreSettings(url=url))
    try:
        for feed in range(FEEDS):
            add_feed(db, web.url(f"/feed/{feed}.xml"), f"Le Fil {feed}")
        due = (world.started - timedelta(minutes=1)).strftime("%H:%M")
        for chat in world.readers:  # every source, digest due now
            upsert(db, str(chat), languages="fr", digest_time=due, timezone="UTC",
                   active=True)
        far = (world.started + timedelta(hours=12)).strftime("%H:%M")
        upsert(db, str(channel), kind="channel", schedule="live", languages="fr",
               digest_time=far, timezone="UTC", active=True)
    finally:
        db.close()
    return world


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    # Slow enough that calls are in flight when a worker dies.
    with FakeOpenAI(default=lambda req: Reply.content(good_answer(req)).with_delay(0.4)) as fake:
        yield fake


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               world: World, state: Callable[[], object] = lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout} s ({state()}); worker logs:\n"
                        f"{world.logs()}")
        time.sleep(0.25)


@dataclass(frozen=True)
class StoreState:
    articles: int
    distinct_urls: int
    stories: int
    briefed: int
    deliveries: int
    unsent: int
    states: dict[tuple[str, str, str | None], int]  # (kind, state, last error if failed)


def store_state(db: Database) -> StoreState:
    with db.session() as session:
        articles = session.scalar(select(func.count(ArticleRow.id))) or 0
        urls = session.scalar(select(func.count(func.distinct(ArticleRow.url)))) or 0
        stories = session.scalar(select(func.count(StoryRow.id))) or 0
        briefed = session.scalar(select(func.count(StoryRow.id)).where(
            StoryRow.summarised_version == StoryRow.version)) or 0
        states = Counter(
            (kind, state, error if state == FAILED else None)
            for kind, state, error in session.execute(
                select(DeliveryRow.kind, DeliveryRow.state, DeliveryRow.last_error)))
    unsent = sum(n for (_, state, _), n in states.items() if state == PENDING)
    return StoreState(articles, urls, stories, briefed, sum(states.values()), unsent,
                      dict(states))


def sends(tg: FakeTelegram) -> list[tuple[float, int, str]]:
    """(time, chat, text) of every message Telegram carried out."""
    return [(r.at, int(r.params["chat_id"]), str(r.params.get("text")))
            for r in tg.requests_for("sendMessage") if r.status == 200]


def busiest_second(times: list[float]) -> int:
    """The most sends in any one-second window (sliding, starting at each send), less the
    jitter an arrival time carries (`RATE_TOLERANCE`, which the fake Bot API allows too)."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0 - RATE_TOLERANCE:
            start += 1
        most = max(most, end - start + 1)
    return most


def llm_duplicates(llm: FakeOpenAI) -> int:
    chats = [json.dumps(r.json, sort_keys=True) for r in llm.requests
             if r.path.endswith("/chat/completions")]
    return sum(n - 1 for n in Counter(chats).values())


def test_three_workers_killed_at_random_lose_nothing_and_repeat_nothing(
    pg_url: str, tmp_path: Path, tg: FakeTelegram, llm: FakeOpenAI, web: FakeWebServer
) -> None:
    seed = int(os.environ.get("FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    with fresh_database(pg_url) as url:
        world = build_world(url, tmp_path, tg, llm, web, READERS)
        workers = [world.start(i) for i in range(WORKERS)]
        writers = [70_000 + i for i in range(WRITERS)]
        kills: list[tuple[float, int]] = []
        try:
            # The run: entries published and people writing to the bot while workers die.
            events = ([("publish", feed) for feed in range(FEEDS)
                       for _ in range(ENTRIES_PER_FEED - 2)]
                      + [("write", chat) for chat in writers]
                      + [("kill", 0)] * KILLS)
            rng.shuffle(events)
            time.sleep(3)  # the first cycles under way: ingest, briefs, the first posts
            for kind, value in events:
                time.sleep(rng.uniform(0.2, 1.2))
                if kind == "publish":
                    world.publish(value)
                elif kind == "write":
                    tg.user_message(value, "/help", user_id=value)
                else:
                    victim = rng.randrange(WORKERS)
                    workers[victim].send_signal(signal.SIGKILL)
                    workers[victim].wait(timeout=10)
                    kills.append((time.time(), victim))
                    workers[victim] = world.start(victim)
            db = open_database(StoreSettings(url=url), migrate=False)
            try:
                total = FEEDS * ENTRIES_PER_FEED

                def finished() -> bool:
                    state = store_state(db)
                    replied = all(tg.messages_to(chat) for chat in writers)
                    return (state.articles >= total and state.briefed == state.stories
                            and state.deliveries > READERS and state.unsent == 0 and replied)

                wait_until(finished, 180, "every article, brief, delivery and reply", world,
                           lambda: (store_state(db), [c for c in writers
                                                      if not tg.messages_to(c)]))
                time.sleep(3)  # time to send anything again, were a worker to
                state = store_state(db)
            finally:
                db.close()
        finally:
            for proc in workers:
                proc.send_signal(signal.SIGTERM)
            for proc in workers:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    note = f"(seed {seed}; FAULT_SEED={seed} replays it)"
    assert len(kills) == KILLS
    # Every article stored once, every story briefed at its last version.
    assert state.articles == state.distinct_urls == FEEDS * ENTRIES_PER_FEED, note
    assert state.briefed == state.stories, note
    # No paid call twice, beyond those in flight when a worker died.
    assert llm_duplicates(llm) <= KILLS * SUMMARISE_CONCURRENCY, note
    # Every digest delivered; a part sent twice only if it was in flight at a kill.
    sent = sends(tg)
    digests_sent = {chat for _, chat, _ in sent if chat in set(world.readers)}
    assert digests_sent == set(world.readers), (state.states, note)
    # Every digest row sent. A live post whose worker died while Telegram had it is closed
    # without a second try (at most once: `service.outbox`), its story left to the digest.
    digest_states = {st for (kind, st, _) in state.states if kind == DIGEST}
    assert digest_states == {SENT}, (state.states, note)
    in_doubt = {key: n for key, n in state.states.items() if key[1] == FAILED}
    assert all(kind != DIGEST and error == IN_DOUBT for kind, _, error in in_doubt), (
        state.states, note)
    assert sum(in_doubt.values()) <= KILLS, note
    repeated = Counter((chat, text) for _, chat, text in sent if chat in set(world.readers))
    assert sum(n - 1 for n in repeated.values()) <= KILLS * DELIVERY_CONCURRENCY, note
    # Live posts: at most once each, ever.
    posts = Counter(text for _, chat, text in sent if chat == world.channel)
    assert posts and max(posts.values()) == 1, note
    # The pace of the whole fleet: 30 a second at most, and Telegram never said "too many".
    assert busiest_second([at for at, _, _ in sent]) <= 30, note
    assert tg.rate_limited == [], note
    # Every update answered once.
    for chat in writers:
        assert len(tg.messages_to(chat)) == 1, (chat, note)


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own: it is stopped and started again mid-test."""
    with ExitStack() as stack:
        try:
            cluster = stack.enter_context(running_cluster())
        except PostgresUnavailable as exc:
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        yield cluster


def test_a_postgresql_restart_is_reported_by_readyz_and_the_workers_carry_on(
    own_cluster: Cluster, tmp_path: Path, tg: FakeTelegram, llm: FakeOpenAI, web: FakeWebServer
) -> None:
    cluster = own_cluster
    with fresh_database(cluster.url("postgres")) as url:
        world = build_world(url, tmp_path, tg, llm, web, readers=5)
        ports = [free_port() for _ in range(2)]
        workers = [world.start(i, "--http", f"127.0.0.1:{port}")
                   for i, port in enumerate(ports)]
        try:
            db = open_database(StoreSettings(url=url), migrate=False)
            try:
                wait_until(lambda: store_state(db).briefed >= FEEDS * 2, 120,
                           "the first briefs", world)
            finally:
                db.close()
            assert all(ready(port) == 200 for port in ports)
            stop_server(cluster)
            wait_until(lambda: all(ready(port) == 503 for port in ports), 30,
                       "/readyz reporting the outage", world)
            time.sleep(3)  # workers meet the outage in their jobs, not only in /readyz
            assert all(proc.poll() is None for proc in workers), world.logs()
            assert all(health(port) == 200 for port in ports)
            world.publish(0)  # news while the store is down
            start_server(cluster)
            wait_until(lambda: all(ready(port) == 200 for port in ports), 60,
                       "/readyz back to ready", world)
            db = open_database(StoreSettings(url=url), migrate=False)
            try:
                wait_until(lambda: store_state(db).articles == FEEDS * 2 + 1
                           and store_state(db).briefed == store_state(db).stories, 120,
                           "the news of the outage stored and briefed", world)
            finally:
                db.close()
        finally:
            for proc in workers:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=30) for proc in workers]
        assert codes == [0, 0], world.logs()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(port: int) -> int:
    return status(f"http://127.0.0.1:{port}/readyz")


def health(port: int) -> int:
    return status(f"http://127.0.0.1:{port}/healthz")


def status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0

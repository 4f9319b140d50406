"""Updates coming in with several workers on one store (issue 13), through the real
python-telegram-bot on the fake Bot API: one worker polls at a time (the fake answers 409
to two waiting `getUpdates`, and sees none); a leader that dies is replaced within the
bound and the updates that waited meanwhile are answered, once; a leader that loses its
lease stops polling at once; an update the store says was taken in is not handled again;
with a webhook, the same update delivered to two workers is answered once.

Two "workers" are two Applications in one test, each with its own connection pool on one
PostgreSQL database; the lease timings are cut to a second (`FAST`) so the tests run in
seconds. A worker "dies" by its poller task being cancelled without letting go of the
lease, as a SIGKILL leaves it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application

import briefing.bot.polling as polling_module
from briefing.bot.app import build_application, running_bot
from briefing.bot.polling import (
    POLLER_LEASE,
    Intake,
    Leadership,
    Poller,
    intake_of,
    poller_holder,
)
from briefing.clock import utcnow
from briefing.config import Settings, StoreSettings
from briefing.service.fleet import Worker, this_process
from briefing.store.db import Database, open_database
from briefing.store.leases import claim_one, holder_of, release
from briefing.store.updates import first_time, taken_by
from tests.bot.conftest import bot_settings
from tests.fakes.telegram_server import FakeTelegram
from tests.pg import fresh_database

FAST = Leadership(ttl=timedelta(seconds=1), renew_every=0.2, retry_every=0.2)
SLACK = 1.0  # seconds of scheduling on a shared machine, on top of a bound
DUPLICATE_WINDOW = 1.6  # seconds: the per-chat pace (1 s), and some


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    # No rate limits: these tests count replies, not pace them.
    with FakeTelegram(enforce_rates=False) as fake:
        yield fake


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[str]:
    """A database of its own on the test cluster, shared by the test's workers."""
    with fresh_database(pg_url) as url:
        yield url


def worker(name: str) -> Worker:
    return Worker(f"test-host:1:{name}", "test-host", 1)


class Node:
    """One worker: its own store connections, its application started, its poller, which
    the test starts, kills (cancelled, lease kept) or stops (lease let go)."""

    def __init__(self, settings: Settings, url: str, name: str) -> None:
        self.worker = worker(name)
        self.db = open_database(StoreSettings(url=url))
        self.application: Application = build_application(  # type: ignore[type-arg]
            settings, self.db)
        self.poller: Poller | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self.poller is not None and self.poller.leading

    def start(self) -> None:
        assert self.poller is not None
        self.task = asyncio.create_task(self.poller.run())

    async def kill(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task
            self.task = None


@asynccontextmanager
async def node(settings: Settings, url: str, name: str) -> AsyncIterator[Node]:
    """A worker's application started, its poller ready (as `running_bot` makes them)."""
    one = Node(settings, url, name)
    try:
        async with one.application:
            await one.application.start()
            intake = intake_of(one.application)
            intake.worker, intake.polled = one.worker.id, True
            one.poller = Poller(one.application, one.db, one.worker, leadership=FAST,
                                poll_timeout=1)
            try:
                yield one
            finally:
                await one.kill()
                await one.poller.let_go()
                await one.application.stop()
    finally:
        one.db.close()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until `check()` holds (TimeoutError after `timeout`)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def replies(tg: FakeTelegram, chats: list[int]) -> dict[int, int]:
    """How many messages each chat got, once each got one and time enough has passed for
    a second one to arrive (the bot sends one message a second to a chat: a duplicate
    reply would wait that long)."""
    for chat in chats:
        await asyncio.to_thread(tg.wait_for_messages, chat, 1, 15.0)
    await asyncio.sleep(DUPLICATE_WINDOW)
    return {chat: len(tg.messages_to(chat)) for chat in chats}


def conflicts(tg: FakeTelegram) -> int:
    return sum(1 for r in tg.requests_for("getUpdates") if r.status == 409)


def ask_help(tg: FakeTelegram, chats: list[int]) -> list[int]:
    return [tg.user_message(chat, "/help") for chat in chats]


# --- one process on SQLite: as before ----------------------------------------------------


def test_one_worker_on_sqlite_polls_takes_in_and_lets_go(
        tg: FakeTelegram, db: Database, tmp_path: Path) -> None:
    settings = bot_settings(tg, tmp_path)
    me = this_process()

    async def play() -> None:
        application = build_application(settings, db)
        async with running_bot(application, settings):  # the CLI's call
            [update_id] = ask_help(tg, [7001])
            assert await replies(tg, [7001]) == {7001: 1}
            assert taken_by(db, update_id) == me.id
            assert holder_of(db, POLLER_LEASE, utcnow()) == poller_holder(me)
        assert holder_of(db, POLLER_LEASE, utcnow()) is None  # a clean stop lets go

    asyncio.run(play())
    assert tg.pending_updates == []  # the next getUpdates confirmed it
    assert conflicts(tg) == 0


# --- several workers on PostgreSQL --------------------------------------------------------


def test_two_workers_one_poller_every_update_answered_once(
        tg: FakeTelegram, pg_store: str, tmp_path: Path) -> None:
    settings = bot_settings(tg, tmp_path)

    async def play() -> None:
        async with node(settings, pg_store, "a") as a, node(settings, pg_store, "b") as b:
            a.start()
            await until(lambda: a.leading)
            b.start()
            both: list[float] = []

            async def watch() -> None:
                while True:
                    if a.leading and b.leading:
                        both.append(time.monotonic())
                    await asyncio.sleep(0.01)

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(5 * FAST.retry_every)  # b asks, and asks again, in vain
            chats = list(range(7001, 7011))
            ids = ask_help(tg, chats)
            assert await replies(tg, chats) == dict.fromkeys(chats, 1)
            watcher.cancel()
            assert both == []
            assert a.leading and not b.leading
            assert b.poller is not None and b.poller.terms == 0
            assert {taken_by(a.db, i) for i in ids} == {a.worker.id}

    asyncio.run(play())
    assert conflicts(tg) == 0


def test_a_dead_leader_is_replaced_within_the_bound_and_nothing_waits_forever(
        tg: FakeTelegram, pg_store: str, tmp_path: Path) -> None:
    settings = bot_settings(tg, tmp_path)

    async def play() -> None:
        async with node(settings, pg_store, "a") as a, node(settings, pg_store, "b") as b:
            a.start()
            await until(lambda: a.leading)
            b.start()
            before = ask_help(tg, [7001, 7002])
            assert await replies(tg, [7001, 7002]) == {7001: 1, 7002: 1}
            await a.kill()  # its lease stays until it expires, as after a SIGKILL
            killed = time.monotonic()
            during = ask_help(tg, [7003, 7004, 7005])  # wait at Telegram meanwhile
            await until(lambda: b.leading)
            took = time.monotonic() - killed
            # Not before a's lease ended (renewed at most `renew_every` before the kill)...
            assert took >= FAST.ttl.total_seconds() - FAST.renew_every - 0.1
            # ...and within the bound.
            assert took <= FAST.takeover_within + SLACK
            assert await replies(tg, [7003, 7004, 7005]) == {7003: 1, 7004: 1, 7005: 1}
            assert {taken_by(b.db, i) for i in before} == {a.worker.id}
            assert {taken_by(b.db, i) for i in during} == {b.worker.id}
            assert holder_of(b.db, POLLER_LEASE, utcnow()) == poller_holder(b.worker)

    asyncio.run(play())
    assert tg.pending_updates == []


def test_a_clean_stop_hands_over_at_the_next_ask_not_at_the_lease_end(
        tg: FakeTelegram, pg_store: str, tmp_path: Path) -> None:
    settings = bot_settings(tg, tmp_path)
    slow = Leadership(ttl=timedelta(seconds=30), renew_every=0.2, retry_every=0.2)

    async def play() -> None:
        db = open_database(StoreSettings(url=pg_store))
        try:
            first = build_application(settings, db)
            second = build_application(settings, db)
            async with running_bot(second, settings, poll_timeout=1, worker=worker("b"),
                                   leadership=slow):
                async with running_bot(first, settings, poll_timeout=1, worker=worker("a"),
                                       leadership=slow):
                    await until(lambda: holder_of(db, POLLER_LEASE, utcnow()) is not None)
                    leader = holder_of(db, POLLER_LEASE, utcnow())
                    [early] = ask_help(tg, [7001])
                    assert await replies(tg, [7001]) == {7001: 1}
                left = time.monotonic()
                # The second worker polls long before the 30 s lease would have ended.
                await until(lambda: holder_of(db, POLLER_LEASE, utcnow())
                            == poller_holder(worker("b")), timeout=5.0)
                assert time.monotonic() - left < 5.0
                [late] = ask_help(tg, [7002])
                assert await replies(tg, [7002]) == {7002: 1}
                assert taken_by(db, late) == worker("b").id
                assert leader is not None and taken_by(db, early) == leader.removeprefix(
                    "poller@")
        finally:
            db.close()

    asyncio.run(play())
    assert conflicts(tg) == 0


def test_a_leader_that_loses_its_lease_stops_polling_at_once(
        tg: FakeTelegram, pg_store: str, tmp_path: Path) -> None:
    settings = bot_settings(tg, tmp_path)

    async def play() -> None:
        async with node(settings, pg_store, "a") as a:
            a.start()
            await until(lambda: a.leading)
            assert a.poller is not None
            # Another worker holds the lease now (a's expired while it stalled, say).
            release(a.db, [POLLER_LEASE], a.poller.holder)
            assert claim_one(a.db, POLLER_LEASE, "poller@intruder", utcnow(),
                             timedelta(seconds=30))
            await until(lambda: not a.leading, timeout=FAST.renew_every + SLACK)
            polls = len(tg.requests_for("getUpdates"))
            [waiting] = ask_help(tg, [7001])
            await asyncio.sleep(1.0)
            assert len(tg.requests_for("getUpdates")) == polls  # no poll while a follower
            assert [u["update_id"] for u in tg.pending_updates] == [waiting]
            assert tg.messages_to(7001) == []
            # The intruder goes: a takes the lease back and answers what waited.
            release(a.db, [POLLER_LEASE], "poller@intruder")
            await until(lambda: a.leading)
            assert a.poller.terms == 2
            assert await replies(tg, [7001]) == {7001: 1}

    asyncio.run(play())


def test_an_update_the_store_says_was_taken_in_is_not_handled_again(
        tg: FakeTelegram, pg_store: str, tmp_path: Path) -> None:
    """A leader died after taking an update in, before Telegram heard the next offset:
    the update is still pending at Telegram; the next poller starts past it."""
    settings = bot_settings(tg, tmp_path)
    handled, fresh = ask_help(tg, [7001, 7002])

    async def play() -> None:
        async with node(settings, pg_store, "b") as b:
            assert first_time(b.db, handled, "test-host:1:dead", utcnow())
            b.start()
            assert await replies(tg, [7002]) == {7002: 1}
            assert tg.messages_to(7001) == []
            assert taken_by(b.db, handled) == "test-host:1:dead"
            assert taken_by(b.db, fresh) == b.worker.id

    asyncio.run(play())
    assert tg.pending_updates == []


# --- webhook: every worker serves it ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_same_update_delivered_to_two_webhook_workers_is_answered_once(
        tg: FakeTelegram, pg_store: str, tmp_path: Path) -> None:
    pytest.importorskip("tornado", reason="PTB's webhook server needs its [webhooks] extra")
    hook = "https://bot.example.test/telegram/hook"
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{port}/telegram/hook" for port in ports]
    stores = [open_database(StoreSettings(url=pg_store)) for _ in ports]

    async def play() -> None:
        settings = [bot_settings(tg, tmp_path, webhook_url=hook, webhook_port=port)
                    for port in ports]
        apps = [build_application(s, db) for s, db in zip(settings, stores, strict=True)]
        async with running_bot(apps[0], settings[0], worker=worker("a"),
                               webhook_listen="127.0.0.1"), \
                running_bot(apps[1], settings[1], worker=worker("b"),
                            webhook_listen="127.0.0.1"):
            assert tg.webhook is not None and tg.webhook["url"] == hook
            [update_id] = ask_help(tg, [7001])
            # The load balancer sends it to both at once, then Telegram retries it.
            statuses = await asyncio.gather(
                *(asyncio.to_thread(tg.post_to_webhook, update_id, url=url) for url in urls))
            assert statuses == [200, 200]
            assert await asyncio.to_thread(tg.post_to_webhook, update_id, url=urls[0]) == 200
            assert await replies(tg, [7001]) == {7001: 1}
            assert taken_by(stores[0], update_id) in {worker("a").id, worker("b").id}
            # Another update, to either worker, is answered too.
            [other] = ask_help(tg, [7002])
            assert await asyncio.to_thread(tg.post_to_webhook, other, url=urls[1]) == 200
            assert await replies(tg, [7002]) == {7002: 1}
            assert taken_by(stores[0], other) == worker("b").id

    try:
        asyncio.run(play())
    finally:
        for db in stores:
            db.close()
    assert tg.requests_for("getUpdates") == []  # nobody polls in webhook mode
    assert tg.pending_updates == []


# --- taking in, whatever brought the update ----------------------------------------------


def an_update(tg: FakeTelegram, chat: int) -> dict[str, Any]:
    update_id = tg.user_message(chat, "/help")
    [payload] = [u for u in tg.pending_updates if u["update_id"] == update_id]
    return payload


def test_an_update_processed_twice_is_answered_once(
        tg: FakeTelegram, db: Database, tmp_path: Path) -> None:
    settings = bot_settings(tg, tmp_path)
    payload = an_update(tg, 7001)

    async def play() -> None:
        application = build_application(settings, db)
        async with application:
            for _ in range(2):
                await application.process_update(Update.de_json(payload, application.bot))
        assert taken_by(db, payload["update_id"]) == this_process().id

    asyncio.run(play())
    assert len(tg.messages_to(7001)) == 1


def test_an_update_whose_record_failed_is_stopped_and_fetched_again(
        tg: FakeTelegram, db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = bot_settings(tg, tmp_path)
    payload = an_update(tg, 7001)
    update_id = payload["update_id"]

    def store_down(*args: object) -> bool:
        raise ConnectionError("the store is down")

    async def play() -> None:
        application = build_application(settings, db)
        intake = intake_of(application)
        intake.polled = True
        async with application:
            with monkeypatch.context() as patched:
                patched.setattr(polling_module, "first_time", store_down)
                await application.process_update(Update.de_json(payload, application.bot))
            assert tg.messages_to(7001) == []
            assert intake.failed == {update_id}
            assert intake.offset(update_id + 5) == update_id  # asked for again
            await application.process_update(Update.de_json(payload, application.bot))
            assert intake.failed == set()
            assert intake.offset(update_id) == update_id + 1

    asyncio.run(play())
    assert len(tg.messages_to(7001)) == 1


def test_a_webhook_update_whose_record_failed_is_handled_all_the_same(
        tg: FakeTelegram, db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = bot_settings(tg, tmp_path)
    payload = an_update(tg, 7001)

    def store_down(*args: object) -> bool:
        raise ConnectionError("the store is down")

    async def play() -> None:
        application = build_application(settings, db)
        assert not intake_of(application).polled
        monkeypatch.setattr(polling_module, "first_time", store_down)
        async with application:
            await application.process_update(Update.de_json(payload, application.bot))

    asyncio.run(play())
    assert len(tg.messages_to(7001)) == 1


def test_the_intake_offset_and_its_wait() -> None:
    intake = Intake("w")
    assert intake.offset(None) is None
    assert intake.offset(41) == 42

    class Fetched:
        def __init__(self, update_id: int) -> None:
            self.update_id = update_id

    batch: Any = [Fetched(5), Fetched(6)]
    assert [u.update_id for u in intake.fetched(batch)] == [5, 6]
    assert intake.fetched(batch) == []  # on their way already

    async def play() -> None:
        waiting = asyncio.create_task(intake.drained(5.0))
        await asyncio.sleep(0.05)
        intake.settled(5, recorded=True)
        await asyncio.sleep(0.05)
        assert not waiting.done()
        intake.settled(6, recorded=False)
        assert await waiting
        assert intake.offset(5) == 6 and intake.failed == {6}
        intake.fetched([Fetched(7)])  # type: ignore[list-item]
        started = time.monotonic()
        assert not await intake.drained(0.2)  # never taken in: forgotten, fetched again
        assert time.monotonic() - started >= 0.2
        assert intake.fetched([Fetched(7)]) != []  # type: ignore[list-item]

    asyncio.run(play())
    intake.new_term()
    assert intake.failed == set()


def test_leadership_timings_must_leave_time_to_renew() -> None:
    with pytest.raises(ValueError):
        Leadership(ttl=timedelta(seconds=5), renew_every=5.0)
    assert Leadership().takeover_within <= 30.0  # issue 13's bound, with the defaults


"""The bot's limits held by several workers together (issue #13): three limiters, each
with its own connections to one PostgreSQL store as three `briefing run` processes would
have, send through the real python-telegram-bot to one fake Bot API at Telegram's limits
(30 a second in all, 1 a second per chat). The slots the three booked, taken together,
are never more than 30 in a second nor two in a second for one chat, whichever worker
booked them; the fake answers no 429 and sees 30 a second in all, not 30 per worker, and a
chat's messages a second apart. Also: a group's spacing across workers; a 429 one worker
sees holds the others back, and is counted once; the chats' rows long past are pruned.
On SQLite (one process) the limiter stays in-process"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from telegram.error import RetryAfter
from telegram.ext import ExtBot

from briefing.bot.channel import (
    PRUNE_AFTER,
    PRUNE_EVERY,
    BotRateLimiter,
    RateLimiter,
    SharedPace,
    TelegramChannel,
    send_html,
)
from briefing.config import StoreSettings, TelegramSettings
from briefing.store.db import Database, open_database
from briefing.store.pace import FREE, Hold, Lane, Send, Slot, chat_lane, hold, next_slots
from tests.fakes.telegram_server import FakeTelegram
from tests.pg import fresh_database

WORKERS = 3
SENDERS = 4  # sends in flight per worker, as the outbox's delivery_concurrency allows
READERS, READER = 130, 7001  # chats that get one message each
HOT_CHATS, HOT_MESSAGES, HOT = 5, 4, 9001  # chats that get several, from every worker
LIMIT = 30  # Telegram's messages a second, the fake's too
EPSILON = 1e-6  # the resolution of a float holding seconds since the epoch
# The slots are exact and checked exactly. A send reaches the fake a little after its
# slot (the event loop, a thread switch, the request: up to 0.1 s seen on this shared
# machine under load), so two sends a slot apart may arrive closer: on the fake's side
# the tests ask what the fake itself enforces (no 429: its buckets, with its
# `RATE_TOLERANCE`), the pace on average, and a chat's second with this allowance.
CHAT_TOLERANCE = 0.08  # as tests/bot/test_pacing.py: arrival jitter on a shared machine
SPACING = 0.4  # a group's spacing in the group test (the fake's: a burst of 2, then 0.4 s)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[str]:
    """A migrated database of its own on the throwaway cluster."""
    with fresh_database(pg_url) as url:
        open_database(StoreSettings(url=url)).close()
        yield url


@pytest.fixture
def stores(pg_store: str) -> Iterator[list[Database]]:
    """One store per worker: the same database, each with connections of its own."""
    opened = [open_database(StoreSettings(url=pg_store), migrate=False) for _ in range(WORKERS)]
    yield opened
    for store in opened:
        store.close()


def accepted_sends(tg: FakeTelegram) -> list[tuple[float, int]]:
    """(arrival, chat) of every `sendMessage` the fake accepted, by arrival."""
    return sorted((r.at, int(r.params["chat_id"])) for r in tg.requests_for("sendMessage")
                  if r.status == 200)


def most_in_a_window(times: list[float], window: float) -> int:
    """The most sends in any window of `window` seconds starting at a send."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered[i:] if t < start + window)
               for i, start in enumerate(ordered))


def sent_429s() -> float:
    return REGISTRY.get_sample_value("briefing_telegram_429_total") or 0.0


def test_a_store_shared_by_workers_gets_the_shared_pace(stores: list[Database],
                                                        tmp_path: Path) -> None:
    telegram = TelegramSettings()
    assert isinstance(RateLimiter.from_settings(telegram, stores[0]).shared, SharedPace)
    sqlite = open_database(StoreSettings(url=f"sqlite:///{tmp_path / 'one.db'}"))
    try:
        assert RateLimiter.from_settings(telegram, sqlite).shared is None
    finally:
        sqlite.close()
    assert RateLimiter.from_settings(telegram).shared is None


class RecordedPace(SharedPace):
    """The shared pace, noting every slot it was given and used: (chat's row, slot)."""

    def __init__(self, db: Database, booked: list[tuple[str, float]]) -> None:
        super().__init__(db)
        self.booked = booked

    async def ask(self, send: Send) -> Slot:
        """The inherited booking, noted when it is one; a slot given up (woken too late:
        `SharedPace.take`) was not used, and is forgotten when its send asks again."""
        if send.given_up is not None:
            self.booked.remove((send.chat.name, send.given_up))
        slot = await super().ask(send)
        if slot.booked:
            self.booked.append((send.chat.name, slot.at))
        return slot


def test_three_workers_together_keep_telegrams_limits(stores: list[Database]) -> None:
    booked: list[tuple[str, float]] = []
    limiters = [RateLimiter(shared=RecordedPace(store, booked)) for store in stores]
    # 120 readers, a message each, and 5 chats that hear 6 times, message k to chat h from
    # worker (h + k) % 3: left to themselves, two workers would write to one chat at once.
    # Each round of the hot chats comes with a quarter of the readers (over a second's
    # worth of sends in all), so that no worker's senders all wait on hot chats at once.
    queues: list[list[int]] = [[] for _ in range(WORKERS)]
    for k in range(HOT_MESSAGES):
        for h in range(HOT_CHATS):
            queues[(h + k) % WORKERS].append(HOT + h)
        for n in range(k * READERS // HOT_MESSAGES, (k + 1) * READERS // HOT_MESSAGES):
            queues[n % WORKERS].append(READER + n)

    async def worker(tg: FakeTelegram, limiter: RateLimiter, chats: list[int]) -> None:
        async with ExtBot(tg.token, base_url=tg.base_url,
                          rate_limiter=BotRateLimiter(limiter)) as bot:
            async def sender() -> None:
                while chats:
                    chat = chats.pop(0)
                    await send_html(bot, chat, f"message to {chat}")

            await asyncio.gather(*(sender() for _ in range(SENDERS)))

    async def play(tg: FakeTelegram) -> None:
        await asyncio.gather(*(worker(tg, limiter, queue)
                               for limiter, queue in zip(limiters, queues, strict=True)))

    with FakeTelegram() as tg:  # Telegram's limits: 30/s in all, 1/s per chat
        asyncio.run(play(tg))
        sends = accepted_sends(tg)
        assert tg.rate_limited == [] and tg.too_many == 0
    total = READERS + HOT_CHATS * HOT_MESSAGES
    assert len(sends) == len(booked) == total
    # The slots the three booked, as one: a thirtieth of a second apart, so never more than
    # 30 in a second, and a chat's a second apart whichever worker booked them.
    slots = sorted(at for _, at in booked)
    assert min(b - a for a, b in itertools.pairwise(slots)) >= 1 / LIMIT - EPSILON
    assert most_in_a_window(slots, 1.0 - EPSILON) <= LIMIT  # a second, to a float's precision
    for h in range(HOT_CHATS):
        mine = sorted(at for chat, at in booked if chat == chat_lane(str(HOT + h)))
        assert len(mine) == HOT_MESSAGES
        assert min(b - a for a, b in itertools.pairwise(mine)) >= 1.0 - EPSILON
    # What the fake saw: the lane full, at 30 a second in all, not 30 per worker.
    times = [at for at, _ in sends]
    assert times[-1] - times[0] >= (total - 1) / LIMIT - CHAT_TOLERANCE
    for h in range(HOT_CHATS):
        mine = [at for at, chat in sends if chat == HOT + h]
        assert min(b - a for a, b in itertools.pairwise(mine)) >= 1.0 - CHAT_TOLERANCE


def test_a_groups_spacing_holds_across_workers(stores: list[Database]) -> None:
    # A group is a chat too: its spacing is at least a private chat's (here 0.2 s).
    limiters = [RateLimiter(per_chat=5.0, group_per_minute=60 / SPACING,
                            shared=SharedPace(store)) for store in stores]

    async def worker(tg: FakeTelegram, limiter: RateLimiter, room: int) -> None:
        async with ExtBot(tg.token, base_url=tg.base_url,
                          rate_limiter=BotRateLimiter(limiter)) as bot:
            for n in range(3):
                await send_html(bot, room, f"part {n}")

    async def play(tg: FakeTelegram, room: int) -> None:
        await asyncio.gather(*(worker(tg, limiter, room) for limiter in limiters))

    with FakeTelegram(group_limit=2, group_window=2 * SPACING) as tg:
        room = tg.add_chat("supergroup", title="Rédaction")
        asyncio.run(play(tg, room))
        times = [at for at, chat in accepted_sends(tg) if chat == room]
        assert tg.rate_limited == []
    assert len(times) == 3 * WORKERS
    # Counted from Telegram's answer to the last, whichever worker sent it (the fake's
    # bucket would let two through at once: the spacing is ours).
    assert min(b - a for a, b in itertools.pairwise(times)) >= SPACING - 0.02


def test_a_429_one_worker_sees_holds_back_the_others(stores: list[Database]) -> None:
    first, second = (RateLimiter.from_settings(TelegramSettings(), store)
                     for store in stores[:2])
    counted = sent_429s()

    async def play(tg: FakeTelegram) -> None:
        async with ExtBot(tg.token, base_url=tg.base_url,
                          rate_limiter=BotRateLimiter(first)) as one, \
                ExtBot(tg.token, base_url=tg.base_url,
                       rate_limiter=BotRateLimiter(second)) as other:
            tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
            with pytest.raises(RetryAfter):
                await send_html(one, 1001, "refused")
            assert first.shared is not None and first.shared.booker is not None
            await first.shared.booker  # the hold is in the store once its booking ends
            await send_html(other, 2002, "after the hold")

    with FakeTelegram() as tg:
        asyncio.run(play(tg))
        [refused] = tg.rate_limited
        [(sent_at, chat)] = accepted_sends(tg)
    assert chat == 2002
    assert sent_at - refused["at"] >= 2.0 - CHAT_TOLERANCE
    assert sent_429s() - counted == 1


def test_a_429_through_the_outboxs_channel_is_counted_once_and_waited_out(
    stores: list[Database]
) -> None:
    limiter = RateLimiter.from_settings(TelegramSettings(), stores[0])
    counted = sent_429s()

    async def play(tg: FakeTelegram) -> str:
        async with ExtBot(tg.token, base_url=tg.base_url,
                          rate_limiter=BotRateLimiter(limiter)) as bot:
            channel = TelegramChannel(bot, limiter, bot_paced=True)  # as `channel_for`
            tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
            return await channel.send("1001", "bonjour", key="k#0")

    with FakeTelegram() as tg:
        message_id = asyncio.run(play(tg))
        [delivered] = tg.messages_to(1001)
        assert len(tg.rate_limited) == 1
    assert message_id == str(delivered["message_id"])
    assert sent_429s() - counted == 1  # the bot's limiter counts it, the channel does not


def test_the_chats_rows_long_past_are_pruned_as_the_limiter_goes(
    stores: list[Database]
) -> None:
    now = [time.time()]
    pace = SharedPace(stores[0], clock=lambda: now[0])
    lane = Lane(FREE, 1 / 30)

    async def play() -> None:
        await pace.take(Send(lane, Lane(chat_lane("1"), 1.0)))
        now[0] += PRUNE_AFTER + PRUNE_EVERY  # much later (the slots are then long past)
        await pace.take(Send(lane, Lane(chat_lane("2"), 1.0)))
        assert pace.pruning is not None
        assert await pace.pruning == 1

    asyncio.run(play())
    assert set(next_slots(stores[0], [FREE, chat_lane("1"), chat_lane("2")])) == {
        FREE, chat_lane("2")}


def test_a_slot_woken_up_to_too_late_is_booked_again(stores: list[Database]) -> None:
    pace = SharedPace(stores[0])
    lane = Lane(FREE, 1 / 30)
    start = time.time()
    hold(stores[0], [Hold(FREE, start + 0.1)])  # the lane's next slot: 0.1 s from now

    async def stall() -> None:  # the event loop busy over the slot, as under load
        await asyncio.sleep(0.05)
        time.sleep(0.3)

    async def play() -> float:
        stalled = asyncio.create_task(stall())
        await pace.take(Send(lane, Lane(chat_lane("1001"), 1.0)))
        sent = time.time()
        await stalled
        return sent

    sent = asyncio.run(play())
    assert pace.rebooked == 1
    # The late slot was left empty and another booked; the chat's own booking of the slot
    # given up did not make it wait its second.
    assert sent - start < 0.9
    rows = next_slots(stores[0], [FREE, chat_lane("1001")])
    assert rows[FREE] >= start + 0.3 + 1 / 30
    assert rows[chat_lane("1001")] >= start + 1.3

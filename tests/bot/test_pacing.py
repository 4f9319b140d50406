"""Pacing by kind of chat (issue #12), through the real python-telegram-bot on the fake Bot
API: a long digest to a group is paced at the group's spacing and arrives whole, in order,
with no 429; a forum topic's parts count against its group; private chats keep their
one-a-second pace; with paid broadcasts the outbox's sends carry the flag.

The fake enforces its limits with small numbers (a group takes a burst of 2, then one
message every `SPACING` seconds) and our limiter is built with the matching spacing, so
the tests run in seconds; the assertions are on the send times the fake recorded, not on
durations measured here.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from telegram.ext import ExtBot

from briefing.bot.channel import (
    BotRateLimiter,
    RateLimiter,
    TelegramChannel,
    is_group,
    send_html,
)
from briefing.config import Settings, TelegramSettings, load_settings
from briefing.service.digests import schedule_digests
from briefing.service.outbox import DeliveryReport, deliver_pending
from briefing.store.db import Database
from briefing.store.models import SENT, DeliveryRow
from briefing.store.subscribers import address, upsert
from tests.bot.conftest import bot_settings
from tests.fakes.telegram_server import FakeTelegram
from tests.service.test_digests import add_story

SPACING = 0.4  # seconds between two messages to one group, in these tests
PER_CHAT = 5.0  # messages a second to one private chat, in these tests
TOLERANCE = 0.08  # arrival jitter on a shared machine (the fake itself allows 0.05)
# A group's spacing runs from Telegram's answer to its last message, so its sends arrive
# at least that far apart; this only covers the two clocks (the fake's, the limiter's).
GROUP_TOLERANCE = 0.02
PART_LIMIT = 200  # UTF-16 units per message: eight short stories make a digest of many parts
STORIES = 8  # the default service.digest_max_stories


def paced_limiter(**changes: object) -> RateLimiter:
    """The product's limiter with the tests' small numbers: 30/s overall, `PER_CHAT` a
    second per private chat, one message every `SPACING` seconds per group."""
    options: dict[str, object] = {"overall": 30.0, "per_chat": PER_CHAT,
                                  "group_per_minute": 60.0 / SPACING, **changes}
    return RateLimiter(**options)  # type: ignore[arg-type]


def fake() -> FakeTelegram:
    """A fake Bot API whose groups take 2 messages at once, then one every `SPACING` s."""
    return FakeTelegram(per_chat_rate=PER_CHAT, group_limit=2, group_window=2 * SPACING)


def stories(db: Database, now: datetime) -> None:
    for i in range(STORIES):
        add_story(db, f"story-{i}", 1, now - timedelta(minutes=10 * (i + 1)))


def due(db: Database, target: str, kind: str, now: datetime) -> None:
    """A French target whose digest is due at `now`."""
    upsert(db, target, kind=kind, languages="fr", digest_time=now.strftime("%H:%M"),
           timezone="UTC")


async def deliver(tg: FakeTelegram, db: Database, settings: Settings, limiter: RateLimiter,
                  now: datetime) -> DeliveryReport:
    """Queue the due digests and send them as the bot does: one `BotRateLimiter` for every
    request of the bot, the outbox's channel on top of it (`channel_for`)."""
    assert schedule_digests(db, now, settings) > 0
    async with ExtBot(tg.token, base_url=tg.base_url,
                      rate_limiter=BotRateLimiter(limiter)) as bot:
        channel = TelegramChannel(bot, limiter, bot_paced=True, limit=PART_LIMIT)
        return await deliver_pending(db, channel, now, settings)


def send_times(tg: FakeTelegram, chat: int) -> list[float]:
    """When the fake received each accepted `sendMessage` to `chat` (any thread)."""
    return sorted(r.at for r in tg.requests_for("sendMessage")
                  if r.params.get("chat_id") == chat and r.status == 200)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def headlines_in_order(texts: list[str]) -> list[int]:
    """The story numbers in the order the messages show their headlines."""
    shown = "\n".join(texts)
    found = [(shown.find(f"story-{i} (fr)"), i) for i in range(STORIES)]
    return [i for at, i in sorted(found) if at >= 0]


def sent_rows(db: Database) -> list[DeliveryRow]:
    with db.session() as session:
        rows = list(session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)))
        session.expunge_all()
        return rows


# --------------------------------------------------------------------------- kinds of chat


def test_the_kind_of_chat_comes_from_its_id() -> None:
    assert not is_group("1001") and not is_group("a")
    assert is_group("-4000000001")  # a basic group
    assert is_group("-1002000000001")  # a supergroup or a channel
    assert is_group("-1002000000001:7")  # a forum topic is in its group
    assert is_group("@lefil")  # a public channel by its username


def test_the_defaults_keep_telegrams_pace_and_follow_the_settings() -> None:
    limiter = RateLimiter()
    assert limiter.overall_gap == pytest.approx(1 / 30) and limiter.chat_gap == 1.0
    assert limiter.group_gap == 3.0 and limiter.gap("-100123:4") == 3.0
    assert limiter.gap("1001") == 1.0 and not limiter.paid_broadcast
    configured = RateLimiter.from_settings(TelegramSettings(
        group_messages_per_minute=12, allow_paid_broadcast=True, paid_messages_per_second=500))
    assert configured.group_gap == 5.0 and configured.paid_gap == pytest.approx(1 / 500)
    assert configured.paid_broadcast and configured.chat_gap == 1.0
    assert configured.overall_gap == pytest.approx(1 / 30)
    # Above 60 a minute, a group is still a chat: one message a second at most.
    assert RateLimiter(group_per_minute=600).group_gap == 1.0


@pytest.mark.parametrize(("key", "value"), [
    ("group_messages_per_minute", "0"), ("group_messages_per_minute", "61"),
    ("paid_messages_per_second", "29"), ("paid_messages_per_second", "10001"),
    ("allow_paid_broadcast", "maybe"),
])
def test_the_pacing_settings_are_range_checked(key: str, value: str) -> None:
    from briefing.errors import ConfigError

    with pytest.raises(ConfigError, match=f"telegram.{key}"):
        load_settings(env={f"BRIEFING_TELEGRAM__{key.upper()}": value})


def test_a_topics_address_is_paced_as_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:  # the limiter's sleeps move a clock of our own
        clock[0] += seconds
        await real_sleep(0)

    monkeypatch.setattr("briefing.bot.channel.time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr("briefing.bot.channel.asyncio.sleep", sleep)
    limiter = RateLimiter()  # Telegram's pace: 3 s per group, 1 s per chat, 30/s in all
    booked: list[float] = []

    async def book() -> None:
        for target in ("-1002000000001:7", "-1002000000001:9", "-1002000000001", "1001",
                       "1001"):
            await limiter.wait(target)
            booked.append(clock[0] - 1000.0)

    asyncio.run(book())
    # Two topics and the General topic of one forum: 3 s apart, as one group; a private
    # chat after them: the next slot of the lane, then a second later.
    assert booked == [0.0, 3.0, 6.0, pytest.approx(6.0 + 1 / 30), pytest.approx(7.0 + 1 / 30)]


def test_a_groups_spacing_runs_from_telegrams_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        clock[0] += seconds
        await real_sleep(0)

    monkeypatch.setattr("briefing.bot.channel.time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr("briefing.bot.channel.asyncio.sleep", sleep)
    limiter = RateLimiter()
    booked: list[float] = []

    async def book() -> None:
        for chat in ("-4000000001", "1001"):
            for _ in range(2):
                start = clock[0]
                await limiter.wait(chat)
                booked.append(clock[0] - start)
                clock[0] += 0.7  # a slow request: Telegram answers 0.7 s after the slot
                limiter.answered(chat)

    asyncio.run(book())
    # The group's next message waits 3 s from the answer; a private chat's second counts
    # from its slot, as it always has.
    assert booked == [0.0, 3.0, 0.0, pytest.approx(0.3)]


def test_a_groups_spacing_never_holds_back_the_other_chats() -> None:
    # Booked on the bot-wide lane together with its spacing, a group's next message would
    # push every later send of the bot behind it; it must wait on its own.
    limiter = RateLimiter(overall=100.0, per_chat=50.0, group_per_minute=120.0)  # 0.5 s
    group: list[float] = []
    private: list[float] = []

    async def to_group() -> None:
        for _ in range(3):
            await limiter.wait("-1002000000001")
            group.append(asyncio.get_running_loop().time())

    async def to_readers() -> None:
        await asyncio.sleep(0.01)  # once the group has booked its second message
        for chat in range(1, 11):
            await limiter.wait(str(chat))
            private.append(asyncio.get_running_loop().time())

    async def play() -> None:
        await asyncio.gather(to_group(), to_readers())

    asyncio.run(play())
    assert min(gaps(group)) >= 0.5 - 0.02
    assert private[-1] < group[1]  # ten readers served while the group waited its turn


# --------------------------------------------------------------------------- through PTB


def test_a_long_digest_to_a_group_is_paced_whole_and_in_order(
    db: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    stories(db, now)
    with fake() as tg:
        group = tg.add_chat("supergroup", title="Rédaction")
        due(db, str(group), "supergroup", now)
        report = asyncio.run(deliver(tg, db, bot_settings(tg, tmp_path), paced_limiter(), now))
        messages = sorted(tg.messages_to(group), key=lambda m: m["message_id"])
        times = send_times(tg, group)
        assert tg.rate_limited == [] and tg.too_many == 0
    [row] = sent_rows(db)
    assert report.sent == 1 and row.state == SENT
    assert len(messages) == row.sent_parts >= 5  # a digest of many parts, every one sent
    assert row.message_ids == [str(m["message_id"]) for m in messages]
    assert headlines_in_order([m["text"] for m in messages]) == list(range(STORIES))
    assert len(times) == len(messages)
    # Paced at the group's spacing, not the private chats' 0.2 s nor as fast as it can go.
    assert min(gaps(times)) >= SPACING - GROUP_TOLERANCE, gaps(times)


def test_a_forum_topic_counts_against_its_group(db: Database, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    stories(db, now)
    with fake() as tg:
        forum = tg.add_chat("supergroup", title="Desk", is_forum=True)
        sport, economy = tg.create_topic(forum, "Sport"), tg.create_topic(forum, "Économie")
        due(db, address(forum, sport), "supergroup", now)
        due(db, address(forum, economy), "supergroup", now)
        # Both topics' digests go out at once (service.delivery_concurrency): their parts
        # share the group's pace.
        report = asyncio.run(deliver(tg, db, bot_settings(tg, tmp_path), paced_limiter(), now))
        in_sport, in_economy = tg.messages_in(forum, sport), tg.messages_in(forum, economy)
        times = send_times(tg, forum)
        assert tg.rate_limited == [] and tg.too_many == 0
    rows = sent_rows(db)
    assert report.sent == 2 and [r.sent_parts for r in rows] == [len(in_sport), len(in_economy)]
    for posted in (in_sport, in_economy):
        posted.sort(key=lambda m: m["message_id"])
        assert headlines_in_order([m["text"] for m in posted]) == list(range(STORIES))
    assert len(times) == len(in_sport) + len(in_economy) >= 10
    assert min(gaps(times)) >= SPACING - GROUP_TOLERANCE, gaps(times)


def test_private_chats_keep_their_pace(db: Database, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    stories(db, now)
    with fake() as tg:
        tg.group_limit = 0  # no group here: only the private chats' limit is enforced
        readers = [1001, 2002]
        for reader in readers:
            due(db, str(reader), "private", now)
        report = asyncio.run(deliver(tg, db, bot_settings(tg, tmp_path), paced_limiter(), now))
        times = {reader: send_times(tg, reader) for reader in readers}
        assert tg.rate_limited == [] and tg.too_many == 0
    assert report.sent == 2
    for reader in readers:
        between = gaps(times[reader])
        assert len(between) >= 4
        # One message every 1 / PER_CHAT seconds, and never the groups' spacing.
        assert min(between) >= 1 / PER_CHAT - TOLERANCE, between
        assert sorted(between)[len(between) // 2] < SPACING - TOLERANCE, between


def test_with_paid_broadcasts_the_outboxs_sends_carry_the_flag(
    db: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    add_story(db, "story-0", 1, now - timedelta(minutes=10))
    readers = list(range(5001, 5041))
    for reader in readers:
        due(db, str(reader), "private", now)
    limiter = paced_limiter(paid_broadcast=True)

    async def play(tg: FakeTelegram) -> DeliveryReport:
        report = await deliver(tg, db, bot_settings(tg, tmp_path), limiter, now)
        async with ExtBot(tg.token, base_url=tg.base_url,
                          rate_limiter=BotRateLimiter(limiter)) as bot:
            await send_html(bot, 9009, "Une réponse")  # a reply, not a broadcast
        return report

    with fake() as tg:
        report = asyncio.run(play(tg))
        digests = [m for m in tg.sent if m["chat_id"] in readers]
        [reply] = tg.messages_to(9009)
        assert tg.rate_limited == [] and tg.too_many == 0
    assert report.sent == len(readers) == len(digests)
    assert all(m["allow_paid_broadcast"] is True for m in digests)
    assert reply["allow_paid_broadcast"] is None  # replies are not paid for
    assert limiter.next_paid > 0.0  # the digests went on the paid lane


def test_the_paid_lane_is_paced_apart_from_the_free_one(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RateLimiter(overall=10.0, per_chat=1.0, paid_overall=100.0)
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds: float) -> None:
        delays.append(seconds)
        await real_sleep(0)

    async def book() -> None:
        for chat in ("1", "2", "3"):
            await limiter.wait(chat, paid=True)
        await limiter.wait("4")  # a free send: its own lane, not behind the paid ones

    monkeypatch.setattr("briefing.bot.channel.asyncio.sleep", record)
    asyncio.run(book())
    # Paid sends a hundredth of a second apart; the free lane was still open.
    assert delays == [pytest.approx(0.01, abs=0.005), pytest.approx(0.02, abs=0.005)]


def test_without_paid_broadcasts_no_send_carries_the_flag(
    db: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    add_story(db, "story-0", 1, now - timedelta(minutes=10))
    due(db, "1001", "private", now)
    with fake() as tg:
        asyncio.run(deliver(tg, db, bot_settings(tg, tmp_path), paced_limiter(), now))
        [digest] = tg.messages_to(1001)
    assert digest["allow_paid_broadcast"] is None

"""Self-test of the fake Telegram Bot API, driven by the real ``python-telegram-bot``."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    File,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ChatMemberStatus
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fakes.telegram_html import HTMLError, parse_html, utf16_len
from tests.fakes.telegram_server import (
    DEFAULT_OWNER_ID,
    FILE_DOWNLOAD,
    INVALID_FILE_ID,
    MAX_DOWNLOAD_BYTES,
    MIGRATED,
    WEBHOOK_ACTIVE,
    FakeTelegram,
)

T = TypeVar("T")

# PTB 22 warns whenever RetryAfter.retry_after is read as an int (PTB_TIMEDELTA unset).
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """A started fake without rate limits, stopped after the test."""
    with FakeTelegram(enforce_rates=False) as server:
        yield server


@pytest.fixture
def limited() -> Iterator[FakeTelegram]:
    """A started fake enforcing the default rate limits."""
    with FakeTelegram() as server:
        yield server


def with_bot(fake: FakeTelegram, action: Callable[[Bot], Awaitable[T]]) -> T:
    """Run ``action(bot)`` with a real, initialised PTB bot pointed at the fake."""

    async def main() -> T:
        async with Bot(fake.token, base_url=fake.base_url,
                       base_file_url=fake.base_file_url) as bot:
            return await action(bot)

    return asyncio.run(main())


def drain(fake: FakeTelegram, **kwargs: Any) -> tuple[Update, ...]:
    """Fetch the pending updates (``get_updates(timeout=0, **kwargs)``) and confirm them."""

    async def fetch(bot: Bot) -> tuple[Update, ...]:
        updates = await bot.get_updates(timeout=0, **kwargs)
        if updates:
            await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
        return updates

    return with_bot(fake, fetch)


def retry_seconds(exc: RetryAfter) -> float:
    """``exc.retry_after`` in seconds, whatever ``PTB_TIMEDELTA`` says."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# --------------------------------------------------------------------------- basic methods


def test_get_me(fake: FakeTelegram) -> None:
    me = with_bot(fake, lambda bot: bot.get_me())
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        123456,
        True,
        "Briefing",
        "briefing_test_bot",
    )
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/bot"
    assert fake.base_file_url == f"http://127.0.0.1:{fake.port}/file/bot"


def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    async def main() -> None:
        async with Bot("999:wrong", base_url=fake.base_url) as bot:
            await bot.get_me()

    with pytest.raises(InvalidToken):
        asyncio.run(main())
    assert fake.requests[-1].status == 401


def test_unknown_method_is_404_and_raw_wire_format(fake: FakeTelegram) -> None:
    url = f"{fake.base_url}{fake.token}"
    unknown = httpx.post(f"{url}/sendCarrierPigeon", data={"chat_id": "1"})
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    # Method names are case-insensitive; JSON bodies work as well as form data.
    sent = httpx.post(f"{url}/SENDMESSAGE", json={"chat_id": 7, "text": "salut"})
    assert sent.status_code == 200
    assert sent.json()["ok"] is True
    assert sent.json()["result"]["text"] == "salut"
    assert fake.requests_for("sendMessage")[-1].params == {"chat_id": 7, "text": "salut"}
    # Multipart bodies (PTB uses them for uploads) and query strings are understood too.
    markup = '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}'
    multipart = httpx.post(
        f"{url}/sendMessage?chat_id=8",
        data={"text": "<b>fort</b>", "parse_mode": "HTML", "reply_markup": markup},
        files={"unused": ("f.txt", b"data")},
    )
    assert multipart.json()["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    assert fake.sent[-1]["chat_id"] == 8
    assert fake.sent[-1]["reply_markup"] == {
        "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]
    }


def test_send_message_with_valid_html_is_recorded(fake: FakeTelegram) -> None:
    text = '<b>Budget</b> voté &amp; <a href="https://ex.fr/?a=1&amp;b=2">lien</a> 😀'
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Plus", callback_data="more:1")]])
    message = with_bot(
        fake,
        lambda bot: bot.send_message(
            42,
            text,
            parse_mode="HTML",
            reply_markup=keyboard,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
    )
    assert message.message_id == 1
    assert message.text == "Budget voté & lien 😀"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 6),
        ("text_link", 14, 4),
    ]
    assert message.entities[1].url == "https://ex.fr/?a=1&b=2"
    [record] = fake.sent
    assert record["chat_id"] == 42
    assert record["text"] == text
    assert record["plain_text"] == "Budget voté & lien 😀"
    assert record["parse_mode"] == "HTML"
    assert record["disable_web_page_preview"] is True
    assert record["reply_markup"] == {
        "inline_keyboard": [[{"text": "Plus", "callback_data": "more:1"}]]
    }
    assert record["reply_to_message_id"] is None
    assert fake.messages_to(42) == [record]
    assert fake.messages_to(43) == []


def test_message_ids_increase_per_chat(fake: FakeTelegram) -> None:
    async def send(bot: Bot) -> list[int]:
        ids = []
        for chat in (1, 1, 2, 1):
            ids.append((await bot.send_message(chat, "x")).message_id)
        return ids

    assert with_bot(fake, send) == [1, 2, 1, 3]


@pytest.mark.parametrize("text", ["a < b", "<b>x", "<script>x</script>", "Tom & Jerry"])
def test_invalid_html_is_a_bad_request(fake: FakeTelegram, text: str) -> None:
    with pytest.raises(BadRequest) as info:
        with_bot(fake, lambda bot: bot.send_message(42, text, parse_mode="HTML"))
    # PTB strips "Bad Request: " and capitalises the rest, hence lower().
    assert "can't parse entities" in info.value.message.lower()
    assert fake.sent == []


def test_message_length_is_counted_in_utf16_after_parsing(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="too long"):
        with_bot(fake, lambda bot: bot.send_message(1, "x" * 4097))
    with pytest.raises(BadRequest, match="too long"):  # 2,049 emoji are 4,098 UTF-16 units
        with_bot(fake, lambda bot: bot.send_message(2, "😀" * 2049))
    with_bot(fake, lambda bot: bot.send_message(3, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML"))
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        with_bot(fake, lambda bot: bot.send_message(4, "  <b> </b>\n", parse_mode="HTML"))
    assert [m["chat_id"] for m in fake.sent] == [3]


# --------------------------------------------------------------------------- limits and errors


def test_two_quick_sends_to_one_chat_hit_the_rate_limit(limited: FakeTelegram) -> None:
    async def twice(bot: Bot) -> None:
        await bot.send_message(42, "un")
        await bot.send_message(42, "deux")

    with pytest.raises(RetryAfter) as info:
        with_bot(limited, twice)
    assert retry_seconds(info.value) >= 1
    assert [m["text"] for m in limited.sent] == ["un"]
    assert limited.too_many == 1
    last = limited.requests_for("sendMessage")[-1]
    assert last.status == 429


def test_global_rate_limit_spans_chats() -> None:
    with FakeTelegram(global_rate=2.0, per_chat_rate=100.0) as fake:

        async def burst(bot: Bot) -> None:
            for chat in (1, 2, 3):
                await bot.send_message(chat, "x")

        with pytest.raises(RetryAfter):
            with_bot(fake, burst)
        assert [m["chat_id"] for m in fake.sent] == [1, 2]


def test_rate_limit_recovers_after_the_interval() -> None:
    with FakeTelegram(per_chat_rate=10.0) as fake:

        async def paced(bot: Bot) -> None:
            await bot.send_message(5, "a")
            await asyncio.sleep(0.12)
            await bot.send_message(5, "b")

        with_bot(fake, paced)
        assert [m["text"] for m in fake.sent] == ["a", "b"]
        assert fake.too_many == 0


def test_blocked_chat_is_forbidden(fake: FakeTelegram) -> None:
    fake.block(42)
    with pytest.raises(Forbidden, match="blocked by the user"):
        with_bot(fake, lambda bot: bot.send_message(42, "x"))
    fake.user_message(42, "/start")  # writing to the bot unblocks it
    with_bot(fake, lambda bot: bot.send_message(42, "x"))
    assert len(fake.sent) == 1


def test_unknown_chat_is_not_found(fake: FakeTelegram) -> None:
    fake.forget(42)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        with_bot(fake, lambda bot: bot.send_message(42, "x"))


def test_a_bot_cannot_write_first_when_private_chats_need_a_start(fake: FakeTelegram) -> None:
    with_bot(fake, lambda bot: bot.send_message(42, "x"))  # allowed by default
    fake.private_needs_start = True
    with pytest.raises(Forbidden, match="can't initiate conversation with a user"):
        with_bot(fake, lambda bot: bot.send_message(43, "x"))
    fake.user_message(43, "/start")
    with_bot(fake, lambda bot: bot.send_message(43, "x"))
    assert [m["chat_id"] for m in fake.sent] == [42, 43]


def test_scripted_failures(fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    fake.fail_next("sendMessage", 0, "connection dropped")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        with_bot(fake, lambda bot: bot.send_message(1, "x"))
    with pytest.raises(RetryAfter) as info:
        with_bot(fake, lambda bot: bot.send_message(1, "x"))
    assert retry_seconds(info.value) == 3
    with pytest.raises(NetworkError):
        with_bot(fake, lambda bot: bot.send_message(1, "x"))
    with_bot(fake, lambda bot: bot.send_message(1, "x"))
    assert [r.status for r in fake.requests_for("sendMessage")] == [500, 429, 0, 200]
    assert len(fake.sent) == 1
    assert fake.too_many == 1


def test_callback_data_over_64_bytes_is_refused(fake: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        with_bot(fake, lambda bot: bot.send_message(1, "x", reply_markup=keyboard))


# --------------------------------------------------------------------------- commands, updates


def test_set_and_get_my_commands(fake: FakeTelegram) -> None:
    commands = [BotCommand("start", "Commencer"), BotCommand("brief", "Le résumé du jour")]

    async def roundtrip(bot: Bot) -> tuple[BotCommand, ...]:
        await bot.set_my_commands(commands)
        return await bot.get_my_commands()

    assert with_bot(fake, roundtrip) == tuple(commands)
    assert fake.commands == [
        {"command": "start", "description": "Commencer"},
        {"command": "brief", "description": "Le résumé du jour"},
    ]
    with pytest.raises(BadRequest):
        with_bot(fake, lambda bot: bot.set_my_commands([BotCommand("Bad-Name", "x")]))


def test_get_updates_blocks_until_an_update_is_queued(fake: FakeTelegram) -> None:
    timer = threading.Timer(0.3, fake.user_message, args=(7, "/brief demain"))
    timer.start()
    started = time.monotonic()
    updates = with_bot(fake, lambda bot: bot.get_updates(timeout=5))
    elapsed = time.monotonic() - started
    timer.join()
    assert 0.2 < elapsed < 3
    [update] = updates
    assert update.message is not None
    assert update.message.text == "/brief demain"
    assert update.message.chat.type == "private"
    assert update.message.from_user is not None
    assert update.message.from_user.language_code == "fr"
    assert update.message.parse_entities() == {update.message.entities[0]: "/brief"}
    # Updates stay queued until confirmed by a higher offset.
    again = with_bot(fake, lambda bot: bot.get_updates(timeout=0))
    assert [u.update_id for u in again] == [update.update_id]
    confirmed = with_bot(fake, lambda bot: bot.get_updates(offset=update.update_id + 1))
    assert confirmed == ()
    assert fake.pending_updates == []


def test_get_updates_returns_empty_after_timeout_and_wakes_on_stop() -> None:
    fake = FakeTelegram().start()
    assert with_bot(fake, lambda bot: bot.get_updates(timeout=dtm.timedelta(seconds=0.2))) == ()
    url = f"{fake.base_url}{fake.token}/getUpdates"
    worker = threading.Thread(target=httpx.post, args=(url,), kwargs={"data": {"timeout": "30"}})
    worker.start()
    deadline = time.monotonic() + 5
    while not any(r.status is None for r in fake.requests_for("getUpdates")):
        assert time.monotonic() < deadline, "the long poll never arrived"
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert time.monotonic() - started < 2


def test_press_button_answer_and_edit(fake: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Lire", callback_data="read:1")]])

    async def flow(bot: Bot) -> str:
        sent = await bot.send_message(9, "Titre", reply_markup=keyboard)
        fake.press_button(9, sent.message_id, "read:1")
        [update] = await bot.get_updates(timeout=1)
        query = update.callback_query
        assert query is not None and query.data == "read:1" and query.message is not None
        await bot.answer_callback_query(query.id, text="ok")
        edited = await bot.edit_message_text("<i>Lu</i>", 9, sent.message_id, parse_mode="HTML")
        assert not isinstance(edited, bool)
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await bot.edit_message_text("<i>Lu</i>", 9, sent.message_id, parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(query.id)
        return edited.text or ""

    assert with_bot(fake, flow) == "Lu"
    assert fake.callback_answers[0]["text"] == "ok"
    assert fake.sent[0]["plain_text"] == "Lu"
    assert fake.sent[0]["reply_markup"] is None
    assert [e["text"] for e in fake.edits] == ["<i>Lu</i>"]
    with pytest.raises(ValueError, match="no button"):
        fake.press_button(9, 1, "read:2")


def test_wait_for_messages_times_out_with_a_clear_error(fake: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="0 of 1 messages to chat 3"):
        fake.wait_for_messages(3, 1, timeout=0.1)


def test_application_answers_start_by_polling(limited: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("hi")

    async def main() -> list[dict[str, Any]]:
        app = Application.builder().token(limited.token).base_url(limited.base_url).build()
        app.add_handler(CommandHandler("start", start))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            limited.user_message(42, "/start")
            messages = await asyncio.to_thread(limited.wait_for_messages, 42, 1, 5.0)
            await app.updater.stop()
            await app.stop()
        return messages

    started = time.monotonic()
    [reply] = asyncio.run(main())
    assert time.monotonic() - started < 8
    assert reply["text"] == "hi"
    assert limited.pending_updates == []  # the update was confirmed on stop


# --------------------------------------------------------------------------- groups, channels

ANA, BOB = 1001, 2002


def test_chats_of_every_type_have_telegram_ids_and_answer_get_chat(fake: FakeTelegram) -> None:
    group = fake.add_chat("group", title="Rédaction")
    forum = fake.add_chat("supergroup", title="Forum", username="forum_info", is_forum=True)
    channel = fake.add_chat("channel", title="Le Fil", username="le_fil_info")
    private = fake.add_chat("private", chat_id=ANA, first_name="Ana")
    assert group < 0 and not str(group).startswith("-100")
    assert str(forum).startswith("-100") and str(channel).startswith("-100")
    assert private == ANA
    with pytest.raises(ValueError, match="not a group id"):
        fake.add_chat("group", chat_id=-1001234567890)
    with pytest.raises(ValueError, match="not a channel id"):
        fake.add_chat("channel", chat_id=-12345)
    with pytest.raises(ValueError, match="forums"):
        fake.add_chat("group", is_forum=True)

    async def look(bot: Bot) -> list[Any]:
        return [
            await bot.get_chat(group),
            await bot.get_chat(forum),
            await bot.get_chat("@le_fil_info"),
            await bot.get_chat(ANA),
        ]

    got = with_bot(fake, look)
    assert [(c.id, c.type, c.title) for c in got[:3]] == [
        (group, "group", "Rédaction"),
        (forum, "supergroup", "Forum"),
        (channel, "channel", "Le Fil"),
    ]
    assert got[1].is_forum is True and got[1].username == "forum_info"
    assert (got[3].type, got[3].first_name) == ("private", "Ana")
    # A chat never created nor seen is unknown, as are unknown usernames.
    for unknown in (-4009999999, "@nobody_here", 777):
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            with_bot(fake, partial(Bot.get_chat, chat_id=unknown))
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        with_bot(fake, lambda bot: bot.get_chat_member(-4009999999, ANA))
    # "@username" works for sending too; the message is recorded under the numeric id.
    with_bot(fake, lambda bot: bot.send_message("@le_fil_info", "Édition du soir"))
    assert [m["chat_type"] for m in fake.messages_to(channel)] == ["channel"]


def test_get_chat_member_answers_the_tracked_status(fake: FakeTelegram) -> None:
    channel = fake.add_chat("channel", bot_rights={"can_post_messages": False})
    group = fake.add_chat("supergroup")
    fake.set_member(group, ANA, "administrator", rights={"can_pin_messages": True},
                    custom_title="Cheffe")
    fake.set_member(group, BOB, "restricted", rights={"can_send_messages": True})
    fake.set_member(group, 3003, "kicked")
    fake.set_member(group, 4004, "left")
    fake.set_member(group, 5005)  # a plain member
    fake.user_message(6006, "/start")  # known to the bot, never in the group

    async def statuses(bot: Bot) -> dict[int, Any]:
        return {uid: await bot.get_chat_member(group, uid)
                for uid in (DEFAULT_OWNER_ID, ANA, BOB, 3003, 4004, 5005, 6006, fake.bot_id)}

    members = with_bot(fake, statuses)
    assert {uid: m.status for uid, m in members.items()} == {
        DEFAULT_OWNER_ID: ChatMemberStatus.OWNER,
        ANA: ChatMemberStatus.ADMINISTRATOR,
        BOB: ChatMemberStatus.RESTRICTED,
        3003: ChatMemberStatus.BANNED,
        4004: ChatMemberStatus.LEFT,
        5005: ChatMemberStatus.MEMBER,
        6006: ChatMemberStatus.LEFT,
        fake.bot_id: ChatMemberStatus.MEMBER,
    }
    ana = members[ANA]
    assert ana.can_pin_messages is True and ana.custom_title == "Cheffe"
    assert members[BOB].can_send_messages is True
    assert members[BOB].can_send_photos is False
    bot_in_channel = with_bot(fake, lambda bot: bot.get_chat_member(channel, fake.bot_id))
    assert bot_in_channel.status == ChatMemberStatus.ADMINISTRATOR
    assert bot_in_channel.can_post_messages is False  # type: ignore[attr-defined]
    assert bot_in_channel.can_edit_messages is True  # type: ignore[attr-defined]
    with pytest.raises(BadRequest, match=r"(?i)user not found"):
        with_bot(fake, lambda bot: bot.get_chat_member(group, 987654))
    admins = with_bot(fake, lambda bot: bot.get_chat_administrators(group))
    assert {a.user.id for a in admins} == {DEFAULT_OWNER_ID, ANA}
    # owner, Ana, Bob (restricted but in), 5005 and the bot; not the kicked nor the left
    assert with_bot(fake, lambda bot: bot.get_chat_member_count(group)) == 5
    with pytest.raises(ValueError, match="do not apply"):
        fake.set_member(group, ANA, "member", rights={"can_pin_messages": True})
    with pytest.raises(ValueError, match="unknown status"):
        fake.set_member(group, ANA, "banned")


def test_my_chat_member_and_chat_member_updates(fake: FakeTelegram) -> None:
    group = fake.add_chat("supergroup", title="Rédaction", bot_status="left")
    channel = fake.add_chat("channel", bot_status="left")
    fake.update_bot_status(group, "member", by=ANA)  # added by Ana
    fake.update_bot_status(group, "administrator", rights={"can_delete_messages": True})
    fake.update_bot_status(channel, "administrator", rights={"can_post_messages": True})
    fake.update_bot_status(channel, "administrator", rights={"can_post_messages": False})
    fake.update_bot_status(group, "kicked")

    changes = [u.my_chat_member for u in drain(fake)]
    assert all(c is not None for c in changes)
    summary = [
        (c.chat.id, c.from_user.id, c.old_chat_member.status, c.new_chat_member.status)
        for c in changes
        if c is not None
    ]
    assert summary == [
        (group, ANA, "left", "member"),
        (group, DEFAULT_OWNER_ID, "member", "administrator"),
        (channel, DEFAULT_OWNER_ID, "left", "administrator"),
        (channel, DEFAULT_OWNER_ID, "administrator", "administrator"),
        (group, DEFAULT_OWNER_ID, "administrator", "kicked"),
    ]
    demoted = changes[3]
    assert demoted is not None
    assert demoted.difference() == {"can_post_messages": (True, False)}
    assert fake.member(group, fake.bot_id) == {
        "status": "kicked",
        "user": {"id": fake.bot_id, "is_bot": True, "first_name": "Briefing",
                 "username": "briefing_test_bot"},
        "until_date": 0,
    }

    # chat_member: only for an administrator bot that asked for it in allowed_updates.
    fake.update_bot_status(channel, "administrator", rights={"can_post_messages": True})
    drain(fake)
    first = fake.update_member(channel, BOB, "member")
    assert fake.dropped_updates[-1]["update"]["update_id"] == first
    assert "allowed_updates" in fake.dropped_updates[-1]["reason"]
    drain(fake, allowed_updates=["chat_member"])
    assert fake.allowed_updates == ["chat_member"]
    fake.update_member(channel, BOB, "left")
    fake.user_message(ANA, "/start")  # a message is not in allowed_updates any more
    [update] = drain(fake)
    assert update.chat_member is not None
    assert update.chat_member.from_user.id == BOB  # he left by himself
    assert (update.chat_member.old_chat_member.status,
            update.chat_member.new_chat_member.status) == ("member", "left")
    fake.update_bot_status(channel, "member")
    fake.update_member(channel, BOB, "member")
    assert fake.dropped_updates[-1]["reason"] == "the bot is not an administrator of the chat"
    drain(fake, allowed_updates=[])
    assert fake.allowed_updates is None


def test_a_removed_bot_is_forbidden_and_a_channel_needs_post_rights(fake: FakeTelegram) -> None:
    group = fake.add_chat("group")
    supergroup = fake.add_chat("supergroup")
    channel = fake.add_chat("channel")
    restricted = fake.add_chat("supergroup")
    fake.set_member(restricted, fake.bot_id, "restricted", rights={"can_send_photos": True})
    with_bot(fake, lambda bot: bot.send_message(channel, "Une"))
    fake.update_bot_status(group, "kicked")
    fake.update_bot_status(supergroup, "left")

    cases: list[tuple[int | str, type[Exception], str]] = [
        (group, Forbidden, "bot was kicked from the group chat"),
        (supergroup, Forbidden, "bot is not a member of the supergroup chat"),
        (restricted, BadRequest, "not enough rights to send text messages to the chat"),
    ]
    fake.update_bot_status(channel, "administrator", rights={"can_post_messages": False})
    cases.append((channel, BadRequest, "need administrator rights in the channel chat"))
    for chat, error, text in cases:
        with pytest.raises(error) as info:
            with_bot(fake, partial(Bot.send_message, chat_id=chat, text="x"))
        assert text in str(info.value).lower()
    fake.update_bot_status(channel, "left")
    with pytest.raises(Forbidden, match="not a member of the channel chat"):
        with_bot(fake, lambda bot: bot.send_message(channel, "x"))
    with pytest.raises(Forbidden, match="not a member of the channel chat"):
        with_bot(fake, lambda bot: bot.edit_message_text("y", channel, 1))
    fake.update_bot_status(channel, "kicked")
    with pytest.raises(Forbidden, match="kicked from the channel chat"):
        with_bot(fake, lambda bot: bot.get_chat(channel))
    # A kicked bot gets nothing more from the group; once added back it can send again.
    fake.user_message(group, "/ask@briefing_test_bot ?", user_id=ANA)
    assert fake.dropped_updates[-1]["reason"] == "the bot is not in the chat"
    fake.update_bot_status(group, "member")
    with_bot(fake, lambda bot: bot.send_message(group, "Me revoilà"))
    assert [m["plain_text"] for m in fake.messages_to(group)] == ["Me revoilà"]
    assert [m["plain_text"] for m in fake.messages_to(channel)] == ["Une"]


def test_a_migrated_group_raises_chat_migrated_with_the_new_id(fake: FakeTelegram) -> None:
    group = fake.add_chat("group", title="Rédaction")
    fake.set_member(group, ANA, "administrator")
    sent = with_bot(fake, lambda bot: bot.send_message(group, "avant"))
    supergroup = fake.migrate_group(group, user_id=ANA)
    assert str(supergroup).startswith("-100")

    updates = with_bot(fake, lambda bot: bot.get_updates())
    messages = [u.message for u in updates]
    assert [(m.chat.id, m.migrate_to_chat_id, m.migrate_from_chat_id)
            for m in messages if m is not None] == [
        (group, supergroup, None),
        (supergroup, None, group),
    ]
    with pytest.raises(ChatMigrated) as info:
        with_bot(fake, lambda bot: bot.send_message(group, "après"))
    assert info.value.new_chat_id == supergroup
    raw = httpx.post(f"{fake.base_url}{fake.token}/sendMessage",
                     data={"chat_id": str(group), "text": "x"})
    assert raw.status_code == 400
    assert raw.json() == {"ok": False, "error_code": 400, "description": MIGRATED,
                          "parameters": {"migrate_to_chat_id": supergroup}}
    with pytest.raises(ChatMigrated):
        with_bot(fake, lambda bot: bot.edit_message_text("modifié", group, sent.message_id))
    # Everyone moved along, the bot included; the supergroup is a chat like any other.
    member = with_bot(fake, lambda bot: bot.get_chat_member(supergroup, ANA))
    assert member.status == "administrator"
    with_bot(fake, lambda bot: bot.send_message(supergroup, "après"))
    assert [m["plain_text"] for m in fake.messages_to(supergroup)] == ["après"]
    assert fake.chat(group)["migrated_to"] == supergroup
    with pytest.raises(ValueError, match="basic group"):
        fake.migrate_group(group)
    with pytest.raises(ValueError, match="became supergroup"):
        fake.user_message(group, "/ask x", user_id=ANA)


def test_send_message_into_a_forum_topic(fake: FakeTelegram) -> None:
    forum = fake.add_chat("supergroup", title="Forum", is_forum=True)
    sport = fake.create_topic(forum, "Sport")
    culture = fake.create_topic(forum, "Culture", icon_color=0xFFD67E)
    assert 1 < sport < culture

    async def post(bot: Bot) -> list[Any]:
        return [
            await bot.send_message(forum, "But !", message_thread_id=sport),
            await bot.send_message(forum, "Général"),
        ]

    in_topic, general = with_bot(fake, post)
    assert (in_topic.message_thread_id, in_topic.is_topic_message) == (sport, True)
    assert in_topic.reply_to_message is not None
    assert in_topic.reply_to_message.forum_topic_created is not None
    assert in_topic.reply_to_message.forum_topic_created.name == "Sport"
    assert general.message_thread_id is None and not general.is_topic_message
    assert [m["plain_text"] for m in fake.messages_in(forum, sport)] == ["But !"]
    assert [m["plain_text"] for m in fake.messages_in(forum, None)] == ["Général"]
    assert fake.messages_in(forum, culture) == []
    # A reply to a message of a topic goes to that topic.
    reply = with_bot(fake, lambda bot: bot.send_message(
        forum, "Et de deux", reply_to_message_id=in_topic.message_id))
    assert reply.message_thread_id == sport
    assert fake.wait_for_messages_in(forum, sport, 2)[-1]["reply_to_message_id"] == (
        in_topic.message_id
    )
    # Threads that do not exist: unknown ids, "General" (1), a deleted topic, a plain group.
    group = fake.add_chat("group")
    fake.delete_topic(forum, culture)
    for chat, thread in ((forum, 999), (forum, 1), (forum, culture), (group, sport), (ANA, 5)):
        with pytest.raises(BadRequest, match=r"(?i)^message thread not found$"):
            with_bot(fake, partial(Bot.send_message, chat_id=chat, text="x",
                                   message_thread_id=thread))
    # A closed topic takes posts only from administrators who can manage topics.
    fake.close_topic(forum, sport)
    with pytest.raises(BadRequest, match=r"(?i)topic_closed"):
        with_bot(fake, lambda bot: bot.send_message(forum, "x", message_thread_id=sport))
    fake.set_member(forum, fake.bot_id, "administrator", rights={"can_manage_topics": True})
    with_bot(fake, lambda bot: bot.send_message(forum, "Fermé", message_thread_id=sport))
    assert fake.chat(forum)["topics"][sport]["closed"] is True
    # The bot may create topics itself when it has the right.
    topic = with_bot(fake, lambda bot: bot.create_forum_topic(forum, "Économie"))
    assert topic.name == "Économie" and topic.message_thread_id > culture
    fake.set_member(forum, fake.bot_id, "member")
    with pytest.raises(BadRequest, match=r"(?i)not enough rights to create a topic"):
        with_bot(fake, lambda bot: bot.create_forum_topic(forum, "Météo"))
    with pytest.raises(ValueError, match="not a forum"):
        fake.create_topic(group, "Sport")


def test_user_messages_in_topics_and_replies_reach_the_bot_in_their_thread(
    fake: FakeTelegram,
) -> None:
    forum = fake.add_chat("supergroup", is_forum=True)
    sport = fake.create_topic(forum, "Sport")
    with_bot(fake, lambda bot: bot.get_updates())  # the topic's creation
    fake.user_message(forum, "/ask@briefing_test_bot Le score ?", user_id=ANA,
                      message_thread_id=sport)

    async def answer(bot: Bot) -> Any:
        [update] = await bot.get_updates(offset=2)
        message = update.message
        assert message is not None and message.text is not None
        assert (message.message_thread_id, message.is_topic_message) == (sport, True)
        assert message.reply_to_message is not None  # the topic's creation, as in Telegram
        assert message.reply_to_message.forum_topic_created is not None
        assert message.parse_entities(["bot_command"]) == {
            message.entities[0]: "/ask@briefing_test_bot"
        }
        return await message.reply_text("2-1")  # PTB passes message_thread_id itself

    reply = with_bot(fake, answer)
    assert reply.message_thread_id == sport
    assert [m["plain_text"] for m in fake.messages_in(forum, sport)] == ["2-1"]
    # The user answers the bot: a reply in the topic, to the bot's message.
    fake.user_message(forum, "Merci", user_id=ANA, reply_to_message_id=reply.message_id)
    last = fake.pending_updates[-1]["message"]
    assert last["message_thread_id"] == sport and last["is_topic_message"] is True
    assert last["reply_to_message"]["message_id"] == reply.message_id
    with pytest.raises(ValueError, match="message thread not found"):
        fake.user_message(forum, "x", user_id=ANA, message_thread_id=999)


def test_privacy_mode_decides_which_group_messages_reach_the_bot(fake: FakeTelegram) -> None:
    group = fake.add_chat("group")
    said = with_bot(fake, lambda bot: bot.send_message(group, "Le brief du jour"))

    def delivered(text: str, **kwargs: Any) -> bool:
        update_id = fake.user_message(group, text, user_id=ANA, **kwargs)
        return any(u["update_id"] == update_id for u in fake.pending_updates)

    assert delivered("/ask@briefing_test_bot Et demain ?")
    assert delivered("/ask Et demain ?")
    assert not delivered("/ask@other_bot Et demain ?")
    assert not delivered("Bonjour à tous")
    assert delivered("Merci !", reply_to_message_id=said.message_id)
    assert delivered("Dis @briefing_test_bot, quoi de neuf ?")
    mention = fake.pending_updates[-1]["message"]["entities"]
    assert mention == [{"type": "mention", "offset": 4, "length": 18}]
    assert fake.dropped_updates[-1]["reason"].startswith("privacy mode")
    fake.set_member(group, fake.bot_id, "administrator")  # administrators see everything
    assert delivered("Bonjour à tous")
    fake.set_member(group, fake.bot_id, "member")
    fake.privacy_mode = False
    assert with_bot(fake, lambda bot: bot.get_me()).can_read_all_group_messages is True
    assert delivered("Bonjour à tous")
    with pytest.raises(ValueError, match="kicked"):
        fake.set_member(group, BOB, "kicked")
        fake.user_message(group, "x", user_id=BOB)


def test_an_application_answers_a_command_addressed_to_it_in_a_topic(
    limited: FakeTelegram,
) -> None:
    forum = limited.add_chat("supergroup", is_forum=True)
    topic = limited.create_topic(forum, "Questions")

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"Réponse à {' '.join(context.args or [])}")

    async def main() -> list[dict[str, Any]]:
        app = Application.builder().token(limited.token).base_url(limited.base_url).build()
        app.add_handler(CommandHandler("ask", ask))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            limited.user_message(forum, "/ask@briefing_test_bot la météo", user_id=ANA,
                                 message_thread_id=topic)
            messages = await asyncio.to_thread(limited.wait_for_messages_in, forum, topic, 1)
            await app.updater.stop()
            await app.stop()
        return messages

    [reply] = asyncio.run(main())
    assert reply["plain_text"] == "Réponse à la météo"


def test_channel_posts_and_edit_errors(fake: FakeTelegram) -> None:
    channel = fake.add_chat("channel", bot_rights={"can_edit_messages": False})
    fake.channel_post(channel, "Édito du matin", author_signature="Ana")
    [update] = with_bot(fake, lambda bot: bot.get_updates())
    post = update.channel_post
    assert post is not None and post.sender_chat is not None
    assert (post.sender_chat.id, post.from_user, post.author_signature) == (channel, None, "Ana")
    # Someone else's post needs can_edit_messages; the bot's own post does not.
    with pytest.raises(BadRequest, match=r"(?i)^message can't be edited$"):
        with_bot(fake, lambda bot: bot.edit_message_text("x", channel, post.message_id))
    fake.set_member(channel, fake.bot_id, "administrator", rights={"can_edit_messages": True})
    with_bot(fake, lambda bot: bot.edit_message_text("Édito corrigé", channel, post.message_id))
    mine = with_bot(fake, lambda bot: bot.send_message(channel, "Flash"))
    assert mine.sender_chat is not None and mine.from_user is None
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        with_bot(fake, lambda bot: bot.edit_message_text("Flash", channel, mine.message_id))
    # A post deleted by an admin can no longer be edited.
    fake.delete_message(channel, mine.message_id)
    with pytest.raises(BadRequest, match=r"(?i)^message to edit not found$"):
        with_bot(fake, lambda bot: bot.edit_message_text("Flash 2", channel, mine.message_id))
    with pytest.raises(BadRequest, match=r"(?i)^message to edit not found$"):
        with_bot(fake, lambda bot: bot.edit_message_text("x", channel, 999))
    assert fake.sent[-1]["deleted"] is True
    assert [(e["message_id"], e["plain_text"]) for e in fake.edits] == [
        (post.message_id, "Édito corrigé")
    ]
    # A user's message in a group is not the bot's to edit.
    group = fake.add_chat("group")
    fake.user_message(group, "/ask x", user_id=ANA)
    with pytest.raises(BadRequest, match=r"(?i)^message can't be edited$"):
        with_bot(fake, lambda bot: bot.edit_message_text("y", group, 1))
    with pytest.raises(ValueError, match="is a channel"):
        fake.user_message(channel, "x", user_id=ANA)


def test_delete_message(fake: FakeTelegram) -> None:
    group = fake.add_chat("supergroup")
    mine = with_bot(fake, lambda bot: bot.send_message(group, "Oups"))
    fake.user_message(group, "/ask spam", user_id=ANA)
    assert with_bot(fake, lambda bot: bot.delete_message(group, mine.message_id)) is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        with_bot(fake, lambda bot: bot.delete_message(group, mine.message_id))
    with pytest.raises(BadRequest, match=r"(?i)message can't be deleted"):
        with_bot(fake, lambda bot: bot.delete_message(group, 2))
    fake.set_member(group, fake.bot_id, "administrator", rights={"can_delete_messages": True})
    with_bot(fake, lambda bot: bot.delete_message(group, 2))
    assert [(d["message_id"], d["by"]) for d in fake.deleted] == [(1, "bot"), (2, "bot")]
    assert fake.messages_of(group) == []
    with pytest.raises(ValueError, match="no message"):
        fake.delete_message(group, 2)
    with pytest.raises(BadRequest, match=r"(?i)replied not found"):
        with_bot(fake, lambda bot: bot.send_message(group, "x", reply_to_message_id=1))


def test_leave_chat_sends_my_chat_member_and_closes_the_chat(fake: FakeTelegram) -> None:
    group = fake.add_chat("supergroup")
    assert with_bot(fake, lambda bot: bot.leave_chat(group)) is True
    [update] = with_bot(fake, lambda bot: bot.get_updates())
    change = update.my_chat_member
    assert change is not None and change.from_user.id == fake.bot_id
    assert (change.old_chat_member.status, change.new_chat_member.status) == ("member", "left")
    with pytest.raises(Forbidden, match="not a member of the supergroup chat"):
        with_bot(fake, lambda bot: bot.send_message(group, "x"))
    with pytest.raises(BadRequest, match=r"(?i)private chats"):
        with_bot(fake, lambda bot: bot.leave_chat(ANA))


def test_a_group_takes_20_messages_a_minute() -> None:
    with FakeTelegram(global_rate=0) as fake:  # per-chat 1/s applies to private chats only
        group = fake.add_chat("supergroup", is_forum=True)
        topic = fake.create_topic(group, "Sport")

        async def burst(bot: Bot) -> None:
            for i in range(21):
                await bot.send_message(group, f"n°{i}", message_thread_id=topic)

        with pytest.raises(RetryAfter) as info:
            with_bot(fake, burst)
        assert 1 <= retry_seconds(info.value) <= 3  # a minute for 20: one every 3 s
        assert len(fake.messages_in(group, topic)) == 20
        assert fake.too_many == 1
        assert fake.rate_limited == [
            {**fake.rate_limited[0], "method": "sendMessage", "chat_id": group,
             "message_thread_id": topic, "limit": "group", "retry_after": 3}
        ]
        # Other groups have their own budget, private chats theirs.
        with_bot(fake, lambda bot: bot.send_message(fake.add_chat("group"), "x"))
        with_bot(fake, lambda bot: bot.send_message(ANA, "x"))


def test_the_group_window_is_configurable() -> None:
    with FakeTelegram(group_limit=2, group_window=1.0, global_rate=0) as fake:
        group = fake.add_chat("group")

        async def paced(bot: Bot) -> None:
            await bot.send_message(group, "a")
            await bot.send_message(group, "b")
            with pytest.raises(RetryAfter):
                await bot.send_message(group, "c")
            await asyncio.sleep(0.6)  # one token back after 0.5 s
            await bot.send_message(group, "c")

        with_bot(fake, paced)
        assert [m["text"] for m in fake.messages_to(group)] == ["a", "b", "c"]
        assert [r["limit"] for r in fake.rate_limited] == ["group"]


def test_paid_broadcasts_use_the_paid_global_limit() -> None:
    with FakeTelegram(global_rate=2.0, per_chat_rate=0, paid_global_rate=3.0) as fake:

        async def broadcast(bot: Bot, paid: bool) -> None:
            for chat in (11, 12, 13):
                await bot.send_message(chat, "x", allow_paid_broadcast=paid)

        with pytest.raises(RetryAfter):
            with_bot(fake, lambda bot: broadcast(bot, False))
        assert [r["limit"] for r in fake.rate_limited] == ["global"]
        with_bot(fake, lambda bot: broadcast(bot, True))  # the free budget is spent
        paid = [m for m in fake.sent if m["allow_paid_broadcast"]]
        assert [m["chat_id"] for m in paid] == [11, 12, 13]
        assert fake.requests_for("sendMessage")[-1].params["allow_paid_broadcast"] is True
        with pytest.raises(RetryAfter):
            with_bot(fake, lambda bot: bot.send_message(14, "x", allow_paid_broadcast=True))
        assert fake.rate_limited[-1]["limit"] == "paid"
        assert fake.too_many == 2


# --------------------------------------------------------------------------- files

OPML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head/><body>'
        b'<outline text="Le Fil" xmlUrl="https://news.example/rss.xml"/></body></opml>\n')


def test_a_document_a_user_sends_is_fetched_by_get_file_and_downloaded(
    fake: FakeTelegram,
) -> None:
    update_id = fake.user_document(ANA, OPML, file_name="abonnements.opml", caption="/start",
                                   language_code="en")
    fake.user_document(ANA, b"{}", file_name="notes.json")

    async def receive(bot: Bot) -> tuple[Update, ...]:
        updates = await bot.get_updates(timeout=0)
        document = updates[0].message.document if updates[0].message else None
        assert document is not None
        file = await document.get_file()  # the shortcut the bot uses
        again = await bot.get_file(document.file_id)
        assert (file.file_id, file.file_unique_id, file.file_size) == (
            document.file_id, document.file_unique_id, len(OPML))
        assert file.file_path == again.file_path == (
            f"{fake.base_file_url}{fake.token}/documents/file_0.opml")
        assert await file.download_as_bytearray() == bytearray(OPML)
        other = updates[1].message.document if updates[1].message else None
        assert other is not None
        assert (await bot.get_file(other.file_id)).file_path == (
            f"{fake.base_file_url}{fake.token}/documents/file_1.json")
        return updates

    first, second = with_bot(fake, receive)
    assert first.update_id == update_id
    message = first.message
    assert message is not None and message.document is not None
    assert message.chat.type == "private" and message.from_user is not None
    assert (message.chat.id, message.from_user.id, message.from_user.language_code) == (
        ANA, ANA, "en")
    assert (message.document.file_name, message.document.mime_type,
            message.document.file_size) == ("abonnements.opml", "text/x-opml", len(OPML))
    assert message.caption == "/start" and message.text is None
    assert [(e.type, e.offset, e.length) for e in message.caption_entities] == [
        ("bot_command", 0, 6)]
    assert second.message is not None and second.message.document is not None
    assert second.message.document.mime_type == "application/json"
    assert second.message.document.file_id != message.document.file_id
    assert second.message.document.file_unique_id != message.document.file_unique_id
    assert [m["message_id"] for m in fake.messages_of(ANA)] == [1, 2]
    assert [r.params for r in fake.requests_for("getFile")] == [
        {"file_id": message.document.file_id}] * 2 + [{"file_id": second.message.document.file_id}]
    [download] = fake.requests_for(FILE_DOWNLOAD)
    assert (download.http_method, download.params, download.status) == (
        "GET", {"file_path": "documents/file_0.opml"}, 200)
    raw = httpx.get(f"{fake.base_file_url}{fake.token}/documents/file_0.opml")
    assert (raw.status_code, raw.content) == (200, OPML)
    with pytest.raises(ValueError, match="private chat only"):
        fake.user_document(-4000000001, OPML)


def test_get_file_of_an_unknown_file_id_is_a_bad_request(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match=r"(?i)^invalid file_id$"):
        with_bot(fake, lambda bot: bot.get_file("BQACAgQAAxkBAAIC999999"))
    raw = httpx.post(f"{fake.base_url}{fake.token}/getFile", data={})
    assert (raw.status_code, raw.json()) == (
        400, {"ok": False, "error_code": 400, "description": INVALID_FILE_ID})
    assert [r.status for r in fake.requests_for("getFile")] == [400, 400]
    fake.user_document(ANA, b"x" * (MAX_DOWNLOAD_BYTES + 1), file_name="big.opml")
    [update] = drain(fake)
    assert update.message is not None and update.message.document is not None
    file_id = update.message.document.file_id
    with pytest.raises(BadRequest, match=r"(?i)^file is too big$"):
        with_bot(fake, lambda bot: bot.get_file(file_id))


def test_a_file_is_served_only_at_the_path_get_file_gave(fake: FakeTelegram) -> None:
    fake.user_document(ANA, OPML)
    files = f"{fake.base_file_url}{fake.token}"
    not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
    early = httpx.get(f"{files}/documents/file_0.opml")  # no getFile yet: no path
    assert (early.status_code, early.json()) == (404, not_found)
    [update] = drain(fake)
    assert update.message is not None and update.message.document is not None
    file_id, unique_id = update.message.document.file_id, update.message.document.file_unique_id
    path = with_bot(fake, lambda bot: bot.get_file(file_id)).file_path
    assert path == f"{files}/documents/file_0.opml"
    for url in (f"{files}/documents/file_1.opml", f"{files}/documents", f"{files}/"):
        missing = httpx.get(url)
        assert (missing.status_code, missing.json()) == (404, not_found), url
    assert path is not None and httpx.post(path).status_code == 404
    assert httpx.get(f"{fake.base_file_url}999:wrong/documents/file_0.opml").status_code == 401
    assert httpx.get(path).content == OPML

    async def download(bot: Bot, url: str) -> bytearray:
        file = File(file_id, unique_id, file_path=url)
        file.set_bot(bot)
        return await file.download_as_bytearray()

    with pytest.raises(InvalidToken, match="Not Found"):  # PTB's word for a 404
        with_bot(fake, partial(download, url=f"{files}/documents/file_7.opml"))
    # ".../" names no file at all: a 404 of the Bot API, not a download.
    statuses = [r.status for r in fake.requests_for(FILE_DOWNLOAD)]
    assert statuses == [404, 404, 404, 404, 401, 200, 404]


def test_scripted_download_failures(fake: FakeTelegram) -> None:
    fake.user_document(ANA, OPML)
    [update] = drain(fake)
    assert update.message is not None and update.message.document is not None
    document = update.message.document
    fake.fail_next(FILE_DOWNLOAD, 500, "Internal Server Error")
    fake.fail_next(FILE_DOWNLOAD, 0, "connection dropped")
    fake.fail_next("getFile", 500, "Internal Server Error")

    async def fetch(bot: Bot) -> bytearray:
        file = await bot.get_file(document.file_id)
        return await file.download_as_bytearray()

    for _ in range(3):
        with pytest.raises(NetworkError):
            with_bot(fake, fetch)
    assert with_bot(fake, fetch) == bytearray(OPML)
    assert [r.status for r in fake.requests_for("getFile")] == [500, 200, 200, 200]
    assert [r.status for r in fake.requests_for(FILE_DOWNLOAD)] == [500, 0, 200]


# --------------------------------------------------------------------------- parse_html


def test_parse_html_examples() -> None:
    assert parse_html("<pre><code class='language-python'>x = 1</code></pre>") == (
        "x = 1",
        [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
    )
    assert parse_html("😀<I>é</I><blockquote expandable>q</blockquote>") == (
        "😀éq",
        [
            {"type": "italic", "offset": 2, "length": 1},
            {"type": "expandable_blockquote", "offset": 3, "length": 1},
        ],
    )
    assert parse_html('<span class="tg-spoiler">s</span>&#x1F600;&#65;&quot;') == (
        's😀A"',
        [{"type": "spoiler", "offset": 0, "length": 1}],
    )
    assert parse_html("<b></b>a > b") == ("a > b", [])
    with pytest.raises(HTMLError, match=r'Unmatched end tag at byte offset 7, expected "</i>"'):
        parse_html("<b><i>x</b></i>")
    with pytest.raises(HTMLError, match="byte offset 3"):
        parse_html("é <x>")  # offsets are in UTF-8 bytes
    for bad in ("&nbsp;", "&lt", "<span>x</span>", "<a>x</a>", "</b>", "<b", "&#0;"):
        with pytest.raises(HTMLError):
            parse_html(bad)


@given(st.text())
def test_escaped_text_always_parses_back(text: str) -> None:
    assert parse_html(html.escape(text, quote=False)) == (text, [])


@given(st.text(), st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler", "blockquote"]))
def test_wrapped_escaped_text_gives_one_entity(text: str, tag: str) -> None:
    plain, entities = parse_html(f"<{tag}>{html.escape(text)}</{tag}>")
    assert plain == text
    assert [(e["offset"], e["length"]) for e in entities] == (
        [(0, utf16_len(text))] if text else []
    )


_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,10})|#[xX]([0-9A-Fa-f]{1,8}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def reference_unescape(text: str) -> str | None:
    """Independent oracle: decode the supported entities, or None if some "&" starts none."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "&":
            out.append(text[i])
            i += 1
            continue
        match = _ENTITY.match(text, i)
        if match is None:
            return None
        name, decimal, hexadecimal = match.groups()
        if name is not None:
            out.append(_NAMED[name])
        else:
            code = int(decimal) if decimal is not None else int(hexadecimal, 16)
            if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return None
            out.append(chr(code))
        i = match.end()
    return "".join(out)


@given(st.text(), st.data())
def test_a_raw_less_than_is_always_rejected(text: str, data: st.DataObject) -> None:
    escaped = html.escape(text, quote=False)  # contains no ">", so no tag can be completed
    position = data.draw(st.integers(0, len(escaped)))
    with pytest.raises(HTMLError):
        parse_html(escaped[:position] + "<" + escaped[position:])


@given(st.text(alphabet=st.sampled_from("ltgampquo#xX0123456789aAfF;& <>")), st.data())
def test_a_raw_ampersand_is_rejected_unless_it_forms_an_entity(
    text: str, data: st.DataObject
) -> None:
    escaped = html.escape(text, quote=False)
    position = data.draw(st.integers(0, len(escaped)))
    candidate = escaped[:position] + "&" + escaped[position:]
    expected = reference_unescape(candidate)
    if expected is None:
        with pytest.raises(HTMLError):
            parse_html(candidate)
    else:
        assert parse_html(candidate) == (expected, [])


@given(st.lists(st.sampled_from(["<b>", "</b>", "<i>", "</i>", "x", "&amp;", "<", "&"])))
def test_random_fragments_parse_iff_well_formed(fragments: list[str]) -> None:
    candidate = "".join(fragments)
    depth: list[str] = []
    well_formed = True
    for fragment in fragments:
        if fragment in ("<", "&"):
            well_formed = False
        elif fragment in ("<b>", "<i>"):
            depth.append(fragment[1])
        elif fragment in ("</b>", "</i>") and (not depth or depth.pop() != fragment[2]):
            well_formed = False
    well_formed = well_formed and not depth
    if well_formed:
        plain, _ = parse_html(candidate)
        assert plain == "".join(f for f in fragments if f in ("x", "&amp;")).replace("&amp;", "&")
    else:
        with pytest.raises(HTMLError):
            parse_html(candidate)


# --------------------------------------------------------------------------- webhooks


class Receiver:
    """A webhook endpoint on 127.0.0.1: records each POST (path, secret header, JSON body)
    and answers with the next status of ``statuses`` (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.received: list[tuple[str, str | None, Any]] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.received.append((self.path,
                                          self.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                                          json.loads(body)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_set_webhook_is_shown_refuses_plain_http_and_blocks_get_updates(
    fake: FakeTelegram,
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
        with_bot(fake, lambda bot: bot.set_webhook("http://bot.example.test/hook"))
    assert fake.webhook is None
    fake.user_message(5, "un")

    async def flow(bot: Bot) -> None:
        assert await bot.set_webhook("https://bot.example.test/hook", secret_token="s3cret",
                                     max_connections=7)
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count, info.max_connections) == (
            "https://bot.example.test/hook", 1, 7)
        with pytest.raises(Conflict) as caught:
            await bot.get_updates(timeout=0)
        assert caught.value.message == WEBHOOK_ACTIVE
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [1]

    with_bot(fake, flow)
    assert fake.webhook is None
    assert [r.status for r in fake.requests_for("getUpdates")] == [409, 200]


def test_post_to_webhook_delivers_confirms_on_2xx_and_redelivers_by_id(
    fake: FakeTelegram,
) -> None:
    first = fake.user_message(5, "un")
    second = fake.user_message(6, "deux")
    with pytest.raises(ValueError, match="no webhook"):
        fake.post_to_webhook()
    with_bot(fake, lambda bot: bot.set_webhook("https://bot.example.test/hook",
                                               secret_token="s3cret"))
    with Receiver(500) as worker_a, Receiver() as worker_b:
        # A failure leaves the update queued; the retry is answered 200 and confirms it.
        assert fake.post_to_webhook(url=worker_a.url("/hook")) == 500
        assert [u["update_id"] for u in fake.pending_updates] == [first, second]
        assert fake.post_to_webhook(url=worker_a.url("/hook")) == 200
        assert [u["update_id"] for u in fake.pending_updates] == [second]
        # The same update, already confirmed, sent again to another worker.
        assert fake.post_to_webhook(first, url=worker_b.url("/hook")) == 200
        path, secret, body = worker_b.received[0]
        assert (path, secret) == ("/hook", "s3cret")
        assert body["update_id"] == first and body["message"]["text"] == "un"
        assert [(p, b["update_id"]) for p, _, b in worker_a.received] == [
            ("/hook", first), ("/hook", first)]
        closed = worker_b.url("/hook")
    # Nobody listening any more: no answer, still queued.
    assert fake.post_to_webhook(second, url=closed, timeout=1.0) == 0
    assert [u["update_id"] for u in fake.pending_updates] == [second]
    assert [(d["update_id"], d["status"]) for d in fake.webhook_deliveries] == [
        (first, 500), (first, 200), (first, 200), (second, 0)]
    with pytest.raises(ValueError, match="ever queued"):
        fake.post_to_webhook(999)

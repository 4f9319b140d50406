"""Self-test of the fake Telegram Bot API, driven by the real ``python-telegram-bot``."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fakes.telegram_html import HTMLError, parse_html, utf16_len
from tests.fakes.telegram_server import FakeTelegram

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
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            return await action(bot)

    return asyncio.run(main())


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

"""`briefing run` with the bot, killed with SIGKILL while a live post or an update is on its
way to Telegram, then restarted: neither goes out twice.

What "twice" means on the Bot API:

* A post (and an update that answers an older post) is a `sendMessage`, which Telegram
  carries out every time it gets it: it has no idempotency key, and a bot can neither list a
  channel's messages nor get an update for its own posts, so a process that died after
  Telegram took the message can never learn that it did, nor the message's id. "Never
  twice" is then: one `sendMessage` request at most, ever, for that post; the restarted
  process must not try again, since any second request it made could be carried out.
* An update that edits the post is an `editMessageText` of the post's message: sent again
  with the same text, Telegram changes nothing and answers 400 "message is not modified"
  (the fake does exactly that). So the edit may go again, identical, to the same message,
  and nothing else: no `sendMessage` (neither a new post nor a reply), no second accepted
  edit.

Each test kills the process at one of two moments, both before the outbox recorded the send:

* "in flight": the fake Bot API holds the request once it has fully arrived
  (`FakeTelegram.hold_next`); the process is killed, then the fake carries the request out
  (Telegram does with a request it received in full, whoever is left to read the answer);
* "answered": the process got Telegram's answer (the message id in hand) and is stopped by a
  hook in the child just before it records it (`mark_part` / `mark_edited` of the outbox),
  then killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from briefing.config import StoreSettings
from briefing.store.db import open_database
from briefing.store.models import DeliveryRow, StoryRow
from briefing.store.subscribers import upsert
from tests.conftest import SEEDS
from tests.fakes.telegram_server import ApiRequest, FakeTelegram, HeldCall
from tests.service.test_runner import kill, wait_for

REPO = Path(__file__).resolve().parents[2]
MOMENTS = ["in_flight", "answered"]
# Long enough for several delivery passes (every 0.3 s) and a cycle (every 1.2 s).
SETTLE = 3.0


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@dataclass(frozen=True)
class Live:
    """A work directory for `briefing run` with one live channel, and its chat id."""

    workdir: Path
    channel: int

    @property
    def articles(self) -> Path:
        return self.workdir / "articles"

    @property
    def flag(self) -> Path:
        return self.workdir / "hooked"


def live_workdir(tmp_path: Path, tg: FakeTelegram, edit_window_hours: float) -> Live:
    """A live channel whose first story is waiting in the folder: posted at the first cycle
    (no confirmation wait), briefed again as soon as a source joins."""
    (tmp_path / "briefing.toml").write_text(
        "[service]\npoll_minutes = 0.02\ndeliver_seconds = 0.3\nsummarise_concurrency = 1\n"
        "rebrief_quiet_minutes = 0\nrebrief_max_delay_minutes = 0\n"
        f"[live]\nconfirm_minutes = 0\nedit_window_hours = {edit_window_hours}\n",
        encoding="utf-8")
    channel = tg.add_chat("channel", title="Le Fil")
    db = open_database(StoreSettings(data_dir=str(tmp_path / "data")))
    far = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")  # no digest due now
    upsert(db, str(channel), kind="channel", schedule="live", languages="fr",
           digest_time=far, timezone="UTC", active=True)
    db.close()
    live = Live(tmp_path, channel)
    live.articles.mkdir()
    drop_seed(live, SEEDS[0])
    return live


def drop_seed(live: Live, seed: Path) -> None:
    """An article arrives in the watched folder (settled: taken at the next cycle)."""
    shutil.copy(seed, live.articles / seed.name)
    os.utime(live.articles / seed.name, (time.time() - 60,) * 2)


def start(live: Live, tg: FakeTelegram, hook: str = "") -> subprocess.Popen[bytes]:
    """`briefing run` with the bot on the fake Bot API; `hook` ("post", "update") stops the
    process for good just before the outbox records a message of that kind to the channel
    (this module run as `__main__`)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "BRIEFING_", "TELEGRAM_"))}
    env.update(TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_BASE_URL=tg.base_url,
               BRIEFING_DATA_DIR=str(live.workdir / "data"),
               BRIEFING_ARTICLES_DIR=str(live.articles),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "tests.service.test_live_kill", hook, str(live.channel),
               str(live.flag)] if hook else [sys.executable, "-m", "briefing", "run"]
    return subprocess.Popen(command, cwd=live.workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Row:
    kind: str
    state: str
    sent_parts: int
    message_ids: list[Any]
    last_error: str | None


def live_rows(live: Live) -> list[Row]:
    """The channel's live outbox rows (its post, then its updates), as the store has them."""
    db = open_database(StoreSettings(data_dir=str(live.workdir / "data")), migrate=False)
    try:
        with db.session() as session:
            return [Row(r.kind, r.state, r.sent_parts, list(r.message_ids), r.last_error)
                    for r in session.scalars(select(DeliveryRow).order_by(DeliveryRow.id))]
    finally:
        db.close()


def briefed_versions(live: Live) -> int:
    db = open_database(StoreSettings(data_dir=str(live.workdir / "data")), migrate=False)
    try:
        with db.session() as session:
            return int(session.scalar(select(func.max(StoryRow.summarised_version))) or 0)
    finally:
        db.close()


def calls(tg: FakeTelegram, method: str, chat: int) -> list[ApiRequest]:
    """Every `method` request to `chat`, answered or not, from both processes."""
    return [r for r in tg.requests_for(method) if r.params.get("chat_id") == chat]


def kill_at(moment: str, process: subprocess.Popen[bytes], live: Live, tg: FakeTelegram,
            method: str, held: HeldCall | None) -> None:
    """Kill the process at `moment` of the `method` call to the channel: held by the fake
    (then carried out once the process is dead), or answered and about to be recorded."""
    if held is not None:  # in flight
        assert held.arrived.wait(60), f"no {method} reached the fake"
        kill(process)
        done = len([r for r in calls(tg, method, live.channel) if r.status is not None])
        held.release()
        wait_for(lambda: len([r for r in calls(tg, method, live.channel)
                              if r.status is not None]) > done)
    else:
        wait_for(live.flag.exists)
        kill(process)
    assert calls(tg, method, live.channel)[-1].status == 200  # Telegram carried it out...
    assert live_rows(live)[-1].state == "pending"  # ...and the outbox had not recorded it


def hold(moment: str, tg: FakeTelegram, method: str, chat: int) -> HeldCall | None:
    return tg.hold_next(method, chat_id=chat) if moment == "in_flight" else None


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_during_a_live_post_never_posts_it_twice(
    moment: str, tg: FakeTelegram, tmp_path: Path
) -> None:
    live = live_workdir(tmp_path, tg, edit_window_hours=3.0)
    held = hold(moment, tg, "sendMessage", live.channel)
    process = start(live, tg, hook="post" if moment == "answered" else "")
    try:
        kill_at(moment, process, live, tg, "sendMessage", held)
        (post,) = tg.messages_to(live.channel)
        process = start(live, tg)
        wait_for(lambda: live_rows(live)[0].state != "pending")
        time.sleep(SETTLE)  # time to send it again, were it to
        # Telegram got one sendMessage for the post, ever: the restarted process did not even
        # try again (a second request, were it carried out, would be a second post).
        assert len(calls(tg, "sendMessage", live.channel)) == 1
        assert tg.messages_to(live.channel) == [post]
        (row,) = live_rows(live)
        # Recorded as in doubt (it may or may not have gone out), not as sent with an id.
        assert row.state == "failed" and row.message_ids == []
        assert row.last_error is not None and "not sent again" in row.last_error
        # A source joins and the story is briefed again: with no message id, the update can
        # neither edit nor answer the post, and must not go out on its own.
        drop_seed(live, SEEDS[1])
        wait_for(lambda: briefed_versions(live) >= 2)
        time.sleep(SETTLE)
    finally:
        stop(process)
    assert len(calls(tg, "sendMessage", live.channel)) == 1
    assert calls(tg, "editMessageText", live.channel) == []
    assert len(tg.messages_of(live.channel)) == len(tg.messages_to(live.channel)) == 1


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_during_an_edit_resends_at_most_the_same_edit(
    moment: str, tg: FakeTelegram, tmp_path: Path
) -> None:
    live = live_workdir(tmp_path, tg, edit_window_hours=3.0)
    held = hold(moment, tg, "editMessageText", live.channel)
    process = start(live, tg, hook="update" if moment == "answered" else "")
    try:
        wait_for(lambda: [r.state for r in live_rows(live)] == ["sent"])
        (post,) = tg.messages_to(live.channel)
        drop_seed(live, SEEDS[1])  # a source joins: the post is edited in place
        kill_at(moment, process, live, tg, "editMessageText", held)
        (edited,) = tg.messages_to(live.channel)
        assert edited["message_id"] == post["message_id"] and edited["text"] != post["text"]
        process = start(live, tg)
        wait_for(lambda: live_rows(live)[-1].state != "pending")
        time.sleep(SETTLE)
    finally:
        stop(process)
    # No sendMessage but the post's: the update was neither posted anew nor sent as a reply.
    assert len(calls(tg, "sendMessage", live.channel)) == 1
    assert len(tg.messages_of(live.channel)) == len(tg.messages_to(live.channel)) == 1
    # The edit went again after the restart, and only that: the same text, markup and
    # options to the same message, which Telegram refused (400 "message is not modified":
    # the fake answers so to an identical edit, and only to it). So the post was changed
    # once (one accepted edit), and the reader saw one post throughout.
    edits = calls(tg, "editMessageText", live.channel)
    assert [r.status for r in edits] == [200, 400]
    assert all(r.params == edits[0].params for r in edits)
    assert edits[0].params["message_id"] == post["message_id"]
    assert len(tg.edits) == 1 and tg.messages_to(live.channel) == [edited]
    _, update = live_rows(live)
    assert update.kind == "update" and update.state == "sent"
    assert update.message_ids == [str(post["message_id"])]


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_during_a_reply_update_never_answers_twice(
    moment: str, tg: FakeTelegram, tmp_path: Path
) -> None:
    # An older post (no edit window): its update is a short reply, a sendMessage.
    live = live_workdir(tmp_path, tg, edit_window_hours=0.0)
    process = start(live, tg, hook="update" if moment == "answered" else "")
    try:
        wait_for(lambda: [r.state for r in live_rows(live)] == ["sent"])
        (post,) = tg.messages_to(live.channel)
        held = hold(moment, tg, "sendMessage", live.channel)
        drop_seed(live, SEEDS[1])
        kill_at(moment, process, live, tg, "sendMessage", held)
        process = start(live, tg)
        wait_for(lambda: live_rows(live)[-1].state != "pending")
        time.sleep(SETTLE)
    finally:
        stop(process)
    # The post, then one sendMessage for the reply, ever: none after the restart.
    assert len(calls(tg, "sendMessage", live.channel)) == 2
    post_again, reply = tg.messages_to(live.channel)
    assert post_again["message_id"] == post["message_id"]
    assert reply["reply_to_message_id"] == post["message_id"]
    assert len(tg.messages_of(live.channel)) == 2 and calls(tg, "editMessageText",
                                                            live.channel) == []
    _, update = live_rows(live)
    assert update.state == "failed" and update.message_ids == []


# --- the child: `briefing run`, stopped for good just before it records a send ----------


def _stop_before_recording(kind: str, chat: str, flag: Path) -> None:
    """Wrap the outbox's `mark_part` and `mark_edited`: for a row of `kind` to `chat`, Telegram
    has answered, the message id is in hand, and nothing is recorded yet: say so in `flag`,
    and wait there to be killed."""
    from collections.abc import Callable

    from briefing.service import outbox
    from briefing.store.db import Database
    from briefing.store.deliveries import load_delivery

    def stopping(record: Callable[..., None]) -> Callable[..., None]:
        def hooked(db: Database, delivery_id: int, *args: Any, **kwargs: Any) -> None:
            row = load_delivery(db, delivery_id)
            if row.kind == {"post": "live", "update": "update"}[kind] and row.chat_id == chat:
                flag.write_text(row.key, encoding="utf-8")
                time.sleep(600)  # the event loop stops here: nothing else is recorded
            record(db, delivery_id, *args, **kwargs)
        return hooked

    for name in ("mark_part", "mark_edited"):  # as the outbox calls them
        setattr(outbox, name, stopping(getattr(outbox, name)))


if __name__ == "__main__":
    _stop_before_recording(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
    sys.argv = ["briefing", "run"]
    from briefing.cli.app import main

    main()

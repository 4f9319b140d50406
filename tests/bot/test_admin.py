"""Admins see what breaks: a failing feed is reported to them once, and /stats lists it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from briefing.bot.admin import alert_admins
from briefing.bot.app import channel_for
from briefing.service.runner import Service
from briefing.store.db import Database
from briefing.store.feeds import add_feed
from tests.bot.conftest import ADMIN, bot_settings, running, said
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.web_server import FakeWebServer


def test_a_feed_that_starts_failing_is_reported_once_and_listed_in_stats(
    tg: FakeTelegram, db: Database, tmp_path: Path
) -> None:
    tg.per_chat_rate = 0
    settings = bot_settings(tg, tmp_path)
    (tmp_path / "data").mkdir()
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    async def play(url: str) -> tuple[list[str], str]:
        add_feed(db, url, "Broken news")
        async with running(settings, db) as application:
            tg.user_message(ADMIN, "/help", user_id=ADMIN, language_code="en")
            await said(tg, ADMIN)

            async def alert(feed: str, error: str) -> None:
                await alert_admins(application.bot, settings, feed, error)

            now = [start]
            service = Service(settings, db, channel_for(application), clock=lambda: now[0],
                              alert=alert)
            for _ in range(3):  # three failing polls, each after the feed's backoff
                await service.cycle()
                now[0] += timedelta(days=2)
            tg.user_message(ADMIN, "/stats", user_id=ADMIN, language_code="en")
            stats = (await said(tg, ADMIN, 3))[-1]["text"]
        alerts = [m["text"] for m in tg.messages_to(ADMIN) if "feed failing" in m["text"]]
        return alerts, stats

    with FakeWebServer() as web:
        web.route("/rss", b"oops", status=500)
        alerts, stats = asyncio.run(play(web.url("/rss")))
        url = web.url("/rss")
    assert len(alerts) == 1 and url in alerts[0] and "500" in alerts[0]
    assert "failing feeds: 1" in stats and f"1. {url}: 3 errors in a row" in stats

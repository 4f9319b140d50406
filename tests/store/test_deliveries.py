"""Queries of the outbox about live posts: which stories a live target's digest leaves out."""

from __future__ import annotations

from datetime import UTC, date, datetime

from briefing.store.db import Database
from briefing.store.deliveries import (
    LIVE_POST,
    NewPost,
    live_posted_since,
    mark_in_doubt,
    mark_part,
    mark_sending,
    queue_posts,
)
from briefing.store.models import DeliveryRow
from briefing.store.subscribers import upsert

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _post(db: Database, subscriber: int, story: int) -> int:
    queue_posts(db, [NewPost(subscriber, f"live:{subscriber}:{story}", LIVE_POST,
                             date(2026, 12, 2), ("fr",), story, 1)])
    with db.session() as session:
        return next(r.id for r in session.query(DeliveryRow)
                    if r.key == f"live:{subscriber}:{story}")


def test_a_live_post_sent_or_on_its_way_is_left_out_of_the_digest_one_in_doubt_is_not(
    db: Database
) -> None:
    channel, _ = upsert(db, "-100", kind="channel", schedule="live")
    # Story 12's post stays pending: on its way, so the digest must not repeat it.
    sent, _waiting, doubtful = (_post(db, channel.id, story) for story in (11, 12, 13))
    mark_sending(db, sent)
    mark_part(db, sent, "-100", "5", [11], last=True, now=NOW)
    mark_sending(db, doubtful)  # the process died while Telegram had it
    assert mark_in_doubt(db, doubtful, NOW) == "failed"
    assert live_posted_since(db, channel.id, LONG_AGO) == {11, 12}

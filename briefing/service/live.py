"""Live targets: a story posted once it is confirmed, then updated as it grows.

A target whose schedule is "live" (a channel, a group, a topic that wants stories as they
come) gets each story of its feeds and filters as one post, once the story is confirmed:
it has `live.confirm_sources` sources, or it first arrived `live.confirm_minutes` ago.
At most `live.posts_per_hour` posts an hour per target; the others wait (for the next
hour, or the daily digest, which a live target still gets for what was not posted).

When a posted story's brief changes (a source joined and the story was briefed again,
see the debounce in `briefing.service.summaries`), the target gets an update, once per
brief version: the post is edited in place while it is recent (`live.edit_window_hours`),
else a short reply to it says what is new; never a full repost. Posts and updates go
through the outbox like digests, so each is sent once whatever crashes.

Each cycle composes a live target's candidates (the last day's briefed stories of its
languages, feeds and filters) once per setting (`briefing.service.digests.Setting`), for
every live target that has it; what was posted is read per target (`posts_for`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from briefing.config import Settings
from briefing.service.digests import (
    DigestItem,
    Setting,
    compose_digest,
    compose_setting,
    filters_of,
    languages_of,
    local_zone,
    setting_of,
)
from briefing.store.db import Database
from briefing.store.deliveries import LIVE_POST, UPDATE, NewPost, live_state, queue_posts
from briefing.store.stories import StoryState, story_states
from briefing.store.subscribers import LIVE, Subscriber, active_targets

log = logging.getLogger(__name__)
# Stories a live target looks through: the briefed ones of the last day, best-sourced first.
LOOK_BACK = timedelta(days=1)
CANDIDATES = 200
# A post is updated while its story keeps changing for this long after it went out; the
# posts older than that are not read again at each cycle.
UPDATES_FOR = timedelta(days=7)


def post_key(target: Subscriber, story_id: int) -> str:
    """The outbox key of a story's live post to a target: one post per story, ever."""
    return f"live:{target.id}:{story_id}"


def update_key(target: Subscriber, story_id: int, version: int) -> str:
    """The outbox key of an update: one per brief version of the story."""
    return f"update:{target.id}:{story_id}:{version}"


def posts_for(db: Database, target: Subscriber, now: datetime, settings: Settings,
              candidates: Sequence[DigestItem] | None = None,
              states: Mapping[int, StoryState] | None = None) -> list[NewPost]:
    """The live posts and updates due now for one target, in its candidates' order. A
    cycle composes the candidates (and reads their states) once per setting and passes
    them (`schedule_live`); without them they are composed for this target alone."""
    cfg = settings.live
    languages = languages_of(target.languages)
    day = now.astimezone(local_zone(target.timezone)).date()
    items = candidates
    if items is None:
        items, _ = compose_digest(db, now - LOOK_BACK, languages, target.feeds, CANDIDATES,
                                  filters_of(target))
    if states is None:
        states = story_states(db, [i.story_id for i in items])
    state = live_state(db, target.id, now, now - UPDATES_FOR)
    room = max(0, cfg.posts_per_hour - state.posts_last_hour)
    window = timedelta(hours=cfg.edit_window_hours)
    posts: list[NewPost] = []
    for item in items:
        story = states.get(item.story_id)
        if story is None:
            continue
        posted = state.posted.get(item.story_id)
        if posted is None:
            confirmed = (len(item.sources) >= cfg.confirm_sources
                         or now - story.created_at >= timedelta(minutes=cfg.confirm_minutes))
            if confirmed and room > 0:
                room -= 1
                posts.append(NewPost(target.id, post_key(target, item.story_id), LIVE_POST,
                                     day, languages, item.story_id, story.summarised_version))
        elif (posted.message_id is not None and posted.sent_at is not None
              and story.summarised_version > posted.story_version):
            action = "edit" if now - posted.sent_at < window else "reply"
            posts.append(NewPost(target.id, update_key(target, item.story_id,
                                                       story.summarised_version),
                                 UPDATE, day, languages, item.story_id,
                                 story.summarised_version, posted.message_id, action))
    return posts


def schedule_live(db: Database, now: datetime, settings: Settings) -> int:
    """Queue the live posts and updates due now for every live target; how many.

    The candidates of a cycle (the last day's briefed stories in a target's languages,
    feeds and filters) are composed once per setting, and their states read once, for
    every live target that has it; what was posted is read per target."""
    composed: dict[Setting, tuple[list[DigestItem], dict[int, StoryState]]] = {}
    posts = []
    for target in active_targets(db, LIVE):
        setting = setting_of(target, now - LOOK_BACK, CANDIDATES)
        if setting not in composed:
            items, _ = compose_setting(db, setting)
            composed[setting] = items, story_states(db, [i.story_id for i in items])
        items, states = composed[setting]
        posts += posts_for(db, target, now, settings, items, states)
    queued = queue_posts(db, posts)
    if queued:
        log.info("live: %d post(s) and update(s) queued", queued)
    return queued

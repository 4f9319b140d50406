"""Groups, forum topics and channels as targets: what happens when the bot is added to a
chat, removed from it, loses the right to post, or the chat moves to a new id.

- Added to a group or supergroup: the chat becomes a target with the default settings
  (or an earlier one is active again, its settings kept), and its digests start.
- Made administrator of a channel with the right to post: the channel becomes a target
  too, **inactive** until an administrator sets it up from a private chat with the bot
  (`/channels`): a channel's readers never get posts nobody asked for.
- Removed, banned, or left without the right to post: deliveries to every target of the
  chat stop (the settings stay, for the day the bot comes back: a group is active again
  at once, a channel once set up again); nothing is retried forever.
- A group that became a supergroup (`migrate_to_chat_id`): its targets follow the new id.
- A forum topic where an administrator runs a settings command becomes a target of its
  own, starting from the group's settings (`topic_opened`).
"""

from __future__ import annotations

import logging

from briefing.store.db import Database
from briefing.store.subscribers import (
    CHANNEL,
    KINDS,
    SUPERGROUP,
    Subscriber,
    address,
    find,
    move_chat,
    set_chat_active,
    upsert,
)

log = logging.getLogger(__name__)


def bot_joined(db: Database, chat: str, kind: str, title: str | None,
               can_post: bool = True) -> Subscriber | None:
    """The bot may now post in `chat` (of `kind`): its target, created or active again
    (a channel stays inactive until set up); None when it may not post there."""
    if kind not in KINDS:
        raise ValueError(f"unknown chat kind {kind!r}")
    if not can_post:
        bot_left(db, chat)
        return None
    existing = find(db, chat)
    active = kind != CHANNEL or (existing is not None and existing.active)
    target, created = upsert(db, chat, kind=kind, title=title, active=active)
    if not created and active:  # its forum topics come back with it
        set_chat_active(db, chat, True)
    log.info("the bot may post in %s %s (%s)%s", kind, chat, title or "untitled",
             "" if active else "; inactive until set up")
    return target


def bot_left(db: Database, chat: str) -> int:
    """The bot may no longer post in `chat`: deliveries to its targets stop; how many."""
    stopped = set_chat_active(db, chat, False)
    if stopped:
        log.info("deliveries to %s stopped: the bot may no longer post there", chat)
    return stopped


def chat_migrated(db: Database, old: str, new: str) -> int:
    """`old` became the supergroup `new`: its targets follow; how many."""
    moved = move_chat(db, old, new, SUPERGROUP)
    if moved:
        log.info("chat %s became %s: %d target(s) follow", old, new, moved)
    return moved


def topic_opened(db: Database, chat: str, thread: int, kind: str,
                 title: str | None) -> Subscriber:
    """An administrator set up forum topic `thread` of `chat`: its target, made on first use
    with the settings the chat has then (languages, time, feeds, filters, schedule), so a
    desk's topic starts from the group's choices and then goes its own way. The chat keeps
    its own target (the General topic); a desk that wants only its topics turns it off
    with /unsubscribe there."""
    topic = address(chat, thread)
    existing = find(db, topic)
    if existing is not None:
        return existing
    parent = find(db, chat)
    if parent is None:
        target, _ = upsert(db, topic, kind=kind, title=title, active=True)
    else:
        target, _ = upsert(db, topic, kind=parent.kind, title=title, active=True,
                           languages=parent.languages, digest_time=parent.digest_time,
                           timezone=parent.timezone, feeds=parent.feeds,
                           include=parent.include, exclude=parent.exclude,
                           schedule=parent.schedule)
    log.info("forum topic %s (%s) is a target of its own", topic, title or "untitled")
    return target

"""Groups, topics and channels: the bot added, removed, demoted, and a chat that moves."""

from __future__ import annotations

from briefing.service.targets import bot_joined, bot_left, chat_migrated
from briefing.store.db import Database
from briefing.store.subscribers import address, find, targets_of_chat, upsert

GROUP, SUPER, CHANNEL_ID = "-4001", "-1004001", "-1007001"


def test_a_group_that_adds_the_bot_gets_digests_with_the_defaults(db: Database) -> None:
    target = bot_joined(db, GROUP, "group", "Rédaction")
    assert target is not None and target.active and target.kind == "group"
    assert (target.title, target.languages, target.digest_time) == ("Rédaction", "both", "07:30")


def test_a_channel_waits_to_be_set_up_and_one_without_the_right_to_post_is_left(
    db: Database
) -> None:
    target = bot_joined(db, CHANNEL_ID, "channel", "Le Fil")
    assert target is not None and not target.active  # no post nobody asked for
    upsert(db, CHANNEL_ID, active=True)  # set up by an administrator
    again = bot_joined(db, CHANNEL_ID, "channel", "Le Fil")
    assert again is not None and again.active
    assert bot_joined(db, CHANNEL_ID, "channel", "Le Fil", can_post=False) is None
    channel = find(db, CHANNEL_ID)
    assert channel is not None and not channel.active


def test_removing_the_bot_stops_every_target_of_the_chat_and_adding_it_back_resumes(
    db: Database
) -> None:
    bot_joined(db, SUPER, "supergroup", "Desk")
    upsert(db, address(SUPER, 42), kind="supergroup", languages="fr")
    assert bot_left(db, SUPER) == 2
    assert not any(t.active for t in targets_of_chat(db, SUPER))
    assert bot_left(db, SUPER) == 0  # nothing left to stop: nothing retried
    bot_joined(db, SUPER, "supergroup", "Desk")
    topics = targets_of_chat(db, SUPER)
    assert [t.active for t in topics] == [True, True]
    assert topics[1].languages == "fr"  # settings kept


def test_a_group_that_becomes_a_supergroup_keeps_its_targets_under_the_new_id(
    db: Database
) -> None:
    bot_joined(db, GROUP, "group", "Rédaction")
    upsert(db, GROUP, include=("énergie",), digest_time="06:00")
    assert chat_migrated(db, GROUP, SUPER) == 1
    assert find(db, GROUP) is None
    moved = find(db, SUPER)
    assert moved is not None
    assert (moved.kind, moved.include, moved.digest_time) == ("supergroup", ("énergie",), "06:00")
    assert chat_migrated(db, GROUP, SUPER) == 0  # told twice: nothing more moves

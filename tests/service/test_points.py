"""What a message showed, read back to trace its points: its stories as they are now, with
their points' support, the number each story bears in the message (a digest numbers them
across its messages) and the languages a delivered digest was written in."""

from __future__ import annotations

from datetime import UTC, date, datetime

from briefing.service.points import shown_in
from briefing.service.subscribers import subscribe
from briefing.store.db import Database
from briefing.store.deliveries import NewDigest, mark_part, queue_digests, record_message
from briefing.store.models import ArticleRow, BriefRow, DeliveryRow, StoryRow

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
CHAT = "1001"
SENTENCE = "Le pont rouvrira en mai."


def add_story(db: Database, title: str, *, withheld: str | None = None) -> int:
    """A briefed story of one article whose French and English points cite its sentence 2."""
    text = f"{title} est en travaux. {SENTENCE}"
    start = text.index(SENTENCE)
    support = [{"source": "S1", "sentence": 2, "start": start, "end": start + len(SENTENCE),
                "text": SENTENCE}]
    with db.session() as session:
        story = StoryRow(title=title, first_published=NOW, last_published=NOW, version=1,
                         summarised_version=1, briefed_at=NOW, withheld=withheld)
        session.add(story)
        session.flush()
        session.add(ArticleRow(content_hash=title, title=title, outlet="Le Courrier",
                               url=f"https://news.example/{title}", text=text, language="fr",
                               story_id=story.id, published=NOW))
        for lang in ("fr", "en"):
            session.add(BriefRow(story_id=story.id, language=lang, story_version=1,
                                 headline=f"{title} ({lang})",
                                 points=[{"text": f"Rouvre en mai ({lang}).",
                                          "support": support}],
                                 quotes=[], engine="extractive", model=None, usage={},
                                 citations={}))
        return story.id


def test_a_digest_sent_now_numbers_its_stories_across_its_messages(db: Database) -> None:
    a, b, c, d = (add_story(db, name) for name in ("pont", "gare", "quai", "tram"))
    # Three messages of one digest: b is cut between the first two.
    record_message(db, CHAT, "10", [a, b], 0)
    record_message(db, CHAT, "11", [b, c], 1)
    record_message(db, CHAT, "12", [d], 2)
    second = shown_in(db, CHAT, "11", "fr", NOW)
    assert second is not None and second.numbers == {b: 2, c: 3}
    assert [i.story_id for i in second.items] == [b, c]
    third = shown_in(db, CHAT, "12", "fr", NOW)
    assert third is not None and third.numbers == {d: 4}
    # The reader's languages (the argument when not subscribed), and each point's support.
    assert third.languages == ("fr",)
    [brief] = third.items[0].briefs
    assert brief.language == "fr" and brief.points[0].support[0].text == SENTENCE
    # Asked about nothing in particular: the last message sent here.
    last = shown_in(db, CHAT, None, "fr", NOW)
    assert last is not None and last.numbers == {d: 4}


def test_parts_that_cannot_be_found_leave_the_numbers_unknown(db: Database) -> None:
    a, b = add_story(db, "pont"), add_story(db, "gare")
    record_message(db, CHAT, "10", [a], 0)
    record_message(db, CHAT, "11", [a], None)  # another message came in between
    record_message(db, CHAT, "12", [b], 1)
    shown = shown_in(db, CHAT, "12", "fr", NOW)
    assert shown is not None and shown.numbers is None  # unknown, never wrong
    single = shown_in(db, CHAT, "11", "fr", NOW)  # a message of its own: numbered from 1
    assert single is not None and single.numbers == {a: 1}


def test_a_delivered_digest_is_read_in_its_own_languages_and_numbering(db: Database) -> None:
    a, b, c = (add_story(db, name) for name in ("pont", "gare", "quai"))
    reader = subscribe(db, CHAT, languages="fr")[0]  # reads French now; the digest was English
    queue_digests(db, [NewDigest(reader.id, "digest:x", date(2026, 12, 2), ("en",),
                                 (a, b, c))], NOW)
    with db.session() as session:
        delivery = session.query(DeliveryRow).one().id
    mark_part(db, delivery, CHAT, "20", [a, b], NOW, last=False)
    mark_part(db, delivery, CHAT, "21", [c], NOW, last=True)
    shown = shown_in(db, CHAT, "21", "fr", NOW)
    assert shown is not None and shown.numbers == {c: 3} and shown.languages == ("en",)
    assert [brief.language for brief in shown.items[0].briefs] == ["en"]


def test_unknown_messages_and_withheld_stories_are_not_shown(db: Database) -> None:
    a, gone = add_story(db, "pont"), add_story(db, "gare", withheld="too few quotes")
    assert shown_in(db, CHAT, "99", "fr", NOW) is None  # not a message of ours
    assert shown_in(db, CHAT, None, "fr", NOW) is None  # nothing sent here yet
    record_message(db, CHAT, "10", [a, gone])
    shown = shown_in(db, CHAT, "10", "fr", NOW)
    assert shown is not None and [i.story_id for i in shown.items] == [a]
    assert shown.numbers == {a: 1, gone: 2}  # the numbers the message showed stay its own

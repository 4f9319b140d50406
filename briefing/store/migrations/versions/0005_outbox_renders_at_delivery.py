"""the outbox stores what to send (stories, languages, day), not rendered HTML

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:30:00

Upgrade: `deliveries.payload` (the message parts rendered at queue time) is replaced by
`deliveries.languages` and `deliveries.day`; the channel renders at delivery.
`sent_messages.part` numbers the messages of a delivery (unique with `delivery_id`).

Existing rows are kept deliverable, not marked: each row gets its day from its key
(`digest:<reader>:<YYYY-MM-DD>`, else the date it was queued) and the brief languages of
its reader's current setting; its stored HTML is dropped. A pending row is then rendered
afresh from its story ids when it goes out. A row whose first parts were already sent
resumes after them: the parts already sent are numbered here from their sent_messages
(in send order), and the sender, seeing the new rendering start with the same stories,
goes on from the next part, or else sends only the stories those parts did not cover.

No table is rebuilt on SQLite: a rebuild of `deliveries` drops the table that
`sent_messages` references, which the enforced foreign key refuses. So the new columns
are added NOT NULL with a literal server default (kept on SQLite, which cannot drop it
in place; dropped elsewhere), the (delivery, part) pair is a unique index, and columns
are dropped with SQLite's own `ALTER TABLE ... DROP COLUMN` (SQLite 3.35 or later).

Downgrade: the payload column comes back empty (`[]`); a pending row then has nothing the
old code could send, so it is marked failed (last_error says why) rather than left to be
counted sent without a message.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import date, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The reader settings of this revision (the application's own table may change later).
READER_LANGUAGES = {"fr": ["fr"], "en": ["en"], "both": ["fr", "en"]}
KEY_DAY = re.compile(r":(\d{4}-\d{2}-\d{2})$")

deliveries = sa.table(
    "deliveries",
    sa.column("id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("subscriber_id", sa.Integer()),
    sa.column("state", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("languages", sa.JSON()),
    sa.column("day", sa.Date()),
    sa.column("payload", sa.JSON()),
    sa.column("last_error", sa.Text()),
)
subscribers = sa.table("subscribers", sa.column("id", sa.Integer()),
                       sa.column("languages", sa.String()))
sent_messages = sa.table("sent_messages", sa.column("id", sa.Integer()),
                         sa.column("delivery_id", sa.Integer()), sa.column("part", sa.Integer()))


def _day(key: str, created_at: datetime | str | None) -> date:
    match = KEY_DAY.search(key)
    if match:
        try:
            return date.fromisoformat(match.group(1))
        except ValueError:
            pass
    if isinstance(created_at, datetime):
        return created_at.date()
    if isinstance(created_at, str):  # SQLite hands back text to a bare sa.table
        return date.fromisoformat(created_at[:10])
    return date(1970, 1, 1)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def _drop_column(table: str, column: str) -> None:
    if not _sqlite():
        op.drop_column(table, column)
        return
    if sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(f"migration 0005 needs SQLite 3.35 or later to drop {table}.{column} "
                           f"in place (this is {sqlite3.sqlite_version})")
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def upgrade() -> None:
    # Literal server defaults: SQLite adds such a NOT NULL column in place (see above).
    op.add_column("deliveries", sa.Column("languages", sa.JSON(), nullable=False,
                                          server_default="[]"))
    op.add_column("deliveries", sa.Column("day", sa.Date(), nullable=False,
                                          server_default="1970-01-01"))
    op.add_column("sent_messages", sa.Column("part", sa.Integer(), nullable=True))

    bind = op.get_bind()
    settings = dict(bind.execute(sa.select(subscribers.c.id, subscribers.c.languages)).all())
    rows = bind.execute(sa.select(deliveries.c.id, deliveries.c.key, deliveries.c.subscriber_id,
                                  deliveries.c.created_at)).all()
    for row in rows:
        languages = READER_LANGUAGES.get(settings.get(row.subscriber_id) or "", ["fr", "en"])
        bind.execute(deliveries.update().where(deliveries.c.id == row.id)
                     .values(languages=languages, day=_day(row.key, row.created_at)))
    # Number the messages already sent for each delivery, in the order they were recorded.
    numbered: dict[int, int] = {}
    for message_id, delivery_id in bind.execute(
            sa.select(sent_messages.c.id, sent_messages.c.delivery_id)
            .where(sent_messages.c.delivery_id.is_not(None))
            .order_by(sent_messages.c.delivery_id, sent_messages.c.id)).all():
        part = numbered.get(delivery_id, 0)
        numbered[delivery_id] = part + 1
        bind.execute(sent_messages.update().where(sent_messages.c.id == message_id)
                     .values(part=part))

    if not _sqlite():  # the application always says what to send: no default wanted
        op.alter_column("deliveries", "languages", server_default=None)
        op.alter_column("deliveries", "day", server_default=None)
    _drop_column("deliveries", "payload")
    op.create_index("ix_sent_delivery_part", "sent_messages", ["delivery_id", "part"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ix_sent_delivery_part", table_name="sent_messages")
    _drop_column("sent_messages", "part")
    op.add_column("deliveries", sa.Column("payload", sa.JSON(), nullable=False,
                                          server_default="[]"))
    bind = op.get_bind()
    bind.execute(deliveries.update().where(deliveries.c.state == "pending")
                 .values(state="failed",
                         last_error="downgraded below 0005: the digest was never rendered"))
    if not _sqlite():
        op.alter_column("deliveries", "payload", server_default=None)
    _drop_column("deliveries", "day")
    _drop_column("deliveries", "languages")

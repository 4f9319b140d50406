"""subscribers become targets: a private chat, a group, a forum topic or a channel, each
with a reader's settings and keyword filters

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:30:00

A target is anywhere the bot posts. The table keeps its name and its rows, so every
setting and every delivery of today's readers carries over: each becomes a target of
kind "private". New columns: `kind` (private, group, supergroup, channel), `thread_id`
(the forum topic, 0 for the chat itself), `title` (a group's or channel's name), and
`filters_include` / `filters_exclude` (words and phrases, see briefing.stories.filters).

`chat_id` stays the unique address of a target: the chat id, and for a forum topic the
chat id, a colon and the topic's thread id ("-1001234567890:42"), so two topics of one
group are two targets. The unique constraint on `chat_id` cannot be changed on SQLite
without rebuilding the table, which the foreign key from `deliveries` refuses (see 0005);
the address keeps it meaningful instead.

Plain ADD COLUMNs with literal server defaults (kept on SQLite, which cannot drop them in
place). Downgrade drops the columns: groups, topics and channels then read as private
chats, and their filters are lost.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("kind", sa.String(length=20), nullable=False,
                                           server_default="private"))
    op.add_column("subscribers", sa.Column("thread_id", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("subscribers", sa.Column("title", sa.String(length=300), nullable=True))
    for name in ("filters_include", "filters_exclude"):
        op.add_column("subscribers", sa.Column(name, sa.JSON(), nullable=False,
                                               server_default=sa.text("'[]'")))


def downgrade() -> None:
    for name in ("filters_exclude", "filters_include", "title", "thread_id", "kind"):
        op.drop_column("subscribers", name)

"""live posts and updates: a target's schedule, and what an outbox row shows or changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:30:00

`subscribers.schedule`: "digest" (a daily digest, as every row had) or "live" (each story
posted once confirmed, then updated; the daily digest keeps what was not posted).
`deliveries.story_version`: the version of the story a live post or an update shows, so a
story that changed since is updated once per version. `deliveries.target_message` and
`deliveries.action`: the message an update edits ("edit") or answers ("reply").
Plain ADD COLUMNs (literal server defaults kept on SQLite, as in 0005-0007).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("schedule", sa.String(length=10), nullable=False,
                                           server_default="digest"))
    op.add_column("deliveries", sa.Column("story_version", sa.Integer(), nullable=True))
    op.add_column("deliveries", sa.Column("target_message", sa.String(length=100),
                                          nullable=True))
    op.add_column("deliveries", sa.Column("action", sa.String(length=10), nullable=True))


def downgrade() -> None:
    for name in ("action", "target_message", "story_version"):
        op.drop_column("deliveries", name)
    op.drop_column("subscribers", "schedule")

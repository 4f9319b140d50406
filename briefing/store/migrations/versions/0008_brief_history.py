"""brief_history: every version of a story's brief, with the sources it was made from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:00:00

`briefs` holds a story's current brief per language; `brief_history` keeps one row per
summary of a story version and language: its headline, points (their text), how many
sources it stood on and their names, so `/story N` can show how a story grew ("3 → 5
sources: + Reuters, + Le Monde") and what its brief said at each step. A new table: no
existing row changes. Stories briefed before it have no history until briefed again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "brief_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("story_version", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("withheld", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("story_id", "story_version", "language",
                            name="uq_brief_history_version"),
    )


def downgrade() -> None:
    op.drop_table("brief_history")

"""stories.briefed_at (digests follow arrival), stories.withheld, briefs.original_language

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("briefed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withheld", sa.Text(), nullable=True))
        batch_op.create_index("ix_stories_briefed_at", ["briefed_at"], unique=False)
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_language", sa.String(length=10), nullable=True))
    # Stories briefed before this migration: their last update is the best guess of when.
    op.execute("UPDATE stories SET briefed_at = updated_at WHERE summarised_version > 0")


def downgrade() -> None:
    with op.batch_alter_table("briefs", schema=None) as batch_op:
        batch_op.drop_column("original_language")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index("ix_stories_briefed_at")
        batch_op.drop_column("withheld")
        batch_op.drop_column("briefed_at")

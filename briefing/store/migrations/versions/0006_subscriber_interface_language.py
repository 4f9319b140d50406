"""subscribers.interface_language: the language a reader's Telegram speaks, so a digest
sent at its time has its header and buttons in that language, not in the first brief's

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:30:00

A plain ADD COLUMN (no table rebuild on SQLite: see 0005 on why rebuilds are avoided).
Readers stored before it have none until they next talk to the bot; their digests keep
the first brief language, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("interface_language", sa.String(length=10),
                                           nullable=True))


def downgrade() -> None:
    op.drop_column("subscribers", "interface_language")

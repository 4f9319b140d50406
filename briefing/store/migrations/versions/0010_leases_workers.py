"""several workers on one store: leases, workers, Telegram updates taken in, send pace

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 22:00:00

`leases`: a claim on shared work (a feed, a story, an outbox row, the Telegram poller)
held by one worker until released or expired. `workers`: the `briefing run` processes and
their heartbeat. `telegram_updates`: the updates already taken in (handled once whichever
worker gets them; the highest is the polling offset). `send_pace`: the next free send slot
of each lane and chat, shared by every worker.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_leases_holder", "leases", ["holder"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "telegram_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_table(
        "send_pace",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("next_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("send_pace")
    op.drop_table("telegram_updates")
    op.drop_table("workers")
    op.drop_index("ix_leases_holder", table_name="leases")
    op.drop_table("leases")

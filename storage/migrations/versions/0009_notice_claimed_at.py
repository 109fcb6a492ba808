"""notices.claimed_at: when a relay claimed a notice, so requeue_stuck judges a claim by its own age

Revision ID: 0009_notice_claimed_at
Revises: 0008_early_status_callbacks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0009_notice_claimed_at"
down_revision = "0008_early_status_callbacks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no backfill: rows in ``posting`` from before it are judged by created_at, as they were.
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")

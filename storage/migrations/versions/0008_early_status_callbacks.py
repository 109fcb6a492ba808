"""early status callbacks: delivery reports that arrived before their text's SID was recorded

Revision ID: 0008_early_status_callbacks
Revises: 0007_slack
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0008_early_status_callbacks"
down_revision = "0007_slack"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "early_status_callbacks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_status_callbacks")),
        sa.UniqueConstraint(
            "provider_sid", "status", name=op.f("uq_early_status_callbacks_provider_sid_status")
        ),
    )
    with op.batch_alter_table("early_status_callbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_early_status_callbacks_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("early_status_callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_early_status_callbacks_received_at"))
    op.drop_table("early_status_callbacks")

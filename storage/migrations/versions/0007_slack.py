"""slack threads: the DM thread and control message of each conversation in Slack

Revision ID: 0007_slack
Revises: 0004_assignment
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007_slack"
down_revision = "0004_assignment"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "slack_threads",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=False),
        sa.Column("control_ts", sa.String(length=32), nullable=True),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_slack_threads_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_slack_threads_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_threads")),
        sa.UniqueConstraint("contact_id", "user_id", name=op.f("uq_slack_threads_contact_id_user_id")),
    )
    with op.batch_alter_table("slack_threads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_threads_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_threads_user_id"))
    op.drop_table("slack_threads")

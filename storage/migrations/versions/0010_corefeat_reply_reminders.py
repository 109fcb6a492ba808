"""reply reminders: campaigns.reply_reminder_minutes (default 10, 0 = off) and when each texter was last
reminded of the replies they hold in a campaign

Revision ID: 0010_corefeat
Revises: 0009_notice_claimed_at
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_corefeat"
down_revision = "0009_notice_claimed_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reply_reminder_minutes", sa.Integer(), nullable=False, server_default="10")
        )
    # A reminder must come before Release Unhandled Replies: where the release comes at 10 minutes or
    # sooner, reminders start off (an admin sets a shorter one).
    op.execute(
        "UPDATE campaigns SET reply_reminder_minutes = 0 "
        "WHERE release_unhandled_after_minutes IS NOT NULL AND release_unhandled_after_minutes <= 10"
    )
    op.create_table(
        "reply_reminders",
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_reply_reminders_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reply_reminders_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "user_id", name=op.f("pk_reply_reminders")),
    )


def downgrade() -> None:
    op.drop_table("reply_reminders")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("reply_reminder_minutes")

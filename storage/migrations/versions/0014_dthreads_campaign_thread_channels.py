"""dthreads: a campaign's own channel for conversation threads; a conversation thread can be closed

``campaign_thread_channels``: the channel a campaign's threads open in, per platform workspace (a Discord
server); the server-wide choice (``workspace_links.thread_channel_id``) stays as the fallback.
``chat_threads.closed``: the platform's thread is closed (a Discord thread archived) because its
conversation finished; existing threads are open.

Revision ID: 0014_dthreads
Revises: 0013_discord2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_dthreads"
down_revision = "0013_discord2"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaign_thread_channels",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("chosen_by", BigId, nullable=True),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_thread_channels_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["chosen_by"],
            ["users.id"],
            name=op.f("fk_campaign_thread_channels_chosen_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_thread_channels")),
        sa.UniqueConstraint(
            "campaign_id",
            "platform",
            "workspace_id",
            name=op.f("uq_campaign_thread_channels_campaign_id_platform_workspace_id"),
        ),
    )
    with op.batch_alter_table("chat_threads") as batch:
        batch.add_column(sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("chat_threads") as batch:
        batch.drop_column("closed")
    op.drop_table("campaign_thread_channels")

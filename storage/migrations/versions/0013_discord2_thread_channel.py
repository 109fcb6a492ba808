"""discord: the channel a server's conversation threads are opened in (workspace_links.thread_channel_id)

Revision ID: 0013_discord2
Revises: 0012_chat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_discord2"
down_revision = "0012_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspace_links") as batch:
        batch.add_column(sa.Column("thread_channel_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspace_links") as batch:
        batch.drop_column("thread_channel_id")

"""chat layer: conversation threads for every platform (slack_threads -> chat_threads), reply drafts

``chat_threads`` gets a ``platform`` column and a lease (owner, expiry); today's ``slack_threads`` rows are
copied into it with platform "slack" (thread_ts -> thread_id, control_ts -> control_id), nothing lost.
``reply_drafts`` holds the reply a texter is about to send, so buttons carry ids only.

Revision ID: 0012_chat
Revises: 0011_corefeat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0012_chat"
down_revision = "0011_corefeat"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chat_threads",
        sa.Column("id", BigId, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("control_id", sa.String(length=64), nullable=True),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_chat_threads_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_chat_threads_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_threads")),
        sa.UniqueConstraint(
            "platform", "contact_id", "user_id", name=op.f("uq_chat_threads_platform_contact_id_user_id")
        ),
    )
    with op.batch_alter_table("chat_threads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_threads_user_id"), ["user_id"], unique=False)
    op.execute(
        "INSERT INTO chat_threads (id, platform, contact_id, user_id, channel_id, thread_id, control_id, "
        "last_message_id, created_at) SELECT id, 'slack', contact_id, user_id, channel_id, thread_ts, control_ts, "
        "last_message_id, created_at FROM slack_threads"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('chat_threads', 'id'), "
            "COALESCE((SELECT MAX(id) FROM chat_threads), 0) + 1, false)"
        )
    with op.batch_alter_table("slack_threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_threads_user_id"))
    op.drop_table("slack_threads")

    op.create_table(
        "reply_drafts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("cell", sa.String(length=32), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_reply_drafts_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reply_drafts_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_drafts")),
        sa.UniqueConstraint("user_id", "contact_id", name=op.f("uq_reply_drafts_user_id_contact_id")),
    )
    with op.batch_alter_table("reply_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reply_drafts_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reply_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reply_drafts_user_id"))
    op.drop_table("reply_drafts")
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
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_slack_threads_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_threads")),
        sa.UniqueConstraint("contact_id", "user_id", name=op.f("uq_slack_threads_contact_id_user_id")),
    )
    with op.batch_alter_table("slack_threads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_threads_user_id"), ["user_id"], unique=False)
    op.execute(
        "INSERT INTO slack_threads (id, contact_id, user_id, channel_id, thread_ts, control_ts, last_message_id, "
        "created_at) SELECT id, contact_id, user_id, channel_id, thread_id, control_id, last_message_id, created_at "
        "FROM chat_threads WHERE platform = 'slack'"
    )
    with op.batch_alter_table("chat_threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_threads_user_id"))
    op.drop_table("chat_threads")

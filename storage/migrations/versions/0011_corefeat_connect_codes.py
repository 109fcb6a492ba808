"""connect codes: one-time codes (kept hashed) that link a Slack workspace or Discord guild to an organization

Revision ID: 0011_corefeat
Revises: 0010_corefeat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_corefeat"
down_revision = "0010_corefeat"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "connect_codes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("organization_id", BigId, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_user_id", BigId, nullable=True),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_user_id", BigId, nullable=True),
        sa.Column("used_platform", sa.String(length=20), nullable=True),
        sa.Column("used_workspace_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_connect_codes_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_connect_codes_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["used_by_user_id"], ["users.id"], name=op.f("fk_connect_codes_used_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_connect_codes_code_hash")),
    )
    with op.batch_alter_table("connect_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connect_codes_organization_id"), ["organization_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("connect_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connect_codes_organization_id"))
    op.drop_table("connect_codes")

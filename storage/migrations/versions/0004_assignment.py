"""assignment: a partial index of each campaign's unassigned contacts, for the claim's pick in id order

Revision ID: 0004_assignment
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_assignment"
down_revision = "0001"
branch_labels = None
depends_on = None

UNASSIGNED = sa.text("assigned_user_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_unassigned_pool",
            ["campaign_id", "status", "id"],
            unique=False,
            postgresql_where=UNASSIGNED,
            sqlite_where=UNASSIGNED,
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_unassigned_pool")

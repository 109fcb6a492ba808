"""idle: when each platform identity's profile was last read from its platform

``platform_identities.profile_checked_at``: set when the person is entered from their platform profile
and whenever it is read again, so every ``textbank run`` process knows a known texter's name and admin
flag are fresh without asking the platform (Slack ``users.info``) on its own first click. Existing rows
are NULL: read again on their next click.

Revision ID: 0015_idle
Revises: 0014_dthreads
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_idle"
down_revision = "0014_dthreads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("platform_identities") as batch:
        batch.add_column(sa.Column("profile_checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("platform_identities") as batch:
        batch.drop_column("profile_checked_at")

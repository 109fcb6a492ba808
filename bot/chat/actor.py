"""Who is asking: a textbank user as a platform identity knows them (plain values, no ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass

from core import orgs
from storage.models import User


@dataclass(frozen=True)
class Actor:
    """A platform user as textbank knows them; core calls load the ``User`` again in their own session."""

    user_id: int
    name: str
    role: str
    org_id: int
    platform: str
    workspace_id: str  # Slack team id, Discord guild id
    platform_user_id: str

    @property
    def is_admin(self) -> bool:
        return self.role in orgs.ADMIN_ROLES

    @classmethod
    def of(cls, user: User, org_id: int, platform: str, workspace_id: str, platform_user_id: str) -> Actor:
        return cls(user.id, user.name, user.role, org_id, platform, workspace_id, platform_user_id)

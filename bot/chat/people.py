"""Who is asking: the textbank user behind a platform identity, entered by core's rule when new.

The platform supplies a ``Profile`` (name and whether it makes them an admin: Slack's workspace admin
flag, Discord's Manage Server permission); core's ``orgs.enter_workspace_user`` picks the role. A known
admin is answered from the database alone; a known texter's profile is looked up again now and then
(``AdminChecks``), so a promotion on the platform shows soon without a lookup on every click.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from bot.chat.actor import Actor
from bot.dbwork import DbWork
from core import orgs

ADMIN_RECHECK_SECONDS = 300.0


@dataclass(frozen=True)
class Profile:
    name: str
    platform_admin: bool
    failed: bool = False  # the lookup failed: keep what is known, rename nobody


ProfileLookup = Callable[[], Awaitable[Profile]]


@dataclass
class AdminChecks:
    """When each known texter's platform admin flag was last looked up."""

    every: float = ADMIN_RECHECK_SECONDS
    last: dict[tuple[str, str], float] = field(default_factory=dict)

    def due(self, workspace_id: str, platform_user_id: str) -> bool:
        seen = self.last.get((workspace_id, platform_user_id))
        return seen is None or time.monotonic() - seen >= self.every

    def looked_up(self, workspace_id: str, platform_user_id: str) -> None:
        self.last[(workspace_id, platform_user_id)] = time.monotonic()


def _known(session: Session, platform: str, workspace_id: str, platform_user_id: str) -> Actor | None:
    org = orgs.organization_for_workspace(session, platform, workspace_id)
    identity = orgs.find_identity(session, platform, workspace_id, platform_user_id)
    if org is None or identity is None:
        return None
    user = orgs.get_user(session, identity.user_id)
    return Actor.of(user, org.id, platform, workspace_id, platform_user_id)


async def resolve_actor(
    work: DbWork,
    platform: str,
    workspace_id: str,
    platform_user_id: str,
    lookup: ProfileLookup,
    *,
    org_name: str = orgs.DEFAULT_ORG_NAME,
    checks: AdminChecks | None = None,
) -> Actor:
    """The textbank user behind ``platform_user_id`` (entered, or promoted, by core's rule)."""
    known = await work.read(lambda s: _known(s, platform, workspace_id, platform_user_id))
    if known is not None and (
        known.is_admin or checks is None or not checks.due(workspace_id, platform_user_id)
    ):
        return known
    profile = await lookup()
    if checks is not None:
        checks.looked_up(workspace_id, platform_user_id)
    if known is not None and (profile.failed or not profile.platform_admin):
        return known  # nothing to change (and a failed lookup must not rename them to their id)

    def enter(session: Session) -> Actor:
        user = orgs.enter_workspace_user(
            session,
            platform=platform,
            workspace_id=workspace_id,
            platform_user_id=platform_user_id,
            name=profile.name,
            platform_admin=profile.platform_admin,
            org_name=org_name,
        )
        return Actor.of(user, user.organization_id, platform, workspace_id, platform_user_id)

    return await work.write(enter)

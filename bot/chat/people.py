"""Who is asking: the textbank user behind a platform identity, entered by core's rule when new.

The platform supplies a ``Profile`` (name and whether it makes them an admin: Slack's workspace admin
flag, Discord's Manage Server permission); core's ``orgs.enter_workspace_user`` picks the role. A known
admin is answered from the database alone; a known texter's profile is looked up again now and then
(``AdminChecks``), so a promotion on the platform shows soon without a lookup on every click. When it was
last read is kept on the identity row, so a texter entered (or checked) by one process is not looked up
again by every other process on their first click there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.chat.actor import Actor
from bot.dbwork import DbWork
from core import orgs
from storage.types import utcnow

ADMIN_RECHECK_SECONDS = 300.0


@dataclass(frozen=True)
class Profile:
    name: str
    platform_admin: bool
    failed: bool = False  # the lookup failed: keep what is known, rename nobody


ProfileLookup = Callable[[], Awaitable[Profile]]


@dataclass
class AdminChecks:
    """How often a known texter's platform profile (admin flag, name) is looked up again."""

    every: float = ADMIN_RECHECK_SECONDS

    def due(self, checked_at: datetime | None, now: datetime) -> bool:
        return checked_at is None or now - checked_at >= timedelta(seconds=self.every)


@dataclass(frozen=True)
class _Known:
    actor: Actor
    profile_checked_at: datetime | None


def _known(session: Session, platform: str, workspace_id: str, platform_user_id: str) -> _Known | None:
    org = orgs.organization_for_workspace(session, platform, workspace_id)
    identity = orgs.find_identity(session, platform, workspace_id, platform_user_id)
    if org is None or identity is None:
        return None
    user = orgs.get_user(session, identity.user_id)
    actor = Actor.of(user, org.id, platform, workspace_id, platform_user_id)
    return _Known(actor, identity.profile_checked_at)


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
        known.actor.is_admin or checks is None or not checks.due(known.profile_checked_at, utcnow())
    ):
        return known.actor
    profile = await lookup()
    if known is not None and (profile.failed or not profile.platform_admin):
        # Nothing to change but the time (and the display name: a failed lookup must not rename them to
        # their id); a failure is recorded too, so a platform that fails is not asked on every click.
        name = None if profile.failed else profile.name
        await work.write(lambda s: orgs.profile_checked(s, platform, workspace_id, platform_user_id, name))
        return known.actor

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

"""Who is asking: the organization a Slack workspace belongs to and the textbank user behind a Slack user.

Every handler starts here. Core code is synchronous SQLAlchemy, so it runs in a worker thread
(``in_session``) and the event loop keeps acking other clicks meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from core import orgs
from storage.engine import Database
from storage.models import User

PLATFORM = "slack"
# The adapter's own database threads: the default executor has only cores + 4, too few for a burst of clicks
# and relay posts that each wait a few milliseconds on the database.
DB_THREADS = 16
_EXECUTOR = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="slack-db")
# How often a known texter's Slack admin flag is looked up again (a promotion in Slack shows this soon).
ADMIN_RECHECK_SECONDS = 300.0
T = TypeVar("T")
log = logging.getLogger("textbank.slack")


def db_executor() -> ThreadPoolExecutor:
    """The adapter's database threads (for pieces that schedule their own database work)."""
    return _EXECUTOR


async def in_session(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one write transaction in a worker thread (rolled back if it raises)."""

    def run() -> T:
        with db.session() as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, run)


async def in_read(db: Database, work: Callable[[Session], T]) -> T:
    def run() -> T:
        with db.read() as session:
            result = work(session)
            # Detach what was loaded so the read transaction's rollback does not expire it.
            session.expunge_all()
            return result

    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, run)


@dataclass(frozen=True)
class Actor:
    """A Slack user as textbank knows them (plain values: core calls load the user in their own session)."""

    user_id: int
    name: str
    role: str
    org_id: int
    team_id: str
    slack_user_id: str

    @property
    def is_admin(self) -> bool:
        return self.role in orgs.ADMIN_ROLES

    @classmethod
    def of(cls, user: User, org_id: int, team_id: str, slack_user_id: str) -> Actor:
        return cls(user.id, user.name, user.role, org_id, team_id, slack_user_id)


@dataclass(frozen=True)
class SlackProfile:
    name: str
    workspace_admin: bool
    failed: bool = False


async def slack_profile(client: AsyncWebClient, slack_user_id: str) -> SlackProfile:
    """Name and admin flag from users.info (a failure leaves the person a texter with their id as name)."""
    try:
        response = await client.users_info(user=slack_user_id)
    except SlackApiError as exc:
        log.warning("users.info %s failed: %s", slack_user_id, exc.response.get("error"))
        return SlackProfile(slack_user_id, False, failed=True)
    info: dict[str, Any] = response.get("user") or {}
    profile = info.get("profile") or {}
    name = (
        profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name")
    )
    admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
    return SlackProfile(name or slack_user_id, admin)


def _known(session: Session, team_id: str, slack_user_id: str) -> Actor | None:
    org = orgs.organization_for_workspace(session, PLATFORM, team_id)
    identity = orgs.find_identity(session, PLATFORM, team_id, slack_user_id)
    if org is None or identity is None:
        return None
    return Actor.of(orgs.get_user(session, identity.user_id), org.id, team_id, slack_user_id)


@dataclass
class AdminChecks:
    """When each known texter's Slack admin flag was last looked up (users.info), to promote them.

    Looking it up on every click would cost a Web API call per click; once every ``every`` seconds per
    person is enough for a promotion to show.
    """

    every: float = ADMIN_RECHECK_SECONDS
    last: dict[tuple[str, str], float] = field(default_factory=dict)

    def due(self, team_id: str, slack_user_id: str) -> bool:
        seen = self.last.get((team_id, slack_user_id))
        return seen is None or time.monotonic() - seen >= self.every

    def looked_up(self, team_id: str, slack_user_id: str) -> None:
        self.last[(team_id, slack_user_id)] = time.monotonic()


async def resolve_actor(
    db: Database,
    client: AsyncWebClient,
    team_id: str,
    slack_user_id: str,
    org_name: str = orgs.DEFAULT_ORG_NAME,
    checks: AdminChecks | None = None,
) -> Actor:
    """The textbank user behind ``slack_user_id``: core's ``orgs.enter_workspace_user`` picks the role.

    A known admin or owner is answered from the database alone. A known texter is looked up in Slack
    again when ``checks`` says it is time, and promoted by core if they have become a workspace admin.
    """
    known = await in_read(db, lambda s: _known(s, team_id, slack_user_id))
    if known is not None and (known.is_admin or checks is None or not checks.due(team_id, slack_user_id)):
        return known
    profile = await slack_profile(client, slack_user_id)
    if checks is not None:
        checks.looked_up(team_id, slack_user_id)
    if known is not None and (profile.failed or not profile.workspace_admin):
        return known  # nothing to change (and a failed look-up must not rename them to their id)

    def enter(session: Session) -> Actor:
        user = orgs.enter_workspace_user(
            session,
            platform=PLATFORM,
            workspace_id=team_id,
            platform_user_id=slack_user_id,
            name=profile.name,
            platform_admin=profile.workspace_admin,
            org_name=org_name,
        )
        return Actor.of(user, user.organization_id, team_id, slack_user_id)

    return await in_session(db, enter)


async def resolve_user_ref(db: Database, client: AsyncWebClient, actor: Actor, slack_user_id: str) -> Actor:
    """Another Slack user named in a command (``<@U123>``), entered by core's rule if new."""
    return await resolve_actor(db, client, actor.team_id, slack_user_id)

"""Who holds an escalated conversation, and telling them about it.

An escalated conversation belongs to the organization's admins (``escalated_team_id`` NULL) or to the
members of the team it was escalated to. ``holders`` finds them with one pre-built statement (it runs on
the inbound webhook's hot path) together with the chat platforms each uses, so ``notify_holders`` can
write every notice in one INSERT: one row per platform a holder uses, or one ``cli`` row for a holder
with no chat account, exactly as ``core.notices.add_notice`` does one user at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, null, select

from core.notices import CHAT_PLATFORMS
from core.orgs import ADMIN_ROLES
from storage.models import Notice, PlatformIdentity, Team, TeamMember, User

_users = User.__table__
_identities = PlatformIdentity.__table__
_teams = Team.__table__
_members = TeamMember.__table__
_notices = Notice.__table__


def _chat_identity(user_id: Any) -> Any:
    return and_(_identities.c.user_id == user_id, _identities.c.platform.in_(CHAT_PLATFORMS))


_ADMINS = (
    select(_users.c.id.label("user_id"), _identities.c.platform, null().label("team_name"))
    .select_from(_users.outerjoin(_identities, _chat_identity(_users.c.id)))
    .where(_users.c.organization_id == bindparam("org"), _users.c.role.in_(ADMIN_ROLES))
)
# The team's name comes back even when it has no members (user_id NULL then), for the payload.
_TEAM = (
    select(_members.c.user_id, _identities.c.platform, _teams.c.name.label("team_name"))
    .select_from(
        _teams.outerjoin(_members, _members.c.team_id == _teams.c.id).outerjoin(
            _identities, _chat_identity(_members.c.user_id)
        )
    )
    .where(_teams.c.id == bindparam("team"), _teams.c.organization_id == bindparam("org"))
)
_INSERT_NOTICE = insert(_notices)


@dataclass(frozen=True)
class Holders:
    """The holders of an escalated conversation and the chat platforms each uses (empty: none)."""

    team_name: str | None
    platforms: Mapping[int, tuple[str, ...]]

    @property
    def user_ids(self) -> list[int]:
        return sorted(self.platforms)


def holders(conn: Connection, organization_id: int, team_id: int | None) -> Holders:
    """The admins of ``organization_id`` (``team_id`` None) or the members of its team ``team_id``."""
    if team_id is None:
        rows = conn.execute(_ADMINS, {"org": organization_id}).all()
    else:
        rows = conn.execute(_TEAM, {"org": organization_id, "team": team_id}).all()
    platforms: dict[int, set[str]] = {}
    for row in rows:
        if row.user_id is not None:
            found = platforms.setdefault(int(row.user_id), set())
            if row.platform is not None:
                found.add(row.platform)
    return Holders(
        team_name=rows[0].team_name if rows else None,
        platforms={user: tuple(sorted(names)) for user, names in platforms.items()},
    )


def notify_holders(
    conn: Connection,
    found: Holders,
    *,
    kind: str,
    contact_id: int,
    campaign_id: int,
    message_id: int | None,
    payload: dict[str, Any],
) -> list[int]:
    """Write ``kind`` for every holder, in one statement; returns the users told."""
    told = found.user_ids
    rows = [
        {
            "platform": platform,
            "user_id": user,
            "kind": kind,
            "contact_id": contact_id,
            "campaign_id": campaign_id,
            "message_id": message_id,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
        }
        for user in told
        for platform in (found.platforms[user] or ("cli",))
    ]
    if rows:
        conn.execute(_INSERT_NOTICE, rows)
    return told

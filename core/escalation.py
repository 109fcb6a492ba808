"""Who holds an escalated conversation: the organization's admins (``escalated_team_id`` NULL) or the members
of the team it was escalated to.

``holders`` is one pre-built statement (it runs on the inbound webhook's hot path, for escalated
conversations only) returning the users and the team's name, which notices about the conversation carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, null, select
from sqlalchemy.orm import Session

from core.orgs import ADMIN_ROLES
from storage.models import Team, TeamMember, User

_users = User.__table__
_teams = Team.__table__
_members = TeamMember.__table__

_ADMINS = (
    select(_users.c.id.label("user_id"), null().label("team_name"))
    .where(_users.c.organization_id == bindparam("org"), _users.c.role.in_(ADMIN_ROLES))
    .order_by(_users.c.id)
)
# The team's name comes back even when it has no members (one row, user_id NULL).
_TEAM = (
    select(_members.c.user_id, _teams.c.name.label("team_name"))
    .select_from(_teams.outerjoin(_members, _members.c.team_id == _teams.c.id))
    .where(_teams.c.id == bindparam("team"), _teams.c.organization_id == bindparam("org"))
    .order_by(_members.c.user_id)
)


@dataclass(frozen=True)
class Holders:
    user_ids: tuple[int, ...]
    # The team it was escalated to; None for the admins.
    team_name: str | None


def holders(session: Session, organization_id: int, team_id: int | None) -> Holders:
    """The admins of ``organization_id`` (``team_id`` None), or the members of its team ``team_id``."""
    if team_id is None:
        rows = session.connection().execute(_ADMINS, {"org": organization_id}).all()
    else:
        rows = session.connection().execute(_TEAM, {"org": organization_id, "team": team_id}).all()
    return Holders(
        user_ids=tuple(int(row.user_id) for row in rows if row.user_id is not None),
        team_name=rows[0].team_name if rows else None,
    )

"""Join tokens: the self-assignment link of seed 002, posted as a join message with a button.

One token per campaign, kind (initials | replies) and team. Joining adds the user to the team and to the
campaign. A join that cannot work says which reason holds (not launched, dynamic assignment off,
archived, unknown link) instead of Spoke's "Something went wrong".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.assignment import KINDS
from core.errors import Forbidden, NotFound, Refused
from core.orgs import require_admin
from storage.models import Campaign, CampaignTexter, JoinToken, Team, TeamMember, User


@dataclass(frozen=True)
class JoinResult:
    campaign_id: int
    campaign_title: str
    kind: str
    team_name: str | None
    # False when the user was already a texter in the campaign (clicking twice is harmless).
    joined: bool


def _insert_ignore(session: Session, model: type, **values: object) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when a row was written (a double click races safely)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = model.__table__  # type: ignore[attr-defined]
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # rowcount is not reliable for this statement on every driver: RETURNING says whether a row went in.
    return session.execute(statement.returning(*table.primary_key.columns)).first() is not None


def _team(session: Session, organization_id: int, name: str) -> Team:
    name = name.strip()
    if not name:
        raise Refused("the team name is empty: give a name, or leave the team out")
    _insert_ignore(session, Team, organization_id=organization_id, name=name)
    team = session.scalars(
        select(Team).where(Team.organization_id == organization_id, Team.name == name)
    ).one()
    return team


def create_join_token(
    session: Session, actor: User, campaign: Campaign, kind: str, team_name: str | None = None
) -> JoinToken:
    """The join token for ``campaign``/``kind``/team (admin); the existing one is reused."""
    require_admin(actor)
    if actor.organization_id != campaign.organization_id:
        raise Forbidden(f"the campaign {campaign.title!r} belongs to another organization")
    if kind not in KINDS:
        raise Refused(f"unknown link kind {kind!r}: use initials or replies")
    if campaign.status == "archived":
        raise Refused(f"the campaign {campaign.title!r} is archived: no one can join it")
    if campaign.kind == "adhoc" and kind == "initials":
        raise Refused(
            f"{campaign.title!r} has no initials to send (texters start those conversations themselves): "
            "post a replies link instead, so texters can take the replies waiting there"
        )
    team = _team(session, campaign.organization_id, team_name) if team_name is not None else None
    team_id = team.id if team else None
    query = select(JoinToken).where(JoinToken.campaign_id == campaign.id, JoinToken.kind == kind)
    query = query.where(JoinToken.team_id.is_(None) if team_id is None else JoinToken.team_id == team_id)
    existing = session.scalars(query.order_by(JoinToken.id)).first()
    if existing is not None:
        return existing
    token = JoinToken(token=secrets.token_urlsafe(16), campaign_id=campaign.id, kind=kind, team_id=team_id)
    session.add(token)
    session.flush()
    return token


def join(session: Session, token: str, user: User) -> JoinResult:
    """Add ``user`` to the token's team and campaign, or refuse with the reason that holds."""
    row = session.scalars(select(JoinToken).where(JoinToken.token == token)).first()
    if row is None:
        raise NotFound("this join link is unknown or was withdrawn: ask an admin to post a new one")
    campaign = session.get(Campaign, row.campaign_id)
    if campaign is None:
        raise NotFound("the campaign of this join link no longer exists: ask an admin for a current link")
    if user.organization_id != campaign.organization_id:
        raise Forbidden("this join link belongs to another organization: ask your own admins for a link")
    if campaign.status == "archived":
        raise Refused(
            f"the campaign {campaign.title!r} is archived: it takes no more texters", code="archived"
        )
    if campaign.status != "launched":
        raise Refused(
            f"the campaign {campaign.title!r} has not launched yet: "
            "click the link again once an admin launches it",
            code="not_launched",
        )
    enabled = campaign.dynamic_initials if row.kind == "initials" else campaign.dynamic_replies
    if not enabled:
        raise Refused(
            f"dynamic assignment for {row.kind} is turned off for this campaign "
            "(an admin turns it on in the campaign's settings)",
            code="dynamic_off",
        )
    team = session.get(Team, row.team_id) if row.team_id is not None else None
    if team is not None:
        _insert_ignore(session, TeamMember, team_id=team.id, user_id=user.id)
    joined = _insert_ignore(session, CampaignTexter, campaign_id=campaign.id, user_id=user.id)
    return JoinResult(
        campaign_id=campaign.id,
        campaign_title=campaign.title,
        kind=row.kind,
        team_name=team.name if team else None,
        joined=joined,
    )

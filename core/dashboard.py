"""The admin dashboard's data (Slack App Home, Discord ``/textbank dashboard``): one call per view.

For the acting admin's organization: its live campaigns with their progress, and what waits on an admin,
each as a count and the first few items (longest waiting first): escalated conversations that need a
response, replies nobody holds in a launched campaign (the pools texters claim from, the ad-hoc texts'
included), and texts whose send is ``unknown`` (a sender died mid-send: an admin checks whether it went).
Numbers are whole: this is an admin's view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, false, func, select, true
from sqlalchemy.orm import Session

from core.orgs import get_organization, require_admin
from core.stats import CampaignStats, stats_by_campaign
from storage.models import Campaign, Contact, Message, OptOut, Team, User

DEFAULT_ITEMS = 5
MAX_ITEMS = 25


@dataclass(frozen=True)
class CampaignProgress:
    campaign_id: int
    title: str
    status: str  # draft | launched
    kind: str  # campaign | adhoc
    stats: CampaignStats


@dataclass(frozen=True)
class WaitingConversation:
    """A conversation that needs a response and that no texter is answering."""

    contact_id: int
    campaign_id: int
    campaign_title: str
    contact_name: str
    cell: str
    # When the contact last wrote (what it has waited since).
    waiting_since: datetime | None
    # Escalated ones: the team it went to (None: the admins).
    team_name: str | None = None


@dataclass(frozen=True)
class UnknownSend:
    """A text whose send was cut off: the provider may or may not have it; it is never sent again."""

    message_id: int
    contact_id: int
    campaign_id: int
    campaign_title: str
    contact_name: str
    cell: str
    body: str
    texter_name: str | None
    # When the send began (else when it was queued).
    since: datetime
    reason: str | None


@dataclass(frozen=True)
class AdminDashboard:
    organization_id: int
    organization_name: str
    # Draft and launched campaigns (the ad-hoc texts too, once they exist), oldest first.
    campaigns: list[CampaignProgress]
    escalated_count: int
    escalated: list[WaitingConversation]
    unassigned_replies_count: int
    unassigned_replies: list[WaitingConversation]
    unknown_sends_count: int
    unknown_sends: list[UnknownSend]

    @property
    def needs_attention(self) -> bool:
        return bool(self.escalated_count or self.unassigned_replies_count or self.unknown_sends_count)


def _name(first: str, last: str) -> str:
    return f"{first} {last}".strip()


def _count(
    session: Session, model: type[Contact] | type[Message], campaign_id: Any, where: Sequence[Any]
) -> int:
    """How many rows of ``model`` (joined to their campaign) match ``where``."""
    query = select(func.count()).select_from(model).join(Campaign, Campaign.id == campaign_id)
    return int(session.scalar(query.where(*where)) or 0)


def _waiting(
    session: Session, org_id: int, condition: ColumnElement[bool], items: int
) -> tuple[int, list[WaitingConversation]]:
    """Count and the longest-waiting ``items`` of the organization's needs_response contacts matching."""
    where = (
        Campaign.organization_id == org_id,
        Contact.status == "needs_response",
        Contact.opted_out == false(),
        condition,
    )
    count = _count(session, Contact, Contact.campaign_id, where)
    rows = session.execute(
        select(
            Contact.id,
            Contact.campaign_id,
            Campaign.title,
            Contact.first_name,
            Contact.last_name,
            Contact.cell,
            Contact.last_inbound_at,
            Team.name,
        )
        .join(Campaign, Campaign.id == Contact.campaign_id)
        .outerjoin(Team, Team.id == Contact.escalated_team_id)
        .where(*where)
        .order_by(Contact.last_inbound_at.is_(None), Contact.last_inbound_at, Contact.id)
        .limit(items)
    ).all()
    return count, [
        WaitingConversation(
            contact_id=row[0],
            campaign_id=row[1],
            campaign_title=row[2],
            contact_name=_name(row[3], row[4]),
            cell=row[5],
            waiting_since=row[6],
            team_name=row[7],
        )
        for row in rows
    ]


def _unknown_sends(session: Session, org_id: int, items: int) -> tuple[int, list[UnknownSend]]:
    where = (Message.status == "unknown", Campaign.organization_id == org_id)
    count = _count(session, Message, Message.campaign_id, where)
    rows = session.execute(
        select(Message, Campaign.title, Contact.first_name, Contact.last_name, User.name)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .join(Contact, Contact.id == Message.contact_id)
        .outerjoin(User, User.id == Message.user_id)
        .where(*where)
        .order_by(Message.id)
        .limit(items)
    ).all()
    sends = []
    for message, title, first, last, texter in rows:
        sends.append(
            UnknownSend(
                message_id=message.id,
                contact_id=message.contact_id,
                campaign_id=message.campaign_id,
                campaign_title=title,
                contact_name=_name(first, last),
                cell=message.cell,
                body=message.body,
                texter_name=texter,
                since=message.sending_started_at or message.created_at,
                reason=message.error_message,
            )
        )
    return count, sends


def admin_dashboard(session: Session, actor: User, *, items: int = DEFAULT_ITEMS) -> AdminDashboard:
    """Everything an admin's dashboard shows for ``actor``'s organization (admin only), in a few queries."""
    require_admin(actor)
    items = max(1, min(items, MAX_ITEMS))
    org = get_organization(session, actor.organization_id)
    live = list(
        session.scalars(
            select(Campaign)
            .where(Campaign.organization_id == org.id, Campaign.status.in_(("draft", "launched")))
            .order_by(Campaign.id)
        )
    )
    progress = stats_by_campaign(session, [c.id for c in live])
    escalated = _waiting(session, org.id, Contact.escalated == true(), items)
    pool = (
        (Contact.assigned_user_id.is_(None))
        & (Contact.escalated == false())
        & (Campaign.status == "launched")
    )
    unassigned = _waiting(session, org.id, pool & _not_listed(), items)
    unknown = _unknown_sends(session, org.id, items)
    return AdminDashboard(
        organization_id=org.id,
        organization_name=org.name,
        campaigns=[CampaignProgress(c.id, c.title, c.status, c.kind, progress[c.id]) for c in live],
        escalated_count=escalated[0],
        escalated=escalated[1],
        unassigned_replies_count=unassigned[0],
        unassigned_replies=unassigned[1],
        unknown_sends_count=unknown[0],
        unknown_sends=unknown[1],
    )


def _not_listed() -> ColumnElement[bool]:
    """The contact's number is not on its organization's list (an import may predate the opt-out)."""
    return ~exists().where(OptOut.organization_id == Campaign.organization_id, OptOut.cell == Contact.cell)

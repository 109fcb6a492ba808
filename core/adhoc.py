"""Ad-hoc texts (seed 001): text a number that has no campaign task, and the home of unknown senders.

Every organization has one campaign of ``kind == "adhoc"`` titled ``ADHOC_TITLE`` (created on first use,
launched, default texting hours, dynamic replies on) holding these conversations; ``campaign list`` shows it
and commands find it by that title. A texter picks where the reply goes:

- ``open``: the conversation is assigned to the texter now ("... and open chat with customer");
- ``me``: it stays unassigned until the contact replies, then it is assigned to the texter who wrote;
- ``anyone``: the reply waits unassigned in the ad-hoc campaign's replies pool, where any texter who joined
  it (a ``link replies`` join message) claims it with Send Replies; the admins get a notice
  (``adhoc_unclaimed``, see ``core.inbound``) so the reply does not sit unseen. A text from a number no
  campaign texted waits there the same way.

``Contact.reply_route`` keeps the choice (``me`` for open and me, ``anyone``). ``complete`` ends the chat:
closed and unassigned; a later reply from the number lands in the unassigned pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.assignment import ensure_member
from core.campaigns import ADHOC_TITLE
from core.conversations import owned_contact
from core.errors import Refused
from core.messages import check_sms_body, contact_zone, queue_outbound
from core.notices import add_finished
from core.optouts import is_opted_out, normalize_or_refuse
from core.phones import mask, zone_for_number
from core.sending import outside_hours
from storage.models import Campaign, Contact, Organization, User
from storage.types import utcnow

ROUTES = ("open", "me", "anyone")


@dataclass(frozen=True)
class AdhocResult:
    contact_id: int
    campaign_id: int
    message_id: int
    route: str
    masked_cell: str
    # True when the conversation is assigned to the texter now (route "open").
    assigned: bool


def adhoc_campaign(session: Session, organization_id: int) -> Campaign:
    """The organization's ad-hoc campaign, created (launched) on first use."""
    query = (
        select(Campaign)
        .where(Campaign.organization_id == organization_id, Campaign.kind == "adhoc")
        .order_by(Campaign.id)
        .limit(1)
    )
    campaign = session.scalars(query).first()
    if campaign is not None:
        return campaign
    # Two first uses at once: the organization row lock makes the second one find the first's campaign.
    session.execute(
        select(Organization.id).where(Organization.id == organization_id).with_for_update()
    ).first()
    campaign = session.scalars(query).first()
    if campaign is not None:
        return campaign
    now = utcnow()
    campaign = Campaign(
        organization_id=organization_id,
        title=ADHOC_TITLE,
        description="texts sent with no campaign task, and texts from unknown numbers",
        kind="adhoc",
        status="launched",
        custom_fields=[],
        dynamic_initials=False,
        dynamic_replies=True,
        launched_at=now,
    )
    session.add(campaign)
    session.flush()
    return campaign


def adhoc_contact(session: Session, campaign: Campaign, cell: str, status: str) -> Contact:
    """The ad-hoc campaign's contact for ``cell``, inserted with ``status`` when new (safe against a race)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(Contact.__table__)
        .values(
            campaign_id=campaign.id,
            cell=cell,
            first_name="",
            last_name="",
            zip="",
            external_id="",
            custom_fields={},
            timezone=zone_for_number(cell),
            status=status,
            opted_out=False,
            escalated=False,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["campaign_id", "cell"])
    )
    query = select(Contact).where(Contact.campaign_id == campaign.id, Contact.cell == cell)
    if dialect is postgresql:
        query = query.with_for_update()
    contact = session.scalars(query.execution_options(populate_existing=True)).one()
    return contact


def send_adhoc(
    session: Session, user: User, cell_raw: str, body: str, route: str, now: datetime | None = None
) -> AdhocResult:
    """Text ``cell_raw`` outside any campaign task and route the reply as ``route`` (open | me | anyone).

    Refused, with nothing written, for an invalid or opted-out number, an empty text, texting hours closed
    in the number's zone, or a conversation with that number open with another texter.
    """
    if route not in ROUTES:
        raise Refused(f"unknown route {route!r}: use open (chat now), me (replies to me) or anyone")
    body = (body or "").strip()
    if not body:
        raise Refused("the text is empty: write the message to send")
    check_sms_body(body)
    cell = normalize_or_refuse(cell_raw)
    if is_opted_out(session, user.organization_id, cell):
        raise Refused(f"{mask(cell)} opted out of texts from this organization: it is never texted again")
    now = now or utcnow()
    campaign = adhoc_campaign(session, user.organization_id)
    contact = adhoc_contact(session, campaign, cell, "needs_message")
    if contact.escalated:
        raise Refused(f"the conversation with {mask(cell)} is escalated: an admin handles it now")
    other = contact.assigned_user_id
    if other is not None and other != user.id and contact.status != "closed":
        holder = session.get(User, other)
        raise Refused(
            f"{holder.name if holder else 'another texter'} has an open conversation with {mask(cell)}: "
            "ask them, or an admin, to complete it first"
        )
    refusal = outside_hours(campaign, contact_zone(contact, campaign), now)
    if refusal is not None:
        raise Refused(refusal.reason or "outside texting hours", code="outside_hours")
    ensure_member(session, campaign, user)
    contact.status = "convo" if contact.status in ("needs_response", "convo") else "messaged"
    contact.reply_route = "anyone" if route == "anyone" else "me"
    if route == "open":
        contact.assigned_user_id = user.id
        contact.assigned_at = now
    else:
        contact.assigned_user_id = None
        contact.assigned_at = None
    message = queue_outbound(session, contact, body, user_id=user.id, campaign=campaign, now=now)
    return AdhocResult(
        contact_id=contact.id,
        campaign_id=campaign.id,
        message_id=message.id,
        route=route,
        masked_cell=mask(cell),
        assigned=route == "open",
    )


def complete(session: Session, user: User, contact_id: int) -> None:
    """End an ad-hoc chat ("end chat", "complete"): closed and unassigned; a later reply goes to the pool."""
    contact = owned_contact(session, user, contact_id)
    campaign = session.get(Campaign, contact.campaign_id)
    if campaign is None or campaign.kind != "adhoc":
        raise Refused("only an ad-hoc chat is completed: close a campaign conversation instead")
    contact.status = "closed"
    contact.assigned_user_id = None
    contact.assigned_at = None
    contact.reply_route = None
    session.flush()
    add_finished(session, [contact_id])

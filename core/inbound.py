"""Inbound texts: store each exactly once, route it to its conversation, apply opt-out keywords.

Routing: among the contacts with the sender's number in launched or archived campaigns whose sending
identity is ours (the number texted or the Messaging Service; a campaign with no sender of its own uses
the configured one, so it matches any of ours) and that already have messages, the conversation with the
newest message wins: a reply answers the text the person got last, which is the newest campaign's when
campaigns text one after another. A number no campaign texted starts an ad-hoc conversation in the
organization's ad-hoc campaign, unassigned, in the replies pool.

Exactly once: ``messages.provider_sid`` is unique. A SID already stored returns ``stored=False`` at once;
two deliveries of one SID racing each other both get past that check, and the second one's insert fails on
the constraint inside a SAVEPOINT, which undoes everything that delivery did.

Opt-out keywords: a text that is, trimmed, case-folded and without trailing ``.`` or ``!``, a whole
keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, or one of the organization's own phrases) puts the
number on the organization's list and closes it everywhere. "STOP please" is a message, not an opt-out.
A confirmation text (``Organization.optout_confirmation``) is queued only when it is set and the number
was not already opted out. Leave it unset on Twilio numbers: Twilio answers STOP itself (and with Advanced
Opt-Out, the service's own confirmation), and any text of ours to an unsubscribed number is refused with
error 21610; it is only for gateways that do not confirm.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.adhoc import adhoc_campaign, adhoc_contact
from core.messages import queue_outbound
from core.notices import add_notice
from core.optouts import is_opted_out, opt_out
from core.orgs import default_organization
from core.phones import mask, normalize
from storage.models import Campaign, Contact, Message, Organization
from storage.types import utcnow

OPTOUT_KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")


@dataclass(frozen=True)
class InboundResult:
    # False for a provider SID already stored (a webhook retry): nothing changed.
    stored: bool
    contact_id: int
    campaign_id: int
    # The number is on the opt-out list after this text (this text's keyword, or an earlier opt-out).
    opted_out: bool
    message_id: int


def _keyword_form(text: str) -> str:
    return text.strip().casefold().rstrip(".!").strip()


def is_optout_text(body: str, phrases: Iterable[str] = ()) -> bool:
    """Is ``body`` as a whole an opt-out keyword (standard or one of ``phrases``)?"""
    text = _keyword_form(body or "")
    if not text:
        return False
    keywords = {k.casefold() for k in OPTOUT_KEYWORDS} | {_keyword_form(str(p)) for p in phrases}
    return text in keywords


def _stored(session: Session, provider_sid: str) -> InboundResult | None:
    row = session.execute(
        select(Message.id, Message.contact_id, Message.campaign_id, Contact.opted_out)
        .join(Contact, Contact.id == Message.contact_id)
        .where(Message.provider_sid == provider_sid)
    ).first()
    if row is None:
        return None
    return InboundResult(False, row.contact_id, row.campaign_id, bool(row.opted_out), row.id)


def _find_conversation(session: Session, cell: str, ours: set[str]) -> tuple[Contact, Campaign] | None:
    newest = (
        select(func.max(Message.id))
        .where(Message.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )
    query = (
        select(Contact, Campaign)
        .join(Campaign, Campaign.id == Contact.campaign_id)
        .where(
            Contact.cell == cell,
            Campaign.status.in_(("launched", "archived")),
            or_(Campaign.sender.is_(None), Campaign.sender.in_(sorted(ours))),
            newest.is_not(None),
        )
        .order_by(newest.desc(), Campaign.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        # An inbound text and a reply being sent to the same contact run one after the other.
        query = query.with_for_update(of=Contact)
    row = session.execute(query).first()
    return (row.Contact, row.Campaign) if row is not None else None


def _organization_for(session: Session, ours: set[str]) -> int:
    """The organization a text from an unknown number belongs to: the one sending from that identity."""
    org_id = session.scalar(
        select(Campaign.organization_id)
        .where(Campaign.sender.in_(sorted(ours)))
        .order_by(Campaign.id.desc())
        .limit(1)
    )
    if org_id is not None:
        return int(org_id)
    return default_organization(session).id


def _last_texter(session: Session, contact_id: int) -> int | None:
    return session.scalar(
        select(Message.user_id)
        .where(Message.contact_id == contact_id, Message.direction == "out", Message.user_id.is_not(None))
        .order_by(Message.id.desc())
        .limit(1)
    )


def receive_inbound(
    session: Session,
    *,
    from_cell: str,
    to: str,
    body: str,
    provider_sid: str,
    media: Sequence[str] = (),
    messaging_service_sid: str | None = None,
    now: datetime | None = None,
) -> InboundResult:
    """Store and route one inbound text (see the module's docstring); safe to call again for the same SID."""
    already = _stored(session, provider_sid)
    if already is not None:
        return already
    now = now or utcnow()
    try:
        with session.begin_nested():
            return _receive(
                session,
                cell=normalize(from_cell) or (from_cell or "").strip(),
                ours={s for s in (to, messaging_service_sid) if s},
                to=to,
                body=body or "",
                provider_sid=provider_sid,
                media=list(media),
                now=now,
            )
    except IntegrityError:
        already = _stored(session, provider_sid)
        if already is None:
            raise
        return already


def _receive(
    session: Session,
    *,
    cell: str,
    ours: set[str],
    to: str,
    body: str,
    provider_sid: str,
    media: list[str],
    now: datetime,
) -> InboundResult:
    found = _find_conversation(session, cell, ours)
    if found is not None:
        contact, campaign = found
    else:
        campaign = adhoc_campaign(session, _organization_for(session, ours))
        contact = adhoc_contact(session, campaign, cell, "needs_response")
    message = Message(
        contact_id=contact.id,
        campaign_id=campaign.id,
        direction="in",
        body=body,
        media=media,
        cell=cell,
        sender=to or None,
        provider_sid=provider_sid,
        status="received",
        attempts=0,
        created_at=now,
        sent_at=now,
    )
    session.add(message)
    session.flush()  # the unique SID fails here for a racing duplicate, before anything else changed

    org = session.get(Organization, campaign.organization_id)
    assert org is not None
    was_out = contact.opted_out or is_opted_out(session, org.id, cell)
    contact.last_inbound_at = now
    contact.last_message_at = now
    if is_optout_text(body, org.optout_phrases or ()):
        opt_out(session, org.id, cell, source="keyword", reason=body.strip())
        session.refresh(contact)
        if org.optout_confirmation and not was_out:
            queue_outbound(
                session, contact, org.optout_confirmation, user_id=None, campaign=campaign, now=now
            )
        if contact.assigned_user_id is not None:
            _notify(session, "optout", contact, campaign, message)
        return InboundResult(True, contact.id, campaign.id, True, message.id)
    if was_out:
        # Kept for the record; the number stays opted out and the conversation closed.
        session.flush()
        return InboundResult(True, contact.id, campaign.id, True, message.id)
    contact.status = "needs_response"
    if contact.assigned_user_id is None and not contact.escalated and contact.reply_route == "me":
        texter = _last_texter(session, contact.id)
        if texter is not None:
            contact.assigned_user_id = texter
            contact.assigned_at = now
    session.flush()
    if contact.assigned_user_id is not None:
        _notify(session, "reply", contact, campaign, message)
    return InboundResult(True, contact.id, campaign.id, False, message.id)


def _notify(session: Session, kind: str, contact: Contact, campaign: Campaign, message: Message) -> None:
    assert contact.assigned_user_id is not None
    add_notice(
        session,
        user_id=contact.assigned_user_id,
        kind=kind,
        contact_id=contact.id,
        campaign_id=campaign.id,
        message_id=message.id,
        payload={
            "body": message.body,
            "media": list(message.media or []),
            "campaign_title": campaign.title,
            "contact_name": f"{contact.first_name} {contact.last_name}".strip(),
            "masked_cell": mask(contact.cell),
        },
    )

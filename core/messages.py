"""Outbound texts as outbox rows, and a conversation's messages.

Core never sends anything itself: a text to send is a ``messages`` row with status ``queued``, written in
the same transaction as the state change it belongs to; the SMS sender worker drains those rows
(``core.outbox``). Each row carries ``send_before``, the moment the contact's texting window closes, so
the worker never delivers after hours (it fails the row instead, and can give the provider a validity
period).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from core.errors import Refused
from core.hours import Window, window_closes_at
from storage.models import Campaign, Contact, Message
from storage.types import utcnow

# The longest body an SMS may carry: Twilio refuses a longer one (error 21617), carriers split it in ten.
MAX_SMS_BODY = 1600


def sms_body_problem(body: str, what: str = "the text") -> str | None:
    """Why ``body`` cannot go as one SMS (too long, naming the limit and its length), or None."""
    if len(body) <= MAX_SMS_BODY:
        return None
    over = len(body) - MAX_SMS_BODY
    return (
        f"{what} is {len(body):,} characters long and an SMS carries at most {MAX_SMS_BODY:,}: "
        f"shorten it by {over:,}"
    )


def check_sms_body(body: str, what: str = "the text") -> str:
    """``body`` if it fits in an SMS; else Refused (code ``too_long``) naming the limit and its length.

    Every send checks it before anything is written; ``outbound_row`` and ``insert_outbound`` check it
    again, so no path queues a text the provider would refuse.
    """
    problem = sms_body_problem(body, what)
    if problem is not None:
        raise Refused(problem, code="too_long")
    return body


def contact_zone(contact: Contact, campaign: Campaign) -> str:
    """The zone texting hours are read in: the contact's own, else the campaign's."""
    return contact.timezone or campaign.timezone


def campaign_window(campaign: Campaign) -> Window:
    return Window(campaign.hours_start, campaign.hours_end)


def outbound_row(
    session: Session,
    *,
    contact_id: int,
    cell: str,
    zone_name: str,
    body: str,
    user_id: int | None,
    campaign: Campaign,
    now: datetime,
) -> Message:
    """Insert the queued row only (the caller updates the contact itself, e.g. in a guarded UPDATE)."""
    check_sms_body(body)
    message = Message(
        contact_id=contact_id,
        campaign_id=campaign.id,
        direction="out",
        body=body,
        media=[],
        cell=cell,
        # None leaves the choice to the sender worker's configured default (a Messaging Service or number).
        sender=campaign.sender,
        user_id=user_id,
        status="queued",
        attempts=0,
        send_before=window_closes_at(campaign_window(campaign), zone_name, now),
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


_INSERT_OUTBOUND = insert(Message.__table__).returning(Message.id)


def insert_outbound(
    session: Session | Connection,
    *,
    contact_id: int,
    campaign_id: int,
    cell: str,
    sender: str | None,
    window: Window,
    zone_name: str,
    body: str,
    user_id: int | None,
    now: datetime,
) -> int:
    """The queued row as one Core INSERT (the initial-send fast path); returns its id."""
    check_sms_body(body)
    return session.execute(
        _INSERT_OUTBOUND,
        {
            "contact_id": contact_id,
            "campaign_id": campaign_id,
            "direction": "out",
            "body": body,
            "media": [],
            "cell": cell,
            "sender": sender,
            "user_id": user_id,
            "status": "queued",
            "attempts": 0,
            "send_before": window_closes_at(window, zone_name, now),
            "created_at": now,
        },
    ).scalar_one()


def queue_outbound(
    session: Session,
    contact: Contact,
    body: str,
    *,
    user_id: int | None,
    campaign: Campaign,
    now: datetime | None = None,
) -> Message:
    """Queue ``body`` to ``contact`` and note the contact's last message time; returns the new row.

    Texting hours are the caller's rule to check: outside the window ``send_before`` is None (no deadline),
    which only system texts such as an opt-out confirmation rely on.
    """
    now = now or utcnow()
    message = outbound_row(
        session,
        contact_id=contact.id,
        cell=contact.cell,
        zone_name=contact_zone(contact, campaign),
        body=body,
        user_id=user_id,
        campaign=campaign,
        now=now,
    )
    contact.last_message_at = now
    session.flush()
    return message


def conversation(session: Session, contact_id: int) -> list[Message]:
    """Every message to and from a contact, oldest first."""
    return list(session.scalars(select(Message).where(Message.contact_id == contact_id).order_by(Message.id)))


def last_message_id(session: Session, contact_id: int) -> int | None:
    """The newest message of a conversation: the token a reply button carries (see ``send_reply``)."""
    return session.scalar(
        select(Message.id).where(Message.contact_id == contact_id).order_by(Message.id.desc()).limit(1)
    )

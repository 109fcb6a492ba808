"""Shared helpers for the Twilio tests: settings pointed at the stand-in and outbox rows written directly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.config import Settings
from storage import Database
from storage.models import Contact, Message, Notice
from tests.bot.twilio.standin import ACCOUNT_SID, AUTH_TOKEN
from tests.core.factories import make_launched_campaign, make_texter

SERVICE_SID = "MG" + "a" * 32
FROM_NUMBER = "+12125550100"
PUBLIC_URL = "https://textbank.example.org"


def twilio_settings(api_url: str, *, service: bool = True, public_url: str = PUBLIC_URL, **kw) -> Settings:
    values = {
        "public_url": public_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_messaging_service_sid": SERVICE_SID if service else "",
        "twilio_from_number": "" if service else FROM_NUMBER,
        "twilio_api_url": api_url,
        "sms": "twilio",
    }
    return Settings(**{**values, **kw})


def world(db: Database, org_id: int, n: int = 1, **campaign_settings) -> tuple[int, int, list[int]]:
    """A texter and a launched campaign with ``n`` contacts: (user id, campaign id, contact ids)."""
    with db.session() as session:
        texter = make_texter(session, org_id)
        campaign = make_launched_campaign(session, org_id, n, texters=[texter], **campaign_settings)
        ids = list(session.scalars(select(Contact.id).where(Contact.campaign_id == campaign.id)))
        return texter.id, campaign.id, ids


def queue_text(
    db: Database,
    contact_id: int,
    user_id: int | None,
    body: str = "Hi there",
    *,
    send_before: datetime | None = None,
    sender: str | None = None,
) -> int:
    with db.session() as session:
        contact = session.get(Contact, contact_id)
        message = Message(
            contact_id=contact.id,
            campaign_id=contact.campaign_id,
            direction="out",
            body=body,
            media=[],
            cell=contact.cell,
            user_id=user_id,
            status="queued",
            attempts=0,
            send_before=send_before,
            sender=sender,
        )
        session.add(message)
        session.flush()
        return message.id


def message(db: Database, message_id: int) -> Message:
    with db.read() as session:
        row = session.get(Message, message_id)
        session.expunge(row)
        return row


def contact(db: Database, contact_id: int) -> Contact:
    with db.read() as session:
        row = session.get(Contact, contact_id)
        session.expunge(row)
        return row


def notices(db: Database, **where) -> list[Notice]:
    with db.read() as session:
        query = select(Notice).order_by(Notice.id)
        for name, value in where.items():
            query = query.where(getattr(Notice, name) == value)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows

"""Initial texts, one human click per text (seed 000 "Send First Texts", seed 002).

``next_initial`` shows a texter the next contact of theirs that may be texted now, with the rendered
initial message (not editable); ``send_initial`` sends exactly that one. There is no "send all".

A send is guarded by one conditional ``UPDATE contacts ... WHERE id = :id AND status = 'needs_message'
AND assigned_user_id = :user AND NOT opted_out AND the number is not on the organization's list``: the
row lock makes concurrent attempts run one after the other and the second one matches nothing, so a
double click, a retried chat request or a stale button is a no-op with a clear word, whatever the timing.
The queued message is inserted in the same transaction, only when the update matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, exists, false, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.assignment import contact_zone_column, is_postgres, next_window_opening, not_opted_out_anywhere
from core.errors import Refused
from core.hours import Window, format_hhmm, is_within, local_now, window_closes_at, zone
from core.messages import check_sms_body, contact_zone, insert_outbound
from core.phones import mask
from core.scripts import render, render_for_contact, root_step
from storage.engine import rowcount
from storage.models import Campaign, Contact, InteractionStep, Message, OptOut, User
from storage.types import UTCDateTime, utcnow

INITIAL_STATUS = "needs_message"


@dataclass(frozen=True)
class SendResult:
    """What a send did. ``sent`` False means nothing was written and ``reason`` says why.

    ``code``: sent | already_sent | stale | not_yours | opted_out | outside_hours | not_launched |
    not_found | not_replyable.
    """

    sent: bool
    reason: str | None = None
    message_id: int | None = None
    code: str = "sent"
    # outside_hours only: when the contact's window next opens (aware UTC).
    opens_at: datetime | None = None


@dataclass(frozen=True)
class InitialCard:
    """One contact to text now, as the texter's card shows it."""

    contact_id: int
    campaign_id: int
    contact_name: str
    masked_cell: str
    body: str
    # The contact's wall-clock time now, in their zone, and the zone's name.
    local_time: datetime
    timezone: str
    # The texter's contacts waiting for a first text that can be texted now, this one included.
    remaining: int
    # Passed back to send_initial, so a stale card is recognised.
    expected_status: str = INITIAL_STATUS


def no(code: str, reason: str, opens_at: datetime | None = None) -> SendResult:
    return SendResult(False, reason, None, code, opens_at)


def outside_hours(campaign: Campaign | CampaignRules, zone_name: str, now: datetime) -> SendResult | None:
    """A refusal naming when the window opens, or None when it is open now in ``zone_name``."""
    win = Window(campaign.hours_start, campaign.hours_end)
    if is_within(win, zone_name, now):
        return None
    opens = next_window_opening(win, zone_name, now)
    local = opens.astimezone(zone(zone_name))
    return no(
        "outside_hours",
        f"it is outside texting hours ({format_hhmm(win.start)}-{format_hhmm(win.end)}) for this contact "
        f"({zone_name}): their window opens at {local:%H:%M} local time ({opens:%Y-%m-%d %H:%M} UTC); "
        "send it then",
        opens,
    )


def not_launched(campaign: Campaign | CampaignRules) -> SendResult | None:
    if campaign.status == "launched":
        return None
    if campaign.status == "archived":
        return no("not_launched", f"the campaign {campaign.title!r} is archived: it sends no more texts")
    return no(
        "not_launched",
        f"the campaign {campaign.title!r} has not launched yet: an admin launches it before texts can go",
    )


def is_listed(session: Session, organization_id: int, cell: str) -> bool:
    return bool(
        session.scalar(select(exists().where(OptOut.organization_id == organization_id, OptOut.cell == cell)))
    )


def _initial_script(session: Session, campaign: Campaign) -> str:
    root = root_step(session, campaign.id)
    if root is None or not root.script.strip():
        raise Refused(
            f"the campaign {campaign.title!r} has no initial message: an admin adds script.initial "
            "to its YAML and applies it"
        )
    return root.script


def _my_initials(campaign: Campaign, user: User) -> tuple[ColumnElement[bool], ...]:
    return (
        Contact.campaign_id == campaign.id,
        Contact.assigned_user_id == user.id,
        Contact.status == INITIAL_STATUS,
        not_opted_out_anywhere(campaign),
    )


def _open(win: Window, zone_name: str | None, now: datetime) -> bool:
    if not zone_name:
        return False
    try:
        return is_within(win, zone_name, now)
    except Refused:  # an unknown zone never opens (imports refuse them anyway)
        return False


def next_initial(
    session: Session, campaign: Campaign, user: User, now: datetime | None = None
) -> InitialCard | None:
    """The texter's next contact to text now (oldest first), or None when none can be texted now.

    Skips contacts outside texting hours in their own zone and opted-out numbers. ``availability`` in
    ``core.assignment`` says why there is nothing (and whether more can be requested).
    """
    now = now or utcnow()
    if campaign.status != "launched":
        return None
    # A texter holds at most a batch of contacts in a few zones: group them by zone (one small query)
    # and keep the zones open now, instead of matching every contact against every open zone on earth.
    zone_col = contact_zone_column(campaign)
    by_zone = session.execute(
        select(zone_col, func.count(), func.min(Contact.id))
        .where(*_my_initials(campaign, user))
        .group_by(zone_col)
    ).all()
    win = Window(campaign.hours_start, campaign.hours_end)
    open_now = [(count, first) for name, count, first in by_zone if _open(win, name, now)]
    if not open_now:
        return None
    contact = session.get(Contact, min(first for _count, first in open_now))
    if contact is None:  # deleted between the two reads
        return None
    remaining = sum(count for count, _first in open_now)
    zone_name = contact_zone(contact, campaign)
    return InitialCard(
        contact_id=contact.id,
        campaign_id=campaign.id,
        contact_name=f"{contact.first_name} {contact.last_name}".strip(),
        masked_cell=mask(contact.cell),
        body=render_for_contact(_initial_script(session, campaign), contact, user.name),
        local_time=local_now(zone_name, now),
        timezone=zone_name,
        remaining=remaining,
    )


def _why_not(contact: Contact | Row[Any], user: User, expected_status: str, opted_out: bool) -> SendResult:
    """The word for a send whose guard did not match, from the contact as it is now."""
    if contact.opted_out or opted_out:
        return no("opted_out", "this number opted out: it is never texted again")
    if contact.assigned_user_id != user.id:
        return no(
            "not_yours",
            "this contact is no longer assigned to you (released or reassigned): nothing was sent; "
            "go on with your next contact",
        )
    if contact.status != expected_status:
        if expected_status == INITIAL_STATUS:
            return no("already_sent", "the first text to this contact was already sent: nothing sent twice")
        return no(
            "stale",
            f"this conversation moved on (it is now {contact.status.replace('_', ' ')}): "
            "nothing was sent; look at the latest messages and send again if still needed",
        )
    return no("stale", "this contact changed while you were sending: nothing was sent; try again")


# The send's statements, built once: a click runs them with new parameters only.
_contacts = Contact.__table__
_ROOT_SCRIPT = (
    select(InteractionStep.script)
    .where(InteractionStep.campaign_id == Campaign.id, InteractionStep.parent_id.is_(None))
    .order_by(InteractionStep.id)
    .limit(1)
    .correlate(Campaign)
    .scalar_subquery()
)
_FACTS = (
    select(
        Contact.cell,
        Contact.first_name,
        Contact.last_name,
        Contact.zip,
        Contact.external_id,
        Contact.custom_fields,
        Contact.timezone,
        Contact.status,
        Contact.opted_out,
        Contact.assigned_user_id,
        Campaign.id.label("campaign_id"),
        Campaign.organization_id,
        Campaign.title,
        Campaign.status.label("campaign_status"),
        Campaign.hours_start,
        Campaign.hours_end,
        Campaign.timezone.label("campaign_timezone"),
        Campaign.sender,
        _ROOT_SCRIPT.label("initial"),
    )
    .join(Campaign, Campaign.id == Contact.campaign_id)
    .where(Contact.id == bindparam("contact_id"))
)
_GUARDED_SEND = (
    update(_contacts)
    .where(
        _contacts.c.id == bindparam("contact_id"),
        _contacts.c.status == INITIAL_STATUS,
        _contacts.c.assigned_user_id == bindparam("user_id"),
        _contacts.c.opted_out == false(),
        ~exists().where(OptOut.organization_id == bindparam("org_id"), OptOut.cell == _contacts.c.cell),
    )
    .values(status="messaged", last_message_at=bindparam("now", type_=UTCDateTime()))
)
_messages = Message.__table__
_OUTBOUND_VALUES = ("direction", "body", "media", "sender", "user_id", "status", "attempts", "send_before")
# PostgreSQL: the guarded UPDATE and the INSERT of the queued row as one statement (one round trip
# fewer per click). The INSERT reads only the row the UPDATE moved, so a guard that matches nothing
# inserts nothing and returns no id. (SQLite has no data-modifying CTE: it runs the two statements.)
_moved = _GUARDED_SEND.returning(_contacts.c.id, _contacts.c.campaign_id, _contacts.c.cell).cte("moved")
_SEND_AND_QUEUE = (
    insert(_messages)
    .from_select(
        ["contact_id", "campaign_id", "cell", *_OUTBOUND_VALUES, "created_at"],
        select(
            _moved.c.id,
            _moved.c.campaign_id,
            _moved.c.cell,
            *(bindparam(f"m_{name}", type_=_messages.c[name].type) for name in _OUTBOUND_VALUES),
            bindparam("now", type_=UTCDateTime()),
        ),
    )
    .returning(_messages.c.id)
)


@dataclass(frozen=True)
class CampaignRules:
    """What the send rules read of a campaign (a Campaign row has the same attributes)."""

    title: str
    status: str
    hours_start: int
    hours_end: int


def send_initial(
    session: Session,
    user: User,
    contact_id: int,
    expected_status: str = INITIAL_STATUS,
    now: datetime | None = None,
) -> SendResult:
    """Send the initial text to one contact of the texter's: queue it and move the contact to messaged.

    A no-op with the reason when the contact is not the texter's (anymore), already texted, opted out,
    outside texting hours in its zone (saying when the window opens), or its campaign is not launched.
    The happy path is a read and, on PostgreSQL, one statement that makes the guarded UPDATE and inserts
    the queued row (on SQLite two: the UPDATE, then the INSERT).
    """
    if expected_status != INITIAL_STATUS:
        raise Refused(
            f"an initial text goes only to a contact needing a first message, not {expected_status!r}: "
            "reply from the conversation's thread instead"
        )
    now = now or utcnow()
    facts = session.execute(_FACTS, {"contact_id": contact_id}).first()
    if facts is None or facts.organization_id != user.organization_id:
        return no("not_found", f"there is no contact {contact_id} in your organization: nothing was sent")
    if facts.assigned_user_id != user.id or facts.status != INITIAL_STATUS or facts.opted_out:
        return _why_not(facts, user, expected_status, False)
    rules = CampaignRules(facts.title, facts.campaign_status, facts.hours_start, facts.hours_end)
    zone_name = facts.timezone or facts.campaign_timezone
    refusal = not_launched(rules) or outside_hours(rules, zone_name, now)
    if refusal is not None:
        return refusal
    if not (facts.initial or "").strip():
        raise Refused(
            f"the campaign {facts.title!r} has no initial message: an admin adds script.initial "
            "to its YAML and applies it"
        )
    body = render(
        facts.initial,
        first_name=facts.first_name,
        last_name=facts.last_name,
        texter_name=user.name,
        custom_fields=facts.custom_fields or {},
        zip=facts.zip,
        external_id=facts.external_id,
    )
    check_sms_body(body, "the first text to this contact (the initial message with their details filled in)")
    guard = {"contact_id": contact_id, "user_id": user.id, "org_id": facts.organization_id, "now": now}
    window = Window(facts.hours_start, facts.hours_end)
    if is_postgres(session):
        message_id = session.execute(
            _SEND_AND_QUEUE,
            {
                **guard,
                "m_direction": "out",
                "m_body": body,
                "m_media": [],
                "m_sender": facts.sender,
                "m_user_id": user.id,
                "m_status": "queued",
                "m_attempts": 0,
                "m_send_before": window_closes_at(window, zone_name, now),
            },
        ).scalar()
        moved = message_id is not None
    else:
        moved = rowcount(session.execute(_GUARDED_SEND, guard)) == 1
    if not moved:
        current = session.execute(_FACTS, {"contact_id": contact_id}).one()
        listed = is_listed(session, facts.organization_id, facts.cell)
        return _why_not(current, user, expected_status, listed)
    if not is_postgres(session):
        message_id = insert_outbound(
            session,
            contact_id=contact_id,
            campaign_id=facts.campaign_id,
            cell=facts.cell,
            sender=facts.sender,
            window=window,
            zone_name=zone_name,
            body=body,
            user_id=user.id,
            now=now,
        )
    # A Contact object of this session, if any, stays true to the row for callers that read it after.
    loaded = session.identity_map.get(session.identity_key(Contact, contact_id))
    if loaded is not None:
        set_committed_value(loaded, "status", "messaged")
        set_committed_value(loaded, "last_message_at", now)
    return SendResult(True, None, message_id)


def contact_name(session: Session, contact_id: int) -> str:
    """The contact's full name as imported ("" when none), for saying whom a text went to."""
    contact = session.get(Contact, contact_id)
    return f"{contact.first_name} {contact.last_name}".strip() if contact is not None else ""

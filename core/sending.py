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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, exists, false, func, insert, or_, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.assignment import next_window_opening
from core.errors import Refused
from core.hours import Window, format_hhmm, is_within, local_now, window_closes_at, zone
from core.messages import check_sms_body, insert_outbound
from core.orgs import Texter
from core.phones import mask
from core.scripts import render
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


def _open(win: Window, zone_name: str | None, now: datetime) -> bool:
    if not zone_name:
        return False
    try:
        return is_within(win, zone_name, now)
    except Refused:  # an unknown zone never opens (imports refuse them anyway)
        return False


# The next card in one round trip: the texter's initials grouped by zone, each zone's oldest contact with
# the fields its text is rendered from, and the campaign's initial script. A texter holds at most a batch
# in a few zones, so this is a handful of rows; the zones open now are picked in Python.
_CARD_ZONE = func.coalesce(Contact.timezone, bindparam("campaign_zone"))
_BY_ZONE = (
    select(_CARD_ZONE.label("zone"), func.count().label("waiting"), func.min(Contact.id).label("first_id"))
    .where(
        Contact.campaign_id == bindparam("campaign_id"),
        Contact.assigned_user_id == bindparam("user_id"),
        Contact.status == INITIAL_STATUS,
        Contact.opted_out == false(),
        ~exists().where(OptOut.organization_id == bindparam("org_id"), OptOut.cell == Contact.cell),
    )
    .group_by(_CARD_ZONE)
    .cte("by_zone")
)
# What an initial is rendered from, besides the script (see _render_initial).
_RENDERED_FROM = (
    Contact.first_name,
    Contact.last_name,
    Contact.zip,
    Contact.external_id,
    Contact.custom_fields,
)
_CARD = select(
    _BY_ZONE.c.zone,
    _BY_ZONE.c.waiting,
    Contact.id,
    Contact.cell,
    *_RENDERED_FROM,
    select(InteractionStep.script)
    .where(InteractionStep.campaign_id == bindparam("campaign_id"), InteractionStep.parent_id.is_(None))
    .order_by(InteractionStep.id)
    .limit(1)
    .scalar_subquery()
    .label("initial"),
).join_from(_BY_ZONE, Contact, Contact.id == _BY_ZONE.c.first_id)


def next_initial(
    session: Session, campaign: Campaign, user: User, now: datetime | None = None
) -> InitialCard | None:
    """The texter's next contact to text now (oldest first), or None when none can be texted now.

    Skips contacts outside texting hours in their own zone and opted-out numbers. ``availability`` in
    ``core.assignment`` says why there is nothing (and whether more can be requested). One round trip.
    """
    now = now or utcnow()
    if campaign.status != "launched":
        return None
    rows = session.execute(
        _CARD,
        {
            "campaign_zone": campaign.timezone,
            "campaign_id": campaign.id,
            "user_id": user.id,
            "org_id": campaign.organization_id,
        },
    ).all()
    win = Window(campaign.hours_start, campaign.hours_end)
    open_now = [row for row in rows if _open(win, row.zone, now)]
    if not open_now:
        return None
    first = min(open_now, key=lambda row: row.id)
    body = _render_initial(first, campaign.title, user.name)
    return InitialCard(
        contact_id=first.id,
        campaign_id=campaign.id,
        contact_name=f"{first.first_name} {first.last_name}".strip(),
        masked_cell=mask(first.cell),
        body=body,
        local_time=local_now(first.zone, now),
        timezone=first.zone,
        remaining=sum(row.waiting for row in open_now),
    )


def _render_initial(row: Any, title: str, texter_name: str) -> str:
    """The initial text for a contact read with the campaign's script (``initial``) and its fields."""
    if not (row.initial or "").strip():
        raise Refused(
            f"the campaign {title!r} has no initial message: an admin adds script.initial "
            "to its YAML and applies it"
        )
    return render(
        row.initial,
        first_name=row.first_name,
        last_name=row.last_name,
        texter_name=texter_name,
        custom_fields=row.custom_fields or {},
        zip=row.zip,
        external_id=row.external_id,
    )


def _why_not(
    contact: Contact | Row[Any], user: User | Texter, expected_status: str, opted_out: bool
) -> SendResult:
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
        *_RENDERED_FROM,
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
    user: User | Texter,
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
    return _send(session, _connection(session), user, contact_id, facts, now)


def _send(
    session: Session, conn: Connection, user: User | Texter, contact_id: int, facts: Any, now: datetime
) -> SendResult:
    """The send once its facts are read (``_FACTS``'s columns): the rules, then the guarded write."""
    if facts.assigned_user_id != user.id or facts.status != INITIAL_STATUS or facts.opted_out:
        return _why_not(facts, user, INITIAL_STATUS, False)
    rules = CampaignRules(facts.title, facts.campaign_status, facts.hours_start, facts.hours_end)
    zone_name = facts.timezone or facts.campaign_timezone
    refusal = not_launched(rules) or outside_hours(rules, zone_name, now)
    if refusal is not None:
        return refusal
    body = _render_initial(facts, facts.title, user.name)
    check_sms_body(body, "the first text to this contact (the initial message with their details filled in)")
    guard = {"contact_id": contact_id, "user_id": user.id, "org_id": facts.organization_id, "now": now}
    window = Window(facts.hours_start, facts.hours_end)
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        message_id = conn.execute(
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
        moved = conn.execute(_GUARDED_SEND, guard).rowcount == 1
    if not moved:
        current = session.execute(_FACTS, {"contact_id": contact_id}).one()
        listed = is_listed(session, facts.organization_id, facts.cell)
        return _why_not(current, user, INITIAL_STATUS, listed)
    if not postgres:
        message_id = insert_outbound(
            conn,
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
    loaded = (
        session.identity_map.get(session.identity_key(Contact, contact_id)) if session.identity_map else None
    )
    if loaded is not None:
        set_committed_value(loaded, "status", "messaged")
        set_committed_value(loaded, "last_message_at", now)
    return SendResult(True, None, message_id)


def _connection(session: Session) -> Connection:
    """The session's connection, for the hot statements: a Core statement executed on it costs about a
    third of what ``Session.execute`` adds (measured on a Send click). Whatever the session holds
    pending is flushed first, as ``Session.execute`` would."""
    session.flush()
    return session.connection()


def contact_name(session: Session, contact_id: int) -> str:
    """The contact's full name as imported ("" when none), for saying whom a text went to."""
    contact = session.get(Contact, contact_id)
    return f"{contact.first_name} {contact.last_name}".strip() if contact is not None else ""


# --- a Send click: the send and the next card in one call ------------------------------------------------


@dataclass(frozen=True)
class Clicked:
    """What a Send click did: the send's result, whom it went to, and the next card.

    ``card`` None: nothing can be texted now, or the click went the long way (see ``send_and_next``);
    the caller then shows the card as ``next_initial`` and ``core.assignment.availability`` say.
    """

    result: SendResult
    contact_name: str
    campaign_title: str
    card: InitialCard | None


# A Send click's one read: the card's campaign with its initial script, the clicked contact with what its
# text is rendered from (named as in _FACTS, so the send goes on as send_initial's does), and the next
# card's candidates: the texter's contacts waiting for a first text, the clicked one left out, by zone,
# with each zone's count and its oldest contact's fields. Leaving the clicked contact out reads what
# next_initial would read after the send: when the send goes, it is no longer waiting; when it does not,
# it was not waiting (already sent, not theirs, opted out) or its zone is closed (it is not shown then).
# One row per zone, or one row without any.
_campaign = Campaign.__table__.alias("campaign")
_clicked = Contact.__table__.alias("clicked")
_mine = Contact.__table__.alias("mine")
_mine_campaign = Campaign.__table__.alias("mine_campaign")
_next = Contact.__table__.alias("next")
_FIELDS = ("first_name", "last_name", "zip", "external_id", "custom_fields")
_MINE_ZONE = func.coalesce(_mine.c.timezone, _mine_campaign.c.timezone)
_OTHERS_BY_ZONE = (
    select(_MINE_ZONE.label("zone"), func.count().label("waiting"), func.min(_mine.c.id).label("first_id"))
    .join_from(_mine, _mine_campaign, _mine_campaign.c.id == _mine.c.campaign_id)
    .where(
        _mine.c.campaign_id == bindparam("campaign_id"),
        _mine.c.assigned_user_id == bindparam("user_id"),
        _mine.c.status == INITIAL_STATUS,
        _mine.c.opted_out == false(),
        _mine.c.id != bindparam("contact_id"),
        ~exists().where(
            OptOut.organization_id == _mine_campaign.c.organization_id, OptOut.cell == _mine.c.cell
        ),
    )
    .group_by(_MINE_ZONE)
    .subquery("by_zone")
)
_CANDIDATES = (
    select(
        _OTHERS_BY_ZONE.c.zone,
        _OTHERS_BY_ZONE.c.waiting,
        _next.c.id,
        _next.c.cell,
        *(_next.c[name] for name in _FIELDS),
    )
    .join_from(_OTHERS_BY_ZONE, _next, _next.c.id == _OTHERS_BY_ZONE.c.first_id)
    .subquery("candidate")
)
_CLICK_READ = (
    select(
        _campaign.c.id.label("campaign_id"),
        _campaign.c.organization_id,
        _campaign.c.title,
        _campaign.c.status.label("campaign_status"),
        _campaign.c.hours_start,
        _campaign.c.hours_end,
        _campaign.c.timezone.label("campaign_timezone"),
        _campaign.c.sender,
        select(InteractionStep.script)
        .where(InteractionStep.campaign_id == _campaign.c.id, InteractionStep.parent_id.is_(None))
        .order_by(InteractionStep.id)
        .limit(1)
        .correlate(_campaign)
        .scalar_subquery()
        .label("initial"),
        _clicked.c.id.label("clicked_id"),
        *(
            _clicked.c[name]
            for name in ("cell", *_FIELDS, "timezone", "status", "opted_out", "assigned_user_id")
        ),
        *(column.label(f"n_{column.name}") for column in _CANDIDATES.c),
    )
    .select_from(_campaign)
    .outerjoin(
        _clicked, (_clicked.c.id == bindparam("contact_id")) & (_clicked.c.campaign_id == _campaign.c.id)
    )
    .outerjoin(_CANDIDATES, true())
    .where(
        _campaign.c.id == bindparam("campaign_id"),
        # core.campaigns' visible kinds, without IN's list (re-rendered on every execution)
        or_(_campaign.c.kind == "campaign", _campaign.c.kind == "adhoc"),
    )
)


@dataclass(frozen=True)
class _Candidate:
    """A next-card candidate as ``_render_initial`` reads it."""

    initial: str | None
    id: int
    cell: str
    zone: str
    first_name: str
    last_name: str
    zip: str
    external_id: str
    custom_fields: dict[str, Any] | None


def send_and_next(
    session: Session,
    texter: Texter,
    campaign_id: int,
    contact_id: int,
    expected_status: str = INITIAL_STATUS,
    now: datetime | None = None,
) -> Clicked:
    """A Send click in one call: ``send_initial`` of the contact the card showed, then the next card of
    the card's campaign (as ``next_initial`` would show it), the texter as the click carries it.

    On PostgreSQL two round trips (the read above, then the send with its queued row), on SQLite three
    statements. Every guard of ``send_initial`` holds: the write is the same guarded UPDATE. A contact of
    another campaign than the card's, or a campaign that is missing or another organization's, goes
    ``send_initial``'s way (which says why) and ``card`` is None.
    """
    if expected_status != INITIAL_STATUS:
        raise Refused(
            f"an initial text goes only to a contact needing a first message, not {expected_status!r}: "
            "reply from the conversation's thread instead"
        )
    now = now or utcnow()
    conn = _connection(session)
    params = {"campaign_id": campaign_id, "contact_id": contact_id, "user_id": texter.id}
    rows = conn.execute(_CLICK_READ, params).all()
    facts = rows[0] if rows else None
    if facts is None or facts.clicked_id is None or facts.organization_id != texter.organization_id:
        result = send_initial(session, texter, contact_id, expected_status, now)
        return Clicked(result, contact_name(session, contact_id) if result.sent else "", "", None)
    result = _send(session, conn, texter, contact_id, facts, now)
    name = f"{facts.first_name} {facts.last_name}".strip()
    return Clicked(result, name, facts.title, _next_card(rows, texter, now))


def _next_card(rows: Sequence[Any], texter: Texter, now: datetime) -> InitialCard | None:
    """``next_initial``'s card from the click's read (the clicked contact already left out)."""
    facts = rows[0]
    if facts.campaign_status != "launched":
        return None
    win = Window(facts.hours_start, facts.hours_end)
    open_now = [row for row in rows if row.n_id is not None and _open(win, row.n_zone, now)]
    if not open_now:
        return None
    row = min(open_now, key=lambda r: r.n_id)
    first = _Candidate(
        facts.initial,
        row.n_id,
        row.n_cell,
        row.n_zone,
        row.n_first_name,
        row.n_last_name,
        row.n_zip,
        row.n_external_id,
        row.n_custom_fields,
    )
    return InitialCard(
        contact_id=first.id,
        campaign_id=facts.campaign_id,
        contact_name=f"{first.first_name} {first.last_name}".strip(),
        masked_cell=mask(first.cell),
        body=_render_initial(first, facts.title, texter.name),
        local_time=local_now(first.zone, now),
        timezone=first.zone,
        remaining=sum(r.n_waiting for r in open_now),
    )

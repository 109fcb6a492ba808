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

Who is told (a notice, in the same transaction): the assignee, kind ``reply`` (``optout`` for a keyword);
for an escalated conversation also everyone who holds it now (``core.escalation``: the admins, or the
members of the team it was escalated to), with ``escalated`` and ``team`` in the payload. An ad-hoc
reply that nobody holds (routed to "anyone", or from a number no campaign texted) tells the admins, kind
``adhoc_unclaimed``, once as it starts waiting in the ad-hoc campaign's replies pool. A text from a number
already opted out tells no one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from core.adhoc import adhoc_campaign, adhoc_contact
from core.escalation import holders
from core.messages import queue_outbound, sms_body_problem
from core.notices import NewNotice, add_notice, add_notices
from core.optouts import is_opted_out, opt_out
from core.orgs import default_organization
from core.phones import mask, normalize
from storage.models import Campaign, Contact, Message, OptOut, Organization
from storage.types import utcnow

OPTOUT_KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
_STANDARD_KEYWORDS = frozenset(k.casefold() for k in OPTOUT_KEYWORDS)


@dataclass(frozen=True)
class InboundResult:
    # False for a provider SID already stored (a webhook retry): nothing changed.
    stored: bool
    contact_id: int
    campaign_id: int
    # The number is on the opt-out list after this text (this text's keyword, or an earlier opt-out).
    opted_out: bool
    message_id: int
    # Where the text went, by the title ``campaign list`` shows, and that campaign's kind (campaign | adhoc).
    campaign_title: str = ""
    campaign_kind: str = "campaign"
    # Nobody holds the conversation: it waits in the campaign's replies pool for a texter to claim it.
    unclaimed: bool = False


def _keyword_form(text: str) -> str:
    return text.strip().casefold().rstrip(".!").strip()


# Twilio's From for a US or Canadian number: already its own E.164 form when valid.
_NANP_E164 = re.compile(r"\+1\d{10}")


def cell_of(from_cell: str) -> str:
    """The sender's number as inbound texts store and route it: its E.164 form, or as it came when it is
    not a valid number. A ``+1`` and ten digits is either way itself, so it skips phonenumbers' parse:
    17 µs a text, ~4% of a webhook's CPU."""
    raw = (from_cell or "").strip()
    if _NANP_E164.fullmatch(raw):
        return raw
    return normalize(raw) or raw


def is_optout_text(body: str, phrases: Iterable[str] = ()) -> bool:
    """Is ``body`` as a whole an opt-out keyword (standard or one of ``phrases``)?"""
    text = _keyword_form(body or "")
    if not text:
        return False
    return text in _STANDARD_KEYWORDS or any(text == _keyword_form(str(p)) for p in phrases)


# Every webhook runs the statements below, so they are built once (Core, on the session's connection:
# SQLAlchemy's compiled cache then serves them without rebuilding or ORM bookkeeping per text).
_messages = Message.__table__
_contacts = Contact.__table__
_campaigns = Campaign.__table__
_orgs = Organization.__table__
_optouts = OptOut.__table__

_STORED_BASE = (
    select(
        _messages.c.id,
        _messages.c.provider_sid,
        _messages.c.contact_id,
        _messages.c.campaign_id,
        _contacts.c.opted_out,
        _contacts.c.assigned_user_id,
        _contacts.c.escalated,
        _campaigns.c.title,
        _campaigns.c.kind,
    )
    .join(_contacts, _contacts.c.id == _messages.c.contact_id)
    .join(_campaigns, _campaigns.c.id == _messages.c.campaign_id)
)
_STORED = _STORED_BASE.where(_messages.c.provider_sid == bindparam("sid"))


# Of a number's contacts in launched or archived campaigns sending from one of our identities (or from
# the configured one) and texted already: what routing needs of each, with its newest message's id.
_NEWEST = (
    select(func.max(_messages.c.id))
    .where(_messages.c.contact_id == _contacts.c.id)
    .correlate(_contacts)
    .scalar_subquery()
)
_ROUTES = (
    select(
        _contacts.c.id.label("contact_id"),
        _contacts.c.cell,
        _contacts.c.first_name,
        _contacts.c.last_name,
        _contacts.c.opted_out,
        _contacts.c.status,
        _contacts.c.assigned_user_id,
        _contacts.c.escalated,
        _contacts.c.escalated_team_id,
        _contacts.c.reply_route,
        _campaigns.c.id.label("campaign_id"),
        _campaigns.c.title,
        _campaigns.c.kind,
        _campaigns.c.organization_id,
        _orgs.c.optout_phrases,
        _orgs.c.optout_confirmation,
        exists()
        .where(
            _optouts.c.organization_id == _campaigns.c.organization_id, _optouts.c.cell == _contacts.c.cell
        )
        .label("listed"),
    )
    .join(_campaigns, _campaigns.c.id == _contacts.c.campaign_id)
    .join(_orgs, _orgs.c.id == _campaigns.c.organization_id)
    .where(
        _campaigns.c.status.in_(("launched", "archived")),
        or_(_campaigns.c.sender.is_(None), _campaigns.c.sender.in_(bindparam("ours", expanding=True))),
        _NEWEST.is_not(None),
    )
)


def _conversation_query(for_update: bool) -> Any:
    """The newest conversation of a number with one of our identities, with what routing needs of it."""
    query = (
        _ROUTES.where(_contacts.c.cell == bindparam("cell"))
        .order_by(_NEWEST.desc(), _campaigns.c.id.desc())
        .limit(1)
    )
    if for_update:
        # An inbound text and a reply being sent to the same contact run one after the other.
        query = query.with_for_update(of=_contacts)
    return query


_CONVERSATION = _conversation_query(for_update=False)
_CONVERSATION_LOCKED = _conversation_query(for_update=True)

_INSERT_MESSAGE = insert(_messages)
# A batch's messages in one INSERT; a SID a racing delivery stored meanwhile is skipped, not an error.
_INSERT_NEW = {
    dialect.__name__.split(".")[-1]: dialect.insert(_messages)
    .on_conflict_do_nothing(index_elements=[_messages.c.provider_sid])
    .returning(_messages.c.id, _messages.c.provider_sid)
    for dialect in (postgresql, sqlite)
}
# The SET columns are the keys of each call's parameters.
_UPDATE_CONTACT = update(_contacts).where(_contacts.c.id == bindparam("contact_pk"))

_LAST_TEXTER = (
    select(_messages.c.user_id)
    .where(
        _messages.c.contact_id == bindparam("contact_pk"),
        _messages.c.direction == "out",
        _messages.c.user_id.is_not(None),
    )
    .order_by(_messages.c.id.desc())
    .limit(1)
)

_ORGANIZATION_OF_SENDER = (
    select(_campaigns.c.organization_id)
    .where(_campaigns.c.sender.in_(bindparam("ours", expanding=True)))
    .order_by(_campaigns.c.id.desc())
    .limit(1)
)


# A batch's routing (``receive_inbound_batch``): every conversation each number has with any of the
# batch's identities, with the campaign's sender, so each text picks its own in Python; then the chosen
# contacts locked in one statement, in id order (two batches lock in the same order: no deadlock), which
# re-reads what may have changed since (PostgreSQL returns a locked row as it is after the lock).
_CANDIDATES = _ROUTES.add_columns(_campaigns.c.sender, _NEWEST.label("newest")).where(
    _contacts.c.cell.in_(bindparam("cells", expanding=True))
)
_LOCK_CONTACTS = (
    select(
        _contacts.c.id,
        _contacts.c.opted_out,
        _contacts.c.status,
        _contacts.c.assigned_user_id,
        _contacts.c.escalated,
        _contacts.c.escalated_team_id,
        _contacts.c.reply_route,
    )
    .where(_contacts.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_contacts.c.id)
    .with_for_update()
)
_STORED_MANY = _STORED_BASE.where(_messages.c.provider_sid.in_(bindparam("sids", expanding=True)))


@dataclass(frozen=True)
class InboundText:
    """One inbound text as a webhook delivers it (``receive_inbound``'s arguments)."""

    from_cell: str
    to: str
    body: str
    provider_sid: str
    media: Sequence[str] = ()
    messaging_service_sid: str | None = None


@dataclass(frozen=True)
class _Conversation:
    """What routing one text needs to know about its contact, campaign and organization."""

    contact_id: int
    cell: str
    first_name: str
    last_name: str
    assigned_user_id: int | None
    escalated: bool
    # None for an escalation to the admins.
    escalated_team_id: int | None
    reply_route: str | None
    # The contact's status before this text (None for a contact this text created).
    status: str | None
    campaign_id: int
    title: str
    kind: str
    organization_id: int
    optout_phrases: list[Any]
    optout_confirmation: str | None
    # Already out: the contact's flag, or the number on the organization's list.
    was_out: bool


def _stored(conn: Connection, provider_sid: str) -> InboundResult | None:
    row = conn.execute(_STORED, {"sid": provider_sid}).first()
    if row is None:
        return None
    return _stored_result(row)


def _stored_result(row: Any) -> InboundResult:
    unclaimed = row.assigned_user_id is None and not row.escalated and not row.opted_out
    return InboundResult(
        False, row.contact_id, row.campaign_id, bool(row.opted_out), row.id, row.title, row.kind, unclaimed
    )


def _find_conversation(conn: Connection, cell: str, ours: set[str]) -> _Conversation | None:
    query = _CONVERSATION_LOCKED if conn.dialect.name == "postgresql" else _CONVERSATION
    row = conn.execute(query, {"cell": cell, "ours": sorted(ours)}).first()
    return None if row is None else _conversation(row, row)


def _conversation(row: Any, held: Any) -> _Conversation:
    """A routing row as a ``_Conversation``; ``held``: the contact's columns that may change, read under
    its lock (the row itself when the row was read under it)."""
    return _Conversation(
        contact_id=row.contact_id,
        cell=row.cell,
        first_name=row.first_name,
        last_name=row.last_name,
        assigned_user_id=held.assigned_user_id,
        escalated=bool(held.escalated),
        escalated_team_id=held.escalated_team_id,
        reply_route=held.reply_route,
        status=held.status,
        campaign_id=row.campaign_id,
        title=row.title,
        kind=row.kind,
        organization_id=row.organization_id,
        optout_phrases=list(row.optout_phrases or ()),
        optout_confirmation=row.optout_confirmation,
        was_out=bool(held.opted_out or row.listed),
    )


def _adhoc_conversation(session: Session, cell: str, ours: set[str]) -> _Conversation:
    """A number no campaign texted: its contact in the organization's ad-hoc campaign."""
    campaign = adhoc_campaign(session, _organization_for(session, ours))
    contact = adhoc_contact(session, campaign, cell, "needs_response")
    org = session.get(Organization, campaign.organization_id)
    assert org is not None
    return _Conversation(
        contact_id=contact.id,
        cell=contact.cell,
        first_name=contact.first_name,
        last_name=contact.last_name,
        assigned_user_id=contact.assigned_user_id,
        escalated=bool(contact.escalated),
        escalated_team_id=contact.escalated_team_id,
        reply_route=contact.reply_route,
        status=None,
        campaign_id=campaign.id,
        title=campaign.title,
        kind=campaign.kind,
        organization_id=org.id,
        optout_phrases=list(org.optout_phrases or ()),
        optout_confirmation=org.optout_confirmation,
        was_out=bool(contact.opted_out) or is_opted_out(session, org.id, cell),
    )


def _organization_for(session: Session, ours: set[str]) -> int:
    """The organization a text from an unknown number belongs to: the one sending from that identity."""
    org_id = session.connection().execute(_ORGANIZATION_OF_SENDER, {"ours": sorted(ours)}).scalar()
    if org_id is not None:
        return int(org_id)
    return default_organization(session).id


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
    session.flush()  # the statements below go straight to the connection
    conn = session.connection()
    already = _stored(conn, provider_sid)
    if already is not None:
        return already
    now = now or utcnow()
    try:
        with session.begin_nested():
            return _receive(
                session,
                # Asked for inside the block: that is what emits the SAVEPOINT.
                session.connection(),
                cell=cell_of(from_cell),
                ours={s for s in (to, messaging_service_sid) if s},
                to=to,
                body=body or "",
                provider_sid=provider_sid,
                media=list(media),
                now=now,
            )
    except IntegrityError:
        already = _stored(conn, provider_sid)
        if already is None:
            raise
        return already


def receive_text(session: Session, text: InboundText, *, now: datetime | None = None) -> InboundResult:
    """``receive_inbound`` of one ``InboundText``."""
    return receive_inbound(
        session,
        from_cell=text.from_cell,
        to=text.to,
        body=text.body,
        provider_sid=text.provider_sid,
        media=text.media,
        messaging_service_sid=text.messaging_service_sid,
        now=now,
    )


def receive_inbound_batch(
    session: Session, texts: Sequence[InboundText], *, now: datetime | None = None
) -> list[InboundResult]:
    """``receive_inbound`` for each of ``texts``, in the session's transaction, with what they share done
    once; the results in ``texts``' order.

    A plain reply (its number's conversation found, no keyword, the number not opted out, the
    conversation not escalated, nothing to assign or to tell the admins) is stored with statements for
    the whole batch: the stored SIDs, the conversations, their contacts locked, the messages, the
    contacts' changes, the notices' platforms and the notices, one statement each, where one text alone
    takes six to eight. Every other text, and a second text of a number or a SID in the batch, goes
    through ``receive_inbound`` afterwards, in the same transaction.
    """
    if not texts:
        return []
    now = now or utcnow()
    session.flush()
    conn = session.connection()
    results: list[InboundResult | None] = [None] * len(texts)
    sids = sorted({text.provider_sid for text in texts})
    stored = {row.provider_sid: _stored_result(row) for row in conn.execute(_STORED_MANY, {"sids": sids})}
    cells = [cell_of(text.from_cell) for text in texts]
    ours = [{s for s in (text.to, text.messaging_service_sid) if s} for text in texts]
    first: list[int] = []
    later: list[int] = []
    seen: set[str] = set()
    for i, text in enumerate(texts):
        if text.provider_sid in stored:
            results[i] = stored[text.provider_sid]
        elif text.provider_sid in seen or cells[i] in seen or _INSERT_NEW.get(conn.dialect.name) is None:
            later.append(i)
        else:
            seen.update((text.provider_sid, cells[i]))
            first.append(i)
    plain = _plain_replies(conn, texts, first, cells, ours)
    later += [i for i in first if i not in plain]
    if plain:
        inserted = {
            sid: message_id
            for message_id, sid in conn.execute(
                _INSERT_NEW[conn.dialect.name],
                [
                    {
                        "contact_id": plain[i].contact_id,
                        "campaign_id": plain[i].campaign_id,
                        "direction": "in",
                        "body": texts[i].body or "",
                        "media": list(texts[i].media),
                        "cell": cells[i],
                        "sender": texts[i].to or None,
                        "provider_sid": texts[i].provider_sid,
                        "status": "received",
                        "attempts": 0,
                        "created_at": now,
                        "sent_at": now,
                    }
                    for i in plain
                ],
            )
        }
        # A SID missing here was stored by a delivery racing this one: receive_inbound reports it.
        later += [i for i in plain if texts[i].provider_sid not in inserted]
        done = [i for i in plain if texts[i].provider_sid in inserted]
        changes = {"last_inbound_at": now, "last_message_at": now, "status": "needs_response"}
        if done:
            conn.execute(_UPDATE_CONTACT, [{"contact_pk": plain[i].contact_id, **changes} for i in done])
        notices = []
        for i in done:
            found, message_id = plain[i], inserted[texts[i].provider_sid]
            _sync_contact(session, found.contact_id, changes)
            if found.assigned_user_id is not None:
                notices.append(
                    NewNotice(
                        user_id=found.assigned_user_id,
                        kind="reply",
                        contact_id=found.contact_id,
                        campaign_id=found.campaign_id,
                        message_id=message_id,
                        payload=_payload(found, texts[i].body or "", list(texts[i].media)),
                    )
                )
            results[i] = _result(found, False, message_id, unclaimed=found.assigned_user_id is None)
        add_notices(session, notices)
    for i in sorted(later):
        results[i] = receive_text(session, texts[i], now=now)
    return [result for result in results if result is not None]


def _plain_replies(
    conn: Connection, texts: Sequence[InboundText], indexes: list[int], cells: list[str], ours: list[set[str]]
) -> dict[int, _Conversation]:
    """Of the texts at ``indexes`` (one per number), those that are plain replies, with their conversation
    (routed as ``_find_conversation`` does, their contacts locked on PostgreSQL)."""
    if not indexes:
        return {}
    rows = conn.execute(
        _CANDIDATES,
        {
            "cells": sorted({cells[i] for i in indexes}),
            "ours": sorted(set().union(*(ours[i] for i in indexes))),
        },
    ).all()
    chosen: dict[int, Any] = {}
    for i in indexes:
        mine = [r for r in rows if r.cell == cells[i] and (r.sender is None or r.sender in ours[i])]
        if mine:
            chosen[i] = max(mine, key=lambda r: (r.newest, r.campaign_id))
    if not chosen:
        return {}
    locking = conn.dialect.name == "postgresql"  # SQLite's transaction holds its one write lock already
    now_held = {}
    if locking:
        ids = sorted({row.contact_id for row in chosen.values()})
        now_held = {row.id: row for row in conn.execute(_LOCK_CONTACTS, {"ids": ids})}
    plain: dict[int, _Conversation] = {}
    for i, row in chosen.items():
        held = now_held.get(row.contact_id) if locking else row
        if held is None:  # deleted meanwhile: receive_inbound routes the text again
            continue
        found = _conversation(row, held)
        if _is_plain(found, texts[i].body):
            plain[i] = found
    return plain


def _is_plain(found: _Conversation, body: str) -> bool:
    """A reply that only stores, updates its contact and tells its assignee (if any): ``_receive``'s
    last branch with no assignment, no escalation holders and no admins to tell."""
    if found.was_out or found.escalated or is_optout_text(body, found.optout_phrases):
        return False
    if found.assigned_user_id is None:
        return found.reply_route != "me" and found.kind != "adhoc"
    return True


def _receive(
    session: Session,
    conn: Connection,
    *,
    cell: str,
    ours: set[str],
    to: str,
    body: str,
    provider_sid: str,
    media: list[str],
    now: datetime,
) -> InboundResult:
    found = _find_conversation(conn, cell, ours) or _adhoc_conversation(session, cell, ours)
    inserted = conn.execute(
        _INSERT_MESSAGE,
        {
            "contact_id": found.contact_id,
            "campaign_id": found.campaign_id,
            "direction": "in",
            "body": body,
            "media": media,
            "cell": cell,
            "sender": to or None,
            "provider_sid": provider_sid,
            "status": "received",
            "attempts": 0,
            "created_at": now,
            "sent_at": now,
        },
    ).inserted_primary_key
    assert inserted is not None  # one row went in: a duplicate SID raises instead
    message_id: int = inserted[0]
    # The unique SID failed above for a racing duplicate, before anything else changed.
    changes: dict[str, Any] = {"last_inbound_at": now, "last_message_at": now}
    if is_optout_text(body, found.optout_phrases):
        conn.execute(_UPDATE_CONTACT, {"contact_pk": found.contact_id, **changes})
        told = [found.contact_id] if found.assigned_user_id is not None else []
        opt_out(session, found.organization_id, cell, source="keyword", reason=body.strip(), announced=told)
        _sync_contact(session, found.contact_id, {**changes, "opted_out": True, "status": "closed"})
        # A confirmation too long for one SMS is left out: the webhook must not fail over a setting.
        confirmation = found.optout_confirmation
        if confirmation and not found.was_out and sms_body_problem(confirmation) is None:
            contact = session.get(Contact, found.contact_id, populate_existing=True)
            campaign = session.get(Campaign, found.campaign_id)
            assert contact is not None and campaign is not None
            queue_outbound(session, contact, confirmation, user_id=None, campaign=campaign, now=now)
        _tell(session, "optout", found, found.assigned_user_id, body, media, message_id)
        return _result(found, True, message_id)
    if found.was_out:
        # Kept for the record; the number stays opted out and the conversation closed.
        conn.execute(_UPDATE_CONTACT, {"contact_pk": found.contact_id, **changes})
        _sync_contact(session, found.contact_id, changes)
        return _result(found, True, message_id)
    changes["status"] = "needs_response"
    assignee = found.assigned_user_id
    if assignee is None and not found.escalated and found.reply_route == "me":
        assignee = conn.execute(_LAST_TEXTER, {"contact_pk": found.contact_id}).scalar()
        if assignee is not None:
            changes["assigned_user_id"] = assignee
            changes["assigned_at"] = now
    conn.execute(_UPDATE_CONTACT, {"contact_pk": found.contact_id, **changes})
    _sync_contact(session, found.contact_id, changes)
    _tell(session, "reply", found, assignee, body, media, message_id)
    unclaimed = assignee is None and not found.escalated
    if unclaimed and found.kind == "adhoc" and not _was_waiting(found):
        _tell_admins_unclaimed(session, found, body, media, message_id)
    return _result(found, False, message_id, unclaimed=unclaimed)


def _result(
    found: _Conversation, opted_out: bool, message_id: int, *, unclaimed: bool = False
) -> InboundResult:
    return InboundResult(
        True,
        found.contact_id,
        found.campaign_id,
        opted_out,
        message_id,
        found.title,
        found.kind,
        unclaimed,
    )


def _was_waiting(found: _Conversation) -> bool:
    """The conversation already waited unclaimed in the replies pool before this text (admins were told)."""
    return found.status == "needs_response" and found.assigned_user_id is None


def _tell_admins_unclaimed(
    session: Session, found: _Conversation, body: str, media: list[str], message_id: int
) -> None:
    """An ad-hoc reply nobody holds ("replies to anyone", or a number no campaign texted) waits in the
    ad-hoc campaign's replies pool: its admins are told once, when it starts waiting, so it is not missed.
    """
    for user_id in holders(session, found.organization_id, None).user_ids:
        _notify(
            session,
            "adhoc_unclaimed",
            found,
            user_id,
            body,
            media,
            message_id,
            {"campaign_id": found.campaign_id},
        )


def _sync_contact(session: Session, contact_id: int, changes: dict[str, Any]) -> None:
    """A Contact the session already holds was just updated behind its back: give it the new values."""
    contact = session.identity_map.get(identity_key(Contact, contact_id))
    if contact is not None:
        for key, value in changes.items():
            set_committed_value(contact, key, value)


def _tell(
    session: Session,
    kind: str,
    found: _Conversation,
    assignee: int | None,
    body: str,
    media: list[str],
    message_id: int,
) -> None:
    """Tell whoever holds the conversation: its assignee, and for an escalated one the admins or the
    members of the team it went to (found with one query, run only for an escalated conversation)."""
    told: set[int] = set()
    if found.escalated:
        held_by = holders(session, found.organization_id, found.escalated_team_id)
        extra = {"escalated": True, "team": held_by.team_name}
        for user_id in held_by.user_ids:
            _notify(session, kind, found, user_id, body, media, message_id, extra)
            told.add(user_id)
    if assignee is not None and assignee not in told:
        _notify(session, kind, found, assignee, body, media, message_id)


def _payload(found: _Conversation, body: str, media: list[str]) -> dict[str, Any]:
    return {
        "body": body,
        "media": list(media),
        "campaign_title": found.title,
        "contact_name": f"{found.first_name} {found.last_name}".strip(),
        "masked_cell": mask(found.cell),
    }


def _notify(
    session: Session,
    kind: str,
    found: _Conversation,
    user_id: int,
    body: str,
    media: list[str],
    message_id: int,
    extra: dict[str, Any] | None = None,
) -> None:
    add_notice(
        session,
        user_id=user_id,
        kind=kind,
        contact_id=found.contact_id,
        campaign_id=found.campaign_id,
        message_id=message_id,
        payload={**_payload(found, body, media), **(extra or {})},
    )

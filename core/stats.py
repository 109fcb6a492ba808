"""Campaign progress, per-texter counts and message review (seed 002: "How can I see if all my
initials were sent?")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, select, true
from sqlalchemy.orm import Session

from core.assignment import effective_max
from core.errors import Forbidden, NotFound, Refused
from core.orgs import require_admin, require_org_admin
from storage.models import Campaign, CampaignTexter, Contact, ContactTag, Tag, User

STATUSES = ("needs_message", "messaged", "needs_response", "convo", "closed")
# What people type for a status (slash commands, review filters), beside the names themselves.
STATUS_ALIASES = {
    "needs-first-message": "needs_message",
    "needs first message": "needs_message",
    "needs_first_message": "needs_message",
    "needs-message": "needs_message",
    "needs-response": "needs_response",
    "needs response": "needs_response",
    "unhandled": "needs_response",
}


def parse_status(value: str) -> str:
    """A status name from what a person typed; refuses an unknown one, listing the valid ones."""
    text = value.strip().lower()
    status = STATUS_ALIASES.get(text, text.replace("-", "_"))
    if status not in STATUSES:
        raise Refused(
            f"unknown status {value!r}: use needs-first-message, messaged, needs-response, convo or closed"
        )
    return status


@dataclass(frozen=True)
class CampaignStats:
    """A campaign's progress. Every count but ``opted_out`` and ``escalated`` leaves opted-out contacts out.

    ``sent_percent`` is ``sent`` over ``textable`` (its denominator: contacts not opted out), 0-100, and
    100 when none is textable; opted-out contacts are counted apart in ``opted_out``.
    """

    contacts: int
    sent_percent: float
    needs_message: int
    needs_message_unassigned: int
    messaged: int
    needs_response: int
    convo: int
    closed: int
    opted_out: int
    escalated: int
    # The percentage's numerator (texted at least once) and denominator (contacts - opted_out).
    sent: int = 0
    textable: int = 0

    @property
    def percent_basis(self) -> str:
        """What ``sent_percent`` is over, in words a person reads next to it."""
        plural = "" if self.textable == 1 else "s"
        out = f"; {self.opted_out:,} opted out, counted apart" if self.opted_out else ""
        return f"{self.sent:,} of {self.textable:,} textable contact{plural} texted{out}"


@dataclass(frozen=True)
class TexterCounts:
    user_id: int
    name: str
    unsent_initials: int
    unhandled_replies: int
    total_assigned: int
    # The texter's own cap, else the campaign's; None = no cap.
    max_initials: int | None


@dataclass(frozen=True)
class ReviewRow:
    contact_id: int
    cell: str  # whole: review is an admin view
    first_name: str
    last_name: str
    status: str
    opted_out: bool
    escalated: bool
    assigned_user_id: int | None
    assigned_name: str | None
    last_message_at: datetime | None


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _stats_columns() -> tuple[Any, ...]:
    not_out = Contact.opted_out == false()
    return (
        func.count(),
        _count(and_(not_out, Contact.status != "needs_message")),
        _count(not_out),
        _count(and_(not_out, Contact.status == "needs_message")),
        _count(and_(not_out, Contact.status == "needs_message", Contact.assigned_user_id.is_(None))),
        _count(and_(not_out, Contact.status == "messaged")),
        _count(and_(not_out, Contact.status == "needs_response")),
        _count(and_(not_out, Contact.status == "convo")),
        _count(and_(not_out, Contact.status == "closed")),
        _count(Contact.opted_out == true()),
        _count(Contact.escalated == true()),
    )


def _stats_of(row: Sequence[Any]) -> CampaignStats:
    total, sent, textable, needs, needs_free, messaged, needs_resp, convo, closed, out, esc = (
        int(v) for v in row
    )
    percent = 100.0 if textable == 0 else round(100.0 * sent / textable, 1)
    return CampaignStats(
        contacts=total,
        sent_percent=percent,
        needs_message=needs,
        needs_message_unassigned=needs_free,
        messaged=messaged,
        needs_response=needs_resp,
        convo=convo,
        closed=closed,
        opted_out=out,
        escalated=esc,
        sent=sent,
        textable=textable,
    )


def campaign_stats(session: Session, campaign: Campaign, *, actor: User) -> CampaignStats:
    """Progress of ``campaign`` in one aggregate query (admin)."""
    require_org_admin(actor, campaign.organization_id)
    return _stats_of(
        session.execute(select(*_stats_columns()).where(Contact.campaign_id == campaign.id)).one()
    )


def stats_by_campaign(session: Session, campaign_ids: Sequence[int]) -> dict[int, CampaignStats]:
    """``campaign_stats`` of several campaigns in one grouped query (the caller checked the admin).

    A campaign with no contacts is complete (100%), as ``campaign_stats`` says.
    """
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(Contact.campaign_id, *_stats_columns())
        .where(Contact.campaign_id.in_(list(campaign_ids)))
        .group_by(Contact.campaign_id)
    ).all()
    found = {int(row[0]): _stats_of(row[1:]) for row in rows}
    empty = _stats_of([0] * len(_stats_columns()))
    return {campaign_id: found.get(campaign_id, empty) for campaign_id in campaign_ids}


def texter_counts(session: Session, campaign: Campaign, *, actor: User) -> list[TexterCounts]:
    """Every texter of ``campaign`` (members, and anyone holding its contacts), by name (admin)."""
    require_org_admin(actor, campaign.organization_id)
    return _texter_counts(session, campaign, None)


def own_counts(session: Session, campaign: Campaign, user: User) -> TexterCounts | None:
    """``user``'s own line of ``texter_counts`` (None when neither a member nor holding contacts of it).

    A texter's dashboard reads it: it needs no admin role, and shows nobody else's work.
    """
    if user.organization_id != campaign.organization_id:
        raise Forbidden(f"the campaign {campaign.title!r} belongs to another organization")
    rows = _texter_counts(session, campaign, user.id)
    return rows[0] if rows else None


def _texter_counts(session: Session, campaign: Campaign, user_id: int | None) -> list[TexterCounts]:
    per_user = (
        select(
            Contact.assigned_user_id.label("user_id"),
            _count(and_(Contact.status == "needs_message", Contact.opted_out == false())).label("unsent"),
            _count(and_(Contact.status == "needs_response", Contact.opted_out == false())).label("replies"),
            func.count().label("total"),
        )
        .where(Contact.campaign_id == campaign.id, Contact.assigned_user_id.is_not(None))
        .group_by(Contact.assigned_user_id)
    )
    member_rows = select(CampaignTexter).where(CampaignTexter.campaign_id == campaign.id)
    if user_id is not None:
        per_user = per_user.where(Contact.assigned_user_id == user_id)
        member_rows = member_rows.where(CampaignTexter.user_id == user_id)
    counts = {row.user_id: row for row in session.execute(per_user)}
    members = {m.user_id: m for m in session.scalars(member_rows)}
    user_ids = set(counts) | set(members)
    if not user_ids:
        return []
    users = session.scalars(select(User).where(User.id.in_(user_ids))).all()
    result = []
    for user in users:
        row = counts.get(user.id)
        result.append(
            TexterCounts(
                user_id=user.id,
                name=user.name,
                unsent_initials=int(row.unsent) if row else 0,
                unhandled_replies=int(row.replies) if row else 0,
                total_assigned=int(row.total) if row else 0,
                max_initials=effective_max(campaign, members.get(user.id)),
            )
        )
    return sorted(result, key=lambda t: (t.name.lower(), t.user_id))


def resolve_tag(session: Session, campaign: Campaign, tag: Tag | str) -> Tag:
    """A tag of the campaign's organization, by object or name."""
    if isinstance(tag, Tag):
        if tag.organization_id != campaign.organization_id:
            raise Forbidden(f"the tag {tag.name!r} belongs to another organization")
        return tag
    found = session.scalars(
        select(Tag).where(Tag.organization_id == campaign.organization_id, Tag.name == tag.strip())
    ).first()
    if found is None:
        raise NotFound(f"no tag named {tag!r}: check the spelling, or list the tags with /textbank tags")
    return found


def filtered_contacts(
    session: Session,
    campaign: Campaign,
    *,
    status: str | None = None,
    texter: User | None = None,
    tag: Tag | str | None = None,
) -> Select[int]:
    """``SELECT contacts.id`` of ``campaign`` matching the review filters (shared with unassign)."""
    query = select(Contact.id).where(Contact.campaign_id == campaign.id)
    if status is not None:
        query = query.where(Contact.status == parse_status(status))
    if texter is not None:
        query = query.where(Contact.assigned_user_id == texter.id)
    if tag is not None:
        tag_row = resolve_tag(session, campaign, tag)
        tagged = select(ContactTag.contact_id).where(ContactTag.tag_id == tag_row.id)
        query = query.where(Contact.id.in_(tagged))
    return query


def review(
    session: Session,
    actor: User,
    campaign: Campaign,
    *,
    status: str | None = None,
    texter: User | None = None,
    tag: Tag | str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[ReviewRow]:
    """Message review (admin): the campaign's contacts matching the filters, oldest first."""
    require_admin(actor)
    if actor.organization_id != campaign.organization_id:
        raise Forbidden(f"the campaign {campaign.title!r} belongs to another organization")
    if limit <= 0 or offset < 0:
        raise Refused("limit must be 1 or more and offset 0 or more")
    ids = filtered_contacts(session, campaign, status=status, texter=texter, tag=tag)
    rows = session.execute(
        select(Contact, User.name)
        .outerjoin(User, User.id == Contact.assigned_user_id)
        .where(Contact.id.in_(ids))
        .order_by(Contact.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        ReviewRow(
            contact_id=c.id,
            cell=c.cell,
            first_name=c.first_name,
            last_name=c.last_name,
            status=c.status,
            opted_out=c.opted_out,
            escalated=c.escalated,
            assigned_user_id=c.assigned_user_id,
            assigned_name=name,
            last_message_at=c.last_message_at,
        )
        for c, name in rows
    ]

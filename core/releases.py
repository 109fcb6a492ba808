"""Releases: contacts go back to the unassigned pools (seed 002 and 003).

Done For Now releases nothing; Done for the Day releases a texter's unsent initials and unhandled replies;
an admin can release one texter's unsent initials (the trash can) or unassign by a review filter; the
Release Unhandled Replies job unassigns replies left unanswered for N minutes, timed from the contact's
last inbound message. A texter whose work an admin or the job released gets a ``released`` notice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, false, func, select, update
from sqlalchemy.orm import Session

from core.assignment import Availability, availability, is_postgres
from core.errors import Forbidden
from core.notices import add_finished, add_notice
from core.orgs import require_admin
from core.stats import filtered_contacts
from storage.locks import try_job_lock
from storage.models import Campaign, Contact, Tag, User
from storage.types import utcnow

RELEASE_JOB = "release_unhandled_replies"


@dataclass(frozen=True)
class ReleaseCounts:
    initials: int
    replies: int

    @property
    def total(self) -> int:
        return self.initials + self.replies


@dataclass(frozen=True)
class Remaining:
    """What is still on the texter's account after Done For Now, and whether they could ask for more."""

    unsent_initials: int
    unhandled_replies: int
    availability: Availability


def _same_org(campaign: Campaign, user: User) -> None:
    if user.organization_id != campaign.organization_id:
        raise Forbidden(f"{user.name} belongs to another organization than the campaign {campaign.title!r}")


def _unassign(session: Session, condition: ColumnElement[bool]) -> list[tuple[int, int, int, str]]:
    """Unassign the contacts matching ``condition``; returns (id, campaign, former texter, status) of each.

    The rows are read and locked first (PostgreSQL), so what is reported is exactly what was released.
    """
    query = select(Contact.id, Contact.campaign_id, Contact.assigned_user_id, Contact.status).where(
        condition, Contact.assigned_user_id.is_not(None)
    )
    if is_postgres(session):
        query = query.with_for_update(of=Contact)
    rows = [(r.id, r.campaign_id, r.assigned_user_id, r.status) for r in session.execute(query)]
    for start in range(0, len(rows), 1000):
        ids = [r[0] for r in rows[start : start + 1000]]
        session.execute(
            update(Contact)
            .where(Contact.id.in_(ids))
            .values(assigned_user_id=None, assigned_at=None)
            .execution_options(synchronize_session="fetch")
        )
    add_finished(session, [r[0] for r in rows])  # their threads close (Discord archives them)
    return rows


def _notify(
    session: Session, rows: list[tuple[int, int, int, str]], reason: str, by: str | None = None
) -> None:
    """One ``released`` notice per texter and campaign, with the counts by status."""
    grouped: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _id, campaign_id, user_id, status in rows:
        grouped[(user_id, campaign_id)][status] += 1
    for (user_id, campaign_id), by_status in sorted(grouped.items()):
        campaign = session.get(Campaign, campaign_id)
        add_notice(
            session,
            user_id=user_id,
            kind="released",
            campaign_id=campaign_id,
            payload={
                "reason": reason,
                "by": by,
                "campaign_title": campaign.title if campaign else "",
                "initials": by_status.get("needs_message", 0),
                "replies": by_status.get("needs_response", 0),
                "total": sum(by_status.values()),
            },
        )


def _counts(rows: list[tuple[int, int, int, str]]) -> ReleaseCounts:
    return ReleaseCounts(
        initials=sum(1 for r in rows if r[3] == "needs_message"),
        replies=sum(1 for r in rows if r[3] == "needs_response"),
    )


def done_for_now(session: Session, campaign: Campaign, user: User, now: datetime | None = None) -> Remaining:
    """Ends the batch prompt: releases nothing, returns what is left on the texter's account."""
    _same_org(campaign, user)
    rows = dict(
        session.execute(
            select(Contact.status, func.count())
            .where(
                Contact.campaign_id == campaign.id,
                Contact.assigned_user_id == user.id,
                Contact.status.in_(("needs_message", "needs_response")),
                Contact.opted_out == false(),
            )
            .group_by(Contact.status)
        ).all()
    )
    return Remaining(
        unsent_initials=int(rows.get("needs_message", 0)),
        unhandled_replies=int(rows.get("needs_response", 0)),
        availability=availability(session, campaign, user, "initials", now),
    )


def done_for_the_day(session: Session, campaign: Campaign | None, user: User) -> ReleaseCounts:
    """The texter releases their unsent initials and unhandled replies, in ``campaign`` or everywhere."""
    condition = Contact.status.in_(("needs_message", "needs_response")) & (
        Contact.assigned_user_id == user.id
    )
    if campaign is not None:
        _same_org(campaign, user)
        condition = condition & (Contact.campaign_id == campaign.id)
    return _counts(_unassign(session, condition))


def release_texter_initials(session: Session, actor: User, campaign: Campaign, user: User) -> int:
    """The admin's trash can: ``user``'s unsent initials in ``campaign`` go back to the pool."""
    require_admin(actor)
    _same_org(campaign, actor)
    _same_org(campaign, user)
    rows = _unassign(
        session,
        (Contact.campaign_id == campaign.id)
        & (Contact.assigned_user_id == user.id)
        & (Contact.status == "needs_message"),
    )
    _notify(session, rows, "admin", actor.name)
    return len(rows)


def unassign_by_filter(
    session: Session,
    actor: User,
    campaign: Campaign,
    status: str | None = None,
    texter: User | None = None,
    tag: Tag | str | None = None,
) -> int:
    """Review: unassign every assigned contact of ``campaign`` matching the filters (admin)."""
    require_admin(actor)
    _same_org(campaign, actor)
    ids = filtered_contacts(session, campaign, status=status, texter=texter, tag=tag)
    rows = _unassign(session, Contact.id.in_(ids))
    _notify(session, rows, "review", actor.name)
    return len(rows)


def release_unhandled_replies(session: Session, now: datetime | None = None) -> int:
    """The scheduled job: unassign replies unanswered for the campaign's N minutes; returns how many.

    Idempotent (a released contact is unassigned, so a second run finds nothing) and guarded by an
    advisory lock so one process of several runs it. Timed from ``last_inbound_at``, never from a row
    update; escalated contacts are not in the pools and are skipped. A reply with no inbound time
    recorded cannot be timed and stays.
    """
    if not try_job_lock(session, RELEASE_JOB):
        return 0
    now = now or utcnow()
    campaigns = session.execute(
        select(Campaign.id, Campaign.release_unhandled_after_minutes).where(
            Campaign.status == "launched", Campaign.release_unhandled_after_minutes.is_not(None)
        )
    ).all()
    released: list[tuple[int, int, int, str]] = []
    for campaign_id, minutes in campaigns:
        if minutes is None:  # the query leaves those out
            continue
        cutoff = now - timedelta(minutes=minutes)
        released += _unassign(
            session,
            (Contact.campaign_id == campaign_id)
            & (Contact.status == "needs_response")
            & (Contact.escalated == false())
            & Contact.last_inbound_at.is_not(None)
            & (Contact.last_inbound_at < cutoff),
        )
    _notify(session, released, "unhandled")
    return len(released)

"""Reply reminders: a texter holding replies unanswered for the campaign's ``reply_reminder_minutes`` gets
one ``reply_reminder`` notice per campaign saying how many, so the replies are answered before Release
Unhandled Replies (which a campaign sets to a longer time) takes them away.

A reply waits from the contact's last text (``Contact.last_inbound_at``), never from a row update. Only
replies the texter holds count: answered ones (``convo``), released or escalated ones, and opted-out numbers
do not, so a texter who answered or lost them is not reminded. A texter is reminded again at the earliest
``reply_reminder_minutes`` after their last reminder in that campaign (``reply_reminders`` keeps when).

``send_reply_reminders`` is the scheduled job's whole work: idempotent within that interval and guarded by
an advisory lock, so one process of several runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import false, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.notices import add_notice
from storage.locks import try_job_lock
from storage.models import Campaign, Contact, ReplyReminder
from storage.types import utcnow

REMINDER_JOB = "reply_reminders"
NOTICE_KIND = "reply_reminder"


@dataclass(frozen=True)
class Reminder:
    """One reminder written: ``count`` replies of ``campaign_id`` waiting on ``user_id``."""

    user_id: int
    campaign_id: int
    count: int


def _waiting(session: Session, campaign_id: int, cutoff: datetime) -> list[tuple[int, int, datetime]]:
    """(texter, replies waiting since ``cutoff`` or longer, the oldest one's last text) in the campaign."""
    rows = session.execute(
        select(Contact.assigned_user_id, func.count(), func.min(Contact.last_inbound_at))
        .where(
            Contact.campaign_id == campaign_id,
            Contact.status == "needs_response",
            Contact.assigned_user_id.is_not(None),
            Contact.escalated == false(),
            Contact.opted_out == false(),
            Contact.last_inbound_at.is_not(None),
            Contact.last_inbound_at <= cutoff,
        )
        .group_by(Contact.assigned_user_id)
        .order_by(Contact.assigned_user_id)
    ).all()
    waiting = []
    for user_id, count, oldest in rows:
        assert user_id is not None and oldest is not None  # both filtered on above
        waiting.append((user_id, int(count), oldest))
    return waiting


def _record(session: Session, campaign_id: int, user_id: int, now: datetime) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ReplyReminder.__table__).values(
        campaign_id=campaign_id, user_id=user_id, reminded_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "user_id"], set_={"reminded_at": statement.excluded.reminded_at}
        )
    )


def send_reply_reminders(session: Session, now: datetime | None = None) -> list[Reminder]:
    """The scheduled job: one ``reply_reminder`` notice per texter and launched campaign whose replies
    have waited ``reply_reminder_minutes`` or more, unless that texter was reminded there less than that
    long ago. Returns the reminders written (none when another process holds the job's lock).

    The notice's payload: ``campaign_id``, ``campaign_title``, ``count`` (replies waiting that long),
    ``minutes`` (the setting) and ``oldest_at`` (ISO 8601 UTC: the longest-waiting reply's last text).
    """
    if not try_job_lock(session, REMINDER_JOB):
        return []
    now = now or utcnow()
    campaigns = session.execute(
        select(Campaign.id, Campaign.title, Campaign.reply_reminder_minutes)
        .where(Campaign.status == "launched", Campaign.reply_reminder_minutes > 0)
        .order_by(Campaign.id)
    ).all()
    written: list[Reminder] = []
    for campaign_id, title, minutes in campaigns:
        interval = timedelta(minutes=minutes)
        waiting = _waiting(session, campaign_id, now - interval)
        if not waiting:
            continue
        last = dict(
            session.execute(
                select(ReplyReminder.user_id, ReplyReminder.reminded_at).where(
                    ReplyReminder.campaign_id == campaign_id,
                    ReplyReminder.user_id.in_([user_id for user_id, _, _ in waiting]),
                )
            ).all()
        )
        for user_id, count, oldest in waiting:
            reminded = last.get(user_id)
            if reminded is not None and now - reminded < interval:
                continue
            add_notice(
                session,
                user_id=user_id,
                kind=NOTICE_KIND,
                campaign_id=campaign_id,
                payload={
                    "campaign_id": campaign_id,
                    "campaign_title": title,
                    "count": count,
                    "minutes": minutes,
                    "oldest_at": oldest.isoformat(),
                },
            )
            _record(session, campaign_id, user_id, now)
            written.append(Reminder(user_id, campaign_id, count))
    return written

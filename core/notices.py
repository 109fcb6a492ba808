"""Notices: what a texter must see, written in the same transaction as the change that caused it.

Each platform's relay worker drains the rows of its platform (see ``claim_pending``) and posts them.
A user with accounts on several platforms gets one row per platform; a user with no chat account
(a CLI-only admin) gets a ``cli`` row, so nothing is silently dropped.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import Notice, PlatformIdentity
from storage.types import utcnow

CHAT_PLATFORMS = ("slack", "discord")


def add_notice(
    session: Session,
    *,
    user_id: int,
    kind: str,
    contact_id: int | None = None,
    campaign_id: int | None = None,
    message_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> list[Notice]:
    """Queue ``kind`` for ``user_id`` on every platform they use; returns the rows written."""
    platforms = sorted(
        set(
            session.scalars(
                select(PlatformIdentity.platform).where(
                    PlatformIdentity.user_id == user_id, PlatformIdentity.platform.in_(CHAT_PLATFORMS)
                )
            )
        )
    ) or ["cli"]
    rows = [
        Notice(
            platform=platform,
            user_id=user_id,
            kind=kind,
            contact_id=contact_id,
            campaign_id=campaign_id,
            message_id=message_id,
            payload=payload or {},
            status="pending",
        )
        for platform in platforms
    ]
    session.add_all(rows)
    session.flush()
    return rows


def claim_pending(session: Session, platform: str, limit: int = 50) -> list[Notice]:
    """Take up to ``limit`` pending notices of ``platform``, oldest first, marking them ``posting``.

    On PostgreSQL concurrent relay workers skip each other's rows (FOR UPDATE SKIP LOCKED). Oldest-first
    order keeps a conversation's notices in order for a single worker.
    """
    query = (
        select(Notice.id)
        .where(Notice.platform == platform, Notice.status == "pending")
        .order_by(Notice.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return []
    session.execute(
        update(Notice)
        .where(Notice.id.in_(ids))
        .values(status="posting", attempts=Notice.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(select(Notice).where(Notice.id.in_(ids)).order_by(Notice.id)))


def mark_posted(session: Session, notice_id: int) -> None:
    session.execute(
        update(Notice).where(Notice.id == notice_id).values(status="posted", posted_at=utcnow())
    )


def mark_retry(session: Session, notice_id: int, *, give_up_after: int = 10) -> None:
    """Put a notice back for another try after a transient failure; give up after ``give_up_after``."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        return
    notice.status = "dead" if notice.attempts >= give_up_after else "pending"


def requeue_stuck(session: Session, platform: str, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Notices left in ``posting`` by a worker that died go back to ``pending``.

    A chat post is idempotent enough to repeat (the adapter edits its thread), unlike an SMS.
    """
    cutoff = utcnow() - older_than
    result = session.execute(
        update(Notice)
        .where(Notice.platform == platform, Notice.status == "posting", Notice.created_at < cutoff)
        .values(status="pending")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0

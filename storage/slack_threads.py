"""Queries on ``slack_threads``: where a conversation lives in a texter's Slack DM, and what it already shows.

Plain functions over a Session, used only by the Slack adapter's bookkeeping (``bot.slack.threads``). The
steps that must happen once are compare-and-set statements: inserting the thread row (``insert_pending``)
and advancing ``last_message_id`` (``advance``), so two workers never post the same thing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import SlackThread

PENDING = ""  # thread_ts of a thread whose parent message is being posted


@dataclass(frozen=True)
class ThreadRef:
    id: int
    channel_id: str
    thread_ts: str
    control_ts: str | None
    last_message_id: int

    @property
    def ready(self) -> bool:
        return self.thread_ts != PENDING


def _ref(row: SlackThread) -> ThreadRef:
    return ThreadRef(row.id, row.channel_id, row.thread_ts, row.control_ts, row.last_message_id)


def find(session: Session, contact_id: int, user_id: int) -> ThreadRef | None:
    row = session.scalars(
        select(SlackThread).where(SlackThread.contact_id == contact_id, SlackThread.user_id == user_id)
    ).first()
    return _ref(row) if row else None


def insert_pending(session: Session, contact_id: int, user_id: int, channel_id: str) -> bool:
    """Insert the (contact, user) thread with no parent message yet; False when it already exists."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(SlackThread)
        .values(
            contact_id=contact_id,
            user_id=user_id,
            channel_id=channel_id,
            thread_ts=PENDING,
            control_ts=None,
            last_message_id=0,
        )
        .on_conflict_do_nothing()
        .returning(SlackThread.id)
    )
    return session.execute(statement).first() is not None


def claim(session: Session, contact_id: int, user_id: int, channel_id: str) -> tuple[ThreadRef, bool]:
    """The thread of (contact, user); True when this call created it (and must post its parent message)."""
    created = insert_pending(session, contact_id, user_id, channel_id)
    ref = find(session, contact_id, user_id)
    assert ref is not None
    return ref, created


def set_parent(session: Session, thread_id: int, thread_ts: str) -> None:
    session.execute(update(SlackThread).where(SlackThread.id == thread_id).values(thread_ts=thread_ts))


def forget(session: Session, thread_id: int) -> None:
    """Drop a thread whose parent message could not be posted (the next notice starts it again)."""
    row = session.get(SlackThread, thread_id)
    if row is not None and row.thread_ts == PENDING:
        session.delete(row)


def advance(session: Session, thread_id: int, seen: int, newest: int) -> bool:
    """Claim the messages after ``seen`` up to ``newest`` for posting; False when someone else did."""
    result = session.execute(
        update(SlackThread)
        .where(SlackThread.id == thread_id, SlackThread.last_message_id == seen)
        .values(last_message_id=newest)
    )
    return result.rowcount == 1


def set_control(session: Session, thread_id: int, control_ts: str) -> str | None:
    """Record the new control message; returns the previous one (to delete)."""
    row = session.get(SlackThread, thread_id)
    if row is None:
        return None
    old = row.control_ts
    row.control_ts = control_ts
    return old


def recent(session: Session, user_id: int, limit: int = 10) -> list[tuple[int, str, str]]:
    """The user's newest threads with a parent message: (contact id, channel, thread ts)."""
    rows = session.execute(
        select(SlackThread.contact_id, SlackThread.channel_id, SlackThread.thread_ts)
        .where(SlackThread.user_id == user_id, SlackThread.thread_ts != PENDING)
        .order_by(SlackThread.id.desc())
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in rows]

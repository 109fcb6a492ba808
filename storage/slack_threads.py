"""Queries on ``slack_threads``: where a conversation lives in a texter's Slack DM, and what it already shows.

Plain functions over a Session, used only by the Slack adapter's bookkeeping (``bot.slack.threads``). The
steps that must happen once are compare-and-set statements: inserting the thread row (``insert_pending``)
and advancing ``last_message_id`` (``advance``), so two workers never post the same thing twice. A claim
whose posts Slack refused is handed back with ``advance`` the other way, so they are posted later.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
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


_T = SlackThread.__table__
# Built once: a burst of replies runs these for every conversation, and building a statement costs more
# Python time than running it.
_FIND = select(_T.c.id, _T.c.channel_id, _T.c.thread_ts, _T.c.control_ts, _T.c.last_message_id).where(
    _T.c.contact_id == bindparam("b_contact"), _T.c.user_id == bindparam("b_user")
)
_ADVANCE = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.last_message_id == bindparam("b_seen"))
    .values(last_message_id=bindparam("b_newest"))
)
_SET_PARENT = update(_T).where(_T.c.id == bindparam("b_thread")).values(thread_ts=bindparam("b_ts"))
_RECORD = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.control_ts == bindparam("b_seen"))
    .values(control_ts=bindparam("b_control"))
)
_RECORD_FIRST = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.control_ts.is_(None))
    .values(control_ts=bindparam("b_control"))
)
_RECORD_STARTED = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.control_ts.is_(None))
    .values(control_ts=bindparam("b_control"), thread_ts=bindparam("b_ts"))
)
_CONTROL = select(_T.c.control_ts).where(_T.c.id == bindparam("b_thread")).with_for_update()
_SET_CONTROL = update(_T).where(_T.c.id == bindparam("b_thread")).values(control_ts=bindparam("b_control"))
_INSERTS = {
    name: dialect.insert(_T)
    .values(
        contact_id=bindparam("b_contact"),
        user_id=bindparam("b_user"),
        channel_id=bindparam("b_channel"),
        thread_ts=PENDING,
        control_ts=None,
        last_message_id=0,
    )
    .on_conflict_do_nothing()
    .returning(_T.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def find(session: Session, contact_id: int, user_id: int) -> ThreadRef | None:
    row = session.connection().execute(_FIND, {"b_contact": contact_id, "b_user": user_id}).first()
    return ThreadRef(row[0], row[1], row[2], row[3], row[4]) if row is not None else None


def insert_pending(session: Session, contact_id: int, user_id: int, channel_id: str) -> int | None:
    """Insert the (contact, user) thread with no parent message yet; its id, or None if it exists."""
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    row = (
        session.connection()
        .execute(_INSERTS[dialect], {"b_contact": contact_id, "b_user": user_id, "b_channel": channel_id})
        .first()
    )
    return int(row[0]) if row is not None else None


def claim(session: Session, contact_id: int, user_id: int, channel_id: str) -> tuple[ThreadRef, bool]:
    """The thread of (contact, user); True when this call created it (and must post its parent message).

    An existing thread costs one query, a new one one insert.
    """
    ref = find(session, contact_id, user_id)
    if ref is not None:
        return ref, False
    new_id = insert_pending(session, contact_id, user_id, channel_id)
    if new_id is not None:
        return ThreadRef(new_id, channel_id, PENDING, None, 0), True
    ref = find(session, contact_id, user_id)  # inserted by someone else since our look
    assert ref is not None
    return ref, False


def set_parent(session: Session, thread_id: int, thread_ts: str) -> None:
    session.connection().execute(_SET_PARENT, {"b_thread": thread_id, "b_ts": thread_ts})


def forget(session: Session, thread_id: int) -> None:
    """Drop a thread whose parent message could not be posted (the next notice starts it again)."""
    row = session.get(SlackThread, thread_id)
    if row is not None and row.thread_ts == PENDING:
        session.delete(row)


def advance(session: Session, thread_id: int, seen: int, newest: int) -> bool:
    """Claim the messages after ``seen`` up to ``newest`` for posting; False when someone else did.

    The same compare-and-set hands a claim back (``seen`` the claimed end, ``newest`` the last one posted).
    """
    result = session.connection().execute(
        _ADVANCE, {"b_thread": thread_id, "b_seen": seen, "b_newest": newest}
    )
    return result.rowcount == 1


def set_control(session: Session, thread_id: int, control_ts: str) -> str | None:
    """Record the new control message; returns the previous one (to delete)."""
    connection = session.connection()
    old = connection.execute(_CONTROL, {"b_thread": thread_id}).scalar()
    connection.execute(_SET_CONTROL, {"b_thread": thread_id, "b_control": control_ts})
    return old


def record(
    session: Session,
    thread_id: int,
    control_ts: str,
    *,
    seen_control: str | None,
    thread_ts: str | None = None,
) -> str | None:
    """Record the thread's new control message (and its parent, when the thread was just started).

    Returns the previous control message (to delete). ``seen_control`` is the one the caller read when it
    claimed the thread: when nobody replaced it since, this is one UPDATE.
    """
    params = {"b_thread": thread_id, "b_control": control_ts, "b_seen": seen_control, "b_ts": thread_ts}
    if thread_ts is not None and seen_control is None:
        statement = _RECORD_STARTED
    else:
        if thread_ts is not None:
            set_parent(session, thread_id, thread_ts)
        statement = _RECORD_FIRST if seen_control is None else _RECORD
    connection = session.connection()
    if connection.execute(statement, params).rowcount == 1:
        return seen_control
    # Someone else replaced the control message since we looked: take theirs as the one to delete.
    if thread_ts is not None:
        set_parent(session, thread_id, thread_ts)
    return set_control(session, thread_id, control_ts)


def recent(session: Session, user_id: int, limit: int = 10) -> list[tuple[int, str, str]]:
    """The user's newest threads with a parent message: (contact id, channel, thread ts)."""
    rows = session.execute(
        select(SlackThread.contact_id, SlackThread.channel_id, SlackThread.thread_ts)
        .where(SlackThread.user_id == user_id, SlackThread.thread_ts != PENDING)
        .order_by(SlackThread.id.desc())
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in rows]

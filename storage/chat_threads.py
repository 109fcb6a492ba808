"""Queries on ``chat_threads``: where a conversation lives on a chat platform, and what it already shows.

Plain functions over a Session, used by the chat layer's thread bookkeeping (``bot.chat.threads``) for
every platform. The steps that must happen once are compare-and-set statements: inserting the thread row
(``claim``) and advancing ``last_message_id`` (``advance``), so two workers never post the same thing
twice. A claim whose posts the platform refused is handed back with ``advance`` the other way. The lease
(``lease_owner``, ``lease_until``) lets one process at a time post into a thread, so several processes
keep its order; it is taken with the claim and let go when the control message is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Campaign, ChatThread, Contact
from storage.types import utcnow

PENDING = ""  # thread_id of a thread whose parent message is being posted
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class ThreadRef:
    id: int
    channel_id: str
    thread_id: str
    control_id: str | None
    last_message_id: int
    closed: bool = False

    @property
    def ready(self) -> bool:
        return self.thread_id != PENDING


_T = ChatThread.__table__
# Built once: a burst of replies runs these for every conversation, and building a statement costs more
# Python time than running it.
_FIND = select(
    _T.c.id, _T.c.channel_id, _T.c.thread_id, _T.c.control_id, _T.c.last_message_id, _T.c.closed
).where(
    _T.c.platform == bindparam("b_platform"),
    _T.c.contact_id == bindparam("b_contact"),
    _T.c.user_id == bindparam("b_user"),
)
_ADVANCE = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.last_message_id == bindparam("b_seen"))
    .values(last_message_id=bindparam("b_newest"))
)
_SET_PARENT = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"))
    .values(channel_id=bindparam("b_channel"), thread_id=bindparam("b_ts"))
)
_LEASE = (
    update(_T)
    .where(
        _T.c.id == bindparam("b_thread"),
        or_(
            _T.c.lease_owner.is_(None),
            _T.c.lease_owner == bindparam("b_owner"),
            _T.c.lease_until < bindparam("b_now"),
        ),
    )
    .values(lease_owner=bindparam("b_owner"), lease_until=bindparam("b_until"))
)
_UNLEASE = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.lease_owner == bindparam("b_owner"))
    .values(lease_owner=None, lease_until=None)
)
_RENEW = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.lease_owner == bindparam("b_owner"))
    .values(lease_until=bindparam("b_until"))
)
_RECORD = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.control_id == bindparam("b_seen"))
    .values(control_id=bindparam("b_control"))
)
_RECORD_FIRST = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.control_id.is_(None))
    .values(control_id=bindparam("b_control"))
)
_RECORD_STARTED = (
    update(_T)
    .where(_T.c.id == bindparam("b_thread"), _T.c.control_id.is_(None))
    .values(control_id=bindparam("b_control"), channel_id=bindparam("b_channel"), thread_id=bindparam("b_ts"))
)
_CONTROL = select(_T.c.control_id).where(_T.c.id == bindparam("b_thread")).with_for_update()
_SET_CONTROL = update(_T).where(_T.c.id == bindparam("b_thread")).values(control_id=bindparam("b_control"))
_INSERTS = {
    name: dialect.insert(_T)
    .values(
        platform=bindparam("b_platform"),
        contact_id=bindparam("b_contact"),
        user_id=bindparam("b_user"),
        channel_id=bindparam("b_channel"),
        thread_id=PENDING,
        control_id=None,
        last_message_id=0,
        closed=False,
        lease_owner=bindparam("b_owner"),
        lease_until=bindparam("b_until"),
        created_at=bindparam("b_now"),
    )
    .on_conflict_do_nothing()
    .returning(_T.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def find(session: Session, platform: str, contact_id: int, user_id: int) -> ThreadRef | None:
    row = (
        session.connection()
        .execute(_FIND, {"b_platform": platform, "b_contact": contact_id, "b_user": user_id})
        .first()
    )
    return ThreadRef(row[0], row[1], row[2], row[3], row[4], bool(row[5])) if row is not None else None


def claim(
    session: Session,
    platform: str,
    contact_id: int,
    user_id: int,
    channel_id: str,
    owner: str,
    now: datetime | None = None,
) -> tuple[ThreadRef | None, bool]:
    """The thread of (platform, contact, user) leased to ``owner``; True when this call created it.

    A created thread must get its parent message from the caller. Returns (None, False) when another
    owner holds the thread's lease (try again shortly). An existing thread costs two statements, a new
    one one insert.
    """
    now = now or utcnow()
    until = now + LEASE
    ref = find(session, platform, contact_id, user_id)
    if ref is None:
        dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
        params = {
            "b_platform": platform,
            "b_contact": contact_id,
            "b_user": user_id,
            "b_channel": channel_id,
            "b_owner": owner,
            "b_until": until,
            "b_now": now,
        }
        row = session.connection().execute(_INSERTS[dialect], params).first()
        if row is not None:
            return ThreadRef(int(row[0]), channel_id, PENDING, None, 0), True
        ref = find(session, platform, contact_id, user_id)  # inserted by someone else since our look
        assert ref is not None
    leased = session.connection().execute(
        _LEASE, {"b_thread": ref.id, "b_owner": owner, "b_now": now, "b_until": until}
    )
    return (ref if leased.rowcount == 1 else None), False


def set_closed(session: Session, thread_id: int, closed: bool) -> None:
    """Record that the platform's thread was closed (archived) or reopened."""
    session.execute(update(ChatThread).where(ChatThread.id == thread_id).values(closed=closed))


def renew(session: Session, thread_id: int, owner: str, now: datetime | None = None) -> bool:
    """Extend ``owner``'s lease on the thread to ``LEASE`` from now; False when it is no longer theirs."""
    until = (now or utcnow()) + LEASE
    renewed = session.connection().execute(
        _RENEW, {"b_thread": thread_id, "b_owner": owner, "b_until": until}
    )
    return renewed.rowcount == 1


def let_go(session: Session, thread_id: int, owner: str) -> None:
    """Give up ``owner``'s lease on the thread (nothing when someone else holds it)."""
    session.connection().execute(_UNLEASE, {"b_thread": thread_id, "b_owner": owner})


def set_parent(session: Session, thread_id: int, started: tuple[str, str]) -> None:
    """Record the thread a sync started: (channel id, thread id)."""
    session.connection().execute(
        _SET_PARENT, {"b_thread": thread_id, "b_channel": started[0], "b_ts": started[1]}
    )


def forget(session: Session, thread_id: int) -> None:
    """Drop a thread whose parent message could not be posted (the next notice starts it again)."""
    row = session.get(ChatThread, thread_id)
    if row is not None and row.thread_id == PENDING:
        session.delete(row)


def advance(session: Session, thread_id: int, seen: int, newest: int) -> bool:
    """Claim the messages after ``seen`` up to ``newest`` for posting; False when someone else did.

    The same compare-and-set hands a claim back (``seen`` the claimed end, ``newest`` the last one posted).
    """
    result = session.connection().execute(
        _ADVANCE, {"b_thread": thread_id, "b_seen": seen, "b_newest": newest}
    )
    return result.rowcount == 1


def set_control(session: Session, thread_id: int, control_id: str) -> str | None:
    """Record the new control message; returns the previous one (to delete)."""
    connection = session.connection()
    old = connection.execute(_CONTROL, {"b_thread": thread_id}).scalar()
    connection.execute(_SET_CONTROL, {"b_thread": thread_id, "b_control": control_id})
    return old


def record(
    session: Session,
    thread_id: int,
    control_id: str,
    *,
    seen_control: str | None,
    started: tuple[str, str] | None = None,
) -> str | None:
    """Record the thread's new control message (and its parent, when the thread was just started).

    Returns the previous control message (to delete). ``seen_control`` is the one the caller read when it
    claimed the thread: when nobody replaced it since, this is one UPDATE. ``started``: (channel id,
    thread id) of the thread this caller started.
    """
    channel, ts = started if started is not None else (None, None)
    params = {
        "b_thread": thread_id,
        "b_control": control_id,
        "b_seen": seen_control,
        "b_channel": channel,
        "b_ts": ts,
    }
    if started is not None and seen_control is None:
        statement = _RECORD_STARTED
    else:
        if started is not None:
            set_parent(session, thread_id, started)
        statement = _RECORD_FIRST if seen_control is None else _RECORD
    connection = session.connection()
    if connection.execute(statement, params).rowcount == 1:
        return seen_control
    # Someone else replaced the control message since we looked: take theirs as the one to delete.
    if started is not None:
        set_parent(session, thread_id, started)
    return set_control(session, thread_id, control_id)


@dataclass(frozen=True)
class Placed:
    contact_id: int
    channel_id: str
    thread_id: str
    control_id: str | None


def recent(session: Session, platform: str, user_id: int, limit: int = 10) -> list[Placed]:
    """The user's newest threads on ``platform`` that have a parent message."""
    rows = session.execute(
        select(ChatThread.contact_id, ChatThread.channel_id, ChatThread.thread_id, ChatThread.control_id)
        .where(
            ChatThread.platform == platform, ChatThread.user_id == user_id, ChatThread.thread_id != PENDING
        )
        .order_by(ChatThread.id.desc())
        .limit(limit)
    )
    return [Placed(r[0], r[1], r[2], r[3]) for r in rows]


def of_contacts(session: Session, platform: str, user_id: int, contact_ids: list[int]) -> list[Placed]:
    """The user's threads on ``platform`` of these contacts (with a parent message)."""
    if not contact_ids:
        return []
    rows = session.execute(
        select(
            ChatThread.contact_id, ChatThread.channel_id, ChatThread.thread_id, ChatThread.control_id
        ).where(
            and_(
                ChatThread.platform == platform,
                ChatThread.user_id == user_id,
                ChatThread.contact_id.in_(contact_ids),
                ChatThread.thread_id != PENDING,
            )
        )
    )
    return [Placed(r[0], r[1], r[2], r[3]) for r in rows]


def released(session: Session, platform: str, user_id: int, campaign_id: int | None) -> list[Placed]:
    """The user's threads (with a control message) whose contact is no longer assigned to them."""
    query = (
        select(ChatThread.contact_id, ChatThread.channel_id, ChatThread.thread_id, ChatThread.control_id)
        .join(Contact, Contact.id == ChatThread.contact_id)
        .where(
            ChatThread.platform == platform,
            ChatThread.user_id == user_id,
            ChatThread.control_id.is_not(None),
            or_(Contact.assigned_user_id.is_(None), Contact.assigned_user_id != user_id),
            Contact.escalated.is_(False),
        )
    )
    if campaign_id is not None:
        query = query.where(Contact.campaign_id == campaign_id)
    return [Placed(r[0], r[1], r[2], r[3]) for r in session.execute(query)]


def drop_control(session: Session, platform: str, user_id: int, contact_id: int) -> None:
    """Forget a thread's control message (it was replaced by a final word and takes no more clicks)."""
    session.execute(
        update(ChatThread)
        .where(
            ChatThread.platform == platform,
            ChatThread.user_id == user_id,
            ChatThread.contact_id == contact_id,
        )
        .values(control_id=None)
    )


def contact_at(session: Session, platform: str, user_id: int, channel_id: str, thread_id: str) -> int | None:
    """The contact whose conversation thread of ``user_id`` this is (None for any other thread)."""
    return session.scalar(
        select(ChatThread.contact_id).where(
            ChatThread.platform == platform,
            ChatThread.user_id == user_id,
            ChatThread.channel_id == channel_id,
            ChatThread.thread_id == thread_id,
        )
    )


def held_by_others(session: Session, platform: str, user_id: int, channel_id: str) -> bool:
    """Whether ``channel_id`` holds conversation threads of other users and none of ``user_id``'s.

    A Discord thread is a channel of its own that anyone who can see it may click in; a Slack thread sits
    in its texter's direct messages, so there this is never true for a real click.
    """
    holders = set(
        session.scalars(
            select(ChatThread.user_id)
            .where(ChatThread.platform == platform, ChatThread.channel_id == channel_id)
            .distinct()
        )
    )
    return bool(holders) and user_id not in holders


@dataclass(frozen=True)
class Finished:
    thread: ThreadRef
    released: bool  # the contact is no longer the user's (not only closed)
    campaign_title: str


def finished(session: Session, platform: str, user_id: int, contact_id: int) -> Finished | None:
    """The user's open thread of a conversation that is finished for them: the contact closed (opted out,
    skipped, completed) or no longer assigned to them. None when there is no such thread (none was
    opened, it is closed already, or the conversation came back to life since)."""
    ref = find(session, platform, contact_id, user_id)
    if ref is None or not ref.ready or ref.closed:
        return None
    row = session.execute(
        select(Contact.status, Contact.assigned_user_id, Campaign.title)
        .join(Campaign, Campaign.id == Contact.campaign_id)
        .where(Contact.id == contact_id)
    ).first()
    if row is None:
        return None
    released = row.assigned_user_id != user_id
    if row.status != "closed" and not released:
        return None
    return Finished(ref, released, row.title)

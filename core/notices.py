"""Notices: what a texter must see, written in the same transaction as the change that caused it.

Each platform's relay worker drains the rows of its platform (see ``claim_pending``) and posts them.
A user with accounts on several platforms gets one row per platform; a user with no chat account
(a CLI-only admin) gets a ``cli`` row, so nothing is silently dropped.

A relay in the same process need not poll to learn of new rows: ``on_commit`` calls it back right after
a transaction that wrote notices has committed. Rows written by another process are found by polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, event, exists, insert, or_, select, update
from sqlalchemy.orm import Session

from storage.engine import rowcount
from storage.models import ChatThread, Contact, Notice, PlatformIdentity
from storage.types import utcnow

CHAT_PLATFORMS = ("slack", "discord")
GIVE_UP_AFTER = 10
log = logging.getLogger(__name__)

# session.info key: the platforms this transaction wrote notices for.
_WRITTEN = "textbank_notice_platforms"
CommitListener = Callable[[frozenset[str]], None]
_listeners: list[CommitListener] = []
_listeners_lock = threading.Lock()


@dataclass(frozen=True)
class NewNotice:
    """One notice for ``add_notices`` (the arguments of ``add_notice``)."""

    user_id: int
    kind: str
    contact_id: int | None = None
    campaign_id: int | None = None
    message_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


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
    platforms = _platforms_of(session, [user_id])[user_id]
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
    session.info.setdefault(_WRITTEN, set()).update(platforms)
    return rows


_identities = PlatformIdentity.__table__
# Built once, on the table (no ORM compile per call): every inbound batch asks it.
_PLATFORMS_OF = select(_identities.c.user_id, _identities.c.platform).where(
    _identities.c.user_id.in_(bindparam("users", expanding=True)),
    _identities.c.platform.in_(CHAT_PLATFORMS),
)


def _platforms_of(session: Session, user_ids: Collection[int]) -> dict[int, list[str]]:
    """The chat platforms each user has an account on (``cli`` for none), in one query."""
    found: dict[int, set[str]] = {user_id: set() for user_id in user_ids}
    rows = session.execute(_PLATFORMS_OF, {"users": sorted(found)})
    for user_id, platform in rows:
        found[user_id].add(platform)
    return {user_id: sorted(platforms) or ["cli"] for user_id, platforms in found.items()}


def add_notices(session: Session, notices: Sequence[NewNotice]) -> int:
    """``add_notice`` for many at once: one query for their users' platforms and one INSERT for the rows
    (what an inbound batch writes for its texts). Returns how many rows were written."""
    if not notices:
        return 0
    platforms = _platforms_of(session, {n.user_id for n in notices})
    now = utcnow()
    rows = [
        {
            "platform": platform,
            "user_id": n.user_id,
            "kind": n.kind,
            "contact_id": n.contact_id,
            "campaign_id": n.campaign_id,
            "message_id": n.message_id,
            "payload": n.payload,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for n in notices
        for platform in platforms[n.user_id]
    ]
    session.connection().execute(insert(Notice.__table__), rows)
    session.info.setdefault(_WRITTEN, set()).update(row["platform"] for row in rows)
    return len(rows)


FINISHED = "finished"


def add_finished(
    session: Session, contact_ids: Collection[int] | Select[Any], *, announced: Collection[int] = ()
) -> int:
    """Queue a ``finished`` notice for every open chat thread of these contacts (closed, opted out or
    released): each thread's platform closes it (Discord archives it) when its relay gets there.

    ``announced``: contacts whose texter hears of it by another notice that closes the thread itself (a
    keyword opt-out's). Returns how many notices were written.
    """
    query = (
        select(ChatThread.platform, ChatThread.user_id, ChatThread.contact_id, Contact.campaign_id)
        .join(Contact, Contact.id == ChatThread.contact_id)
        .where(
            ChatThread.platform.in_(CHAT_PLATFORMS),
            ChatThread.closed.is_(False),
            ChatThread.thread_id != "",
        )
    )
    if announced:
        query = query.where(ChatThread.contact_id.not_in(list(announced)))
    if isinstance(contact_ids, Select):
        batches: list[Any] = [contact_ids]
    else:
        ids = sorted(set(contact_ids))
        batches = [ids[i : i + 1000] for i in range(0, len(ids), 1000)]
    rows = [
        Notice(
            platform=platform,
            user_id=user_id,
            kind=FINISHED,
            contact_id=contact_id,
            campaign_id=campaign_id,
            payload={},
            status="pending",
        )
        for batch in batches
        if isinstance(batch, Select) or batch
        for platform, user_id, contact_id, campaign_id in session.execute(
            query.where(ChatThread.contact_id.in_(batch))
        )
    ]
    if rows:
        session.add_all(rows)
        session.flush()
        session.info.setdefault(_WRITTEN, set()).update(r.platform for r in rows)
    return len(rows)


# --- waking relays in this process ---------------------------------------------------------------------


def on_commit(listener: CommitListener) -> Callable[[], None]:
    """Call ``listener(platforms)`` after every commit, in this process, of a transaction that wrote notices.

    It runs in the committing thread, right after the commit: it must be quick and thread-safe (a relay
    hands it to its event loop with ``call_soon_threadsafe``). Returns a function that removes it.
    """
    with _listeners_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    platforms = session.info.pop(_WRITTEN, None)
    if not platforms:
        return
    with _listeners_lock:
        listeners = list(_listeners)
    written = frozenset(platforms)
    for listener in listeners:
        try:
            listener(written)
        except Exception:  # a listener's trouble must not look like a failed commit
            log.exception("a notice commit listener failed")


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


# --- relay workers ------------------------------------------------------------------------------------------


def pending_exists(session: Session, platform: str) -> bool:
    """Whether any notice of ``platform`` waits (a cheap read a relay makes before claiming)."""
    return bool(
        session.scalar(select(exists().where(Notice.platform == platform, Notice.status == "pending")))
    )


def claim_pending(
    session: Session, platform: str, limit: int = 50, now: datetime | None = None
) -> list[Notice]:
    """Take up to ``limit`` pending notices of ``platform``, oldest first, marking them ``posting``.

    On PostgreSQL concurrent relay workers skip each other's rows (FOR UPDATE SKIP LOCKED). Oldest-first
    order keeps a conversation's notices in order for a single worker. One statement: the rows come back
    from the UPDATE itself. ``claimed_at`` records the claim, for ``requeue_stuck``.
    """
    oldest = (
        select(Notice.id)
        .where(Notice.platform == platform, Notice.status == "pending")
        .order_by(Notice.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    claimed = session.scalars(
        update(Notice)
        .where(Notice.id.in_(oldest.scalar_subquery()))
        .values(status="posting", attempts=Notice.attempts + 1, claimed_at=now or utcnow())
        .returning(Notice)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    return sorted(claimed, key=lambda notice: notice.id)


def recipients(session: Session, platform: str, user_ids: Collection[int]) -> dict[int, str]:
    """Each user's account id on ``platform`` (one query for a whole batch); users without one are left out.

    A user with several accounts on the platform (two workspaces) gets their first one.
    """
    if not user_ids:
        return {}
    rows = session.execute(
        select(PlatformIdentity.user_id, PlatformIdentity.platform_user_id)
        .where(PlatformIdentity.platform == platform, PlatformIdentity.user_id.in_(set(user_ids)))
        .order_by(PlatformIdentity.id)
    )
    out: dict[int, str] = {}
    for user_id, platform_user_id in rows:
        out.setdefault(user_id, platform_user_id)
    return out


def mark_posted(session: Session, notice_id: int) -> None:
    mark_posted_many(session, [notice_id])


def mark_posted_many(session: Session, notice_ids: Collection[int]) -> int:
    """Mark the notices posted, in one statement; returns how many rows changed."""
    if not notice_ids:
        return 0
    result = session.execute(
        update(Notice)
        .where(Notice.id.in_(set(notice_ids)))
        .values(status="posted", posted_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


def mark_retry(session: Session, notice_id: int, *, give_up_after: int = GIVE_UP_AFTER) -> None:
    """Put a notice back for another try after a transient failure; give up after ``give_up_after``."""
    mark_retry_many(session, [notice_id], give_up_after=give_up_after)


def mark_retry_many(
    session: Session, notice_ids: Collection[int], *, give_up_after: int = GIVE_UP_AFTER
) -> int:
    """Put the notices back to ``pending`` in one statement; those tried ``give_up_after`` times die.

    Returns how many rows changed. ``attempts`` counts claims, so a notice dies on its last failure.
    """
    if not notice_ids:
        return 0
    result = session.execute(
        update(Notice)
        .where(Notice.id.in_(set(notice_ids)))
        .values(status=case((Notice.attempts >= give_up_after, "dead"), else_="pending"))
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


def requeue_stuck(
    session: Session,
    platform: str,
    older_than: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> int:
    """Notices left in ``posting`` by a worker that died go back to ``pending``; returns how many.

    A notice counts as stuck once it was claimed more than ``older_than`` ago, which must exceed the
    longest time a live worker holds a claim: its age does not matter (an old notice, retried after a
    Slack outage, may have been claimed a moment ago and be posting now). Rows claimed before
    ``claimed_at`` existed have none and are judged by their age.
    A chat post is idempotent enough to repeat (the adapter edits its thread), unlike an SMS.
    """
    cutoff = (now or utcnow()) - older_than
    result = session.execute(
        update(Notice)
        .where(
            Notice.platform == platform,
            Notice.status == "posting",
            or_(
                Notice.claimed_at < cutoff,
                and_(Notice.claimed_at.is_(None), Notice.created_at < cutoff),
            ),
        )
        .values(status="pending")
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0

"""The outbox: outbound ``messages`` rows on their way to the SMS provider.

A text is a row with status ``queued``. A sender worker claims rows (``queued -> sending``, committed before
the provider is called), then records what happened: ``sent`` with the provider's SID, back to ``queued``
for a later try when the provider certainly did not take it, ``failed`` for a permanent refusal, ``unknown``
when the fate is ambiguous. A row never leaves ``sending`` or ``unknown`` for ``queued``: a send is
at-most-once, and an admin looks at the ``unknown`` ones.

Provider error codes are business rules here (21610 opts the number out, 21211/21614 fail the contact);
this module knows the codes but nothing of the provider's client library.

Status callbacks can beat ``mark_sent``: the provider may report ``sent``, ``delivered`` or ``failed`` for
a SID before the sender has committed that SID. Such a callback is kept in ``early_status_callbacks`` and
applied by ``mark_sent`` in its own transaction, by the same forward-only rules and with the same
consequences (error codes, the failed notice) as one arriving on time; the scheduled sweep purges those
no text ever claimed after ``EARLY_CALLBACKS_KEPT``. On PostgreSQL the two sides take a transaction-scoped
advisory lock on the SID (the callback only when it found no text), so one of them always sees the other's
committed row; SQLite write transactions are serial already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.notices import add_notice
from core.optouts import opt_out
from storage.engine import rowcount
from storage.models import Campaign, Contact, EarlyStatusCallback, Message
from storage.types import utcnow

# Give up on a text after this many tries with transient errors.
MAX_ATTEMPTS = 6

UNSUBSCRIBED = 21610
# Codes meaning "this number can never get a text": the contact is failed and closed.
UNTEXTABLE = {
    21211: "the number is not a valid phone number",
    21614: "the number is not a mobile number and cannot receive texts",
    30005: "the number is unknown to its carrier (it may no longer exist)",
    30006: "the number is a landline or its carrier cannot receive texts",
}
# Other codes worth a plain sentence for the texter.
KNOWN_ERRORS = {
    UNSUBSCRIBED: "the recipient unsubscribed (replied STOP to our number); they are now on the opt-out list",
    21408: "texting to this country is not enabled on our Twilio account",
    21612: "the carrier cannot route a text from our number to this one",
    30003: "the phone was unreachable (off or out of service) and the carrier gave up",
    30004: "the carrier or the recipient blocked the text",
    30007: "the carrier filtered the text as spam",
    30008: "the carrier could not deliver the text (unknown error)",
}
WINDOW_CLOSED = "the texting window closed before the text could be sent; send it again tomorrow"

# Status callbacks only move a message forward; the terminal ones never move back.
_RANK = {"queued": 0, "sending": 0, "unknown": 0, "sent": 1, "delivered": 2, "failed": 2, "undelivered": 2}
CALLBACK_STATUSES = ("sent", "delivered", "failed", "undelivered")
# A callback whose SID no text claimed this long after it arrived never will: the sweep purges it.
EARLY_CALLBACKS_KEPT = timedelta(days=1)
# The first key of the two-key advisory locks taken per SID (that key space is apart from the job locks').
_SID_LOCK_SPACE = 0x5D5


@dataclass(frozen=True)
class OutboundJob:
    """One claimed text, as the sender needs it (detached from the session)."""

    message_id: int
    contact_id: int
    campaign_id: int
    user_id: int | None
    cell: str
    body: str
    media: tuple[str, ...]
    # Our sending identity: the message's own, else its campaign's, else None (the sender's default).
    sender: str | None
    send_before: datetime | None
    attempts: int


def error_reason(code: int | None, message: str = "") -> str:
    """A sentence a texter or admin can read for a provider error code."""
    if code in UNTEXTABLE:
        return UNTEXTABLE[code]
    if code in KNOWN_ERRORS:
        return KNOWN_ERRORS[code]
    detail = f": {message}" if message else ""
    return f"the text was refused (error {code}{detail})" if code else f"the text could not be sent{detail}"


def claim_queued(session: Session, limit: int, now: datetime | None = None) -> list[OutboundJob]:
    """Take up to ``limit`` due queued texts, oldest first, marking them ``sending`` in the same statement.

    Rows whose ``send_before`` has passed are failed instead (the contact's texting window closed) and
    their texter gets a "failed" notice. On PostgreSQL concurrent senders skip each other's rows.
    """
    now = now or utcnow()
    _expire_late(session, now)
    due = (
        select(Message.id)
        .where(
            Message.status == "queued",
            Message.direction == "out",
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
            or_(Message.send_before.is_(None), Message.send_before > now),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    if _is_postgres(session):
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(status="sending", sending_started_at=now, attempts=Message.attempts + 1, updated_at=now)
        .returning(
            Message.id,
            Message.contact_id,
            Message.campaign_id,
            Message.user_id,
            Message.cell,
            Message.body,
            Message.media,
            Message.sender,
            Message.send_before,
            Message.attempts,
        )
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return []
    campaign_senders = dict(
        session.execute(
            select(Campaign.id, Campaign.sender).where(Campaign.id.in_({row.campaign_id for row in rows}))
        ).all()
    )
    jobs = [
        OutboundJob(
            message_id=row.id,
            contact_id=row.contact_id,
            campaign_id=row.campaign_id,
            user_id=row.user_id,
            cell=row.cell,
            body=row.body or "",
            media=tuple(str(url) for url in (row.media or ())),
            sender=row.sender or campaign_senders.get(row.campaign_id),
            send_before=row.send_before,
            attempts=row.attempts,
        )
        for row in rows
    ]
    return sorted(jobs, key=lambda job: job.message_id)


def _expire_late(session: Session, now: datetime) -> None:
    late = select(Message.id).where(
        Message.status == "queued", Message.direction == "out", Message.send_before <= now
    )
    if _is_postgres(session):
        late = late.with_for_update(skip_locked=True)
    ids = list(session.scalars(late.order_by(Message.id).limit(500)))
    for message_id in ids:
        _fail(session, message_id, None, WINDOW_CLOSED, now, from_statuses=("queued",))


def skip_flush_wait(session: Session) -> None:
    """Let this transaction commit without waiting for the WAL flush (PostgreSQL; SQLite already runs
    ``synchronous=NORMAL``). Only for recording outcomes: one lost in a database crash leaves its row
    ``sending``, which the sweep turns ``unknown``, never a resend. Claims keep the full wait, because a
    claim must be durable before the provider is called."""
    if _is_postgres(session):
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def mark_sent(
    session: Session, message_id: int, sid: str, now: datetime | None = None, *, sender: str | None = None
) -> bool:
    """The provider took the text and gave it ``sid``. Also accepted for a row the sweep made ``unknown``
    while the call was still in flight: the SID settles its fate."""
    now = now or utcnow()
    values: dict[str, object] = {
        "status": "sent",
        "provider_sid": sid,
        "sent_at": now,
        "updated_at": now,
        "error_code": None,
        "error_message": None,
    }
    if sender:
        values["sender"] = sender
    statement = (
        update(Message)
        .where(Message.id == message_id, Message.status.in_(("sending", "unknown")))
        .values(**values)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    if _is_postgres(session):
        # RETURNING runs once per updated row: the SID's lock is taken exactly when the SID is recorded,
        # without a round trip of its own, and held until commit (see the module's docstring).
        statement = statement.returning(_sid_lock(sid))
    if session.execute(statement).first() is None:
        return False
    early = session.execute(
        delete(EarlyStatusCallback)
        .where(EarlyStatusCallback.provider_sid == sid)
        .returning(EarlyStatusCallback.id, EarlyStatusCallback.status, EarlyStatusCallback.error_code)
        .execution_options(synchronize_session=False)
    ).all()
    for callback in sorted(early, key=lambda row: row.id):  # in the order they arrived
        _apply_status(session, message_id, callback.status, callback.error_code, now)
    return True


def mark_retry(
    session: Session,
    message_id: int,
    delay: timedelta,
    now: datetime | None = None,
    *,
    code: int | None = None,
    reason: str = "",
) -> bool:
    """Put a text back in the queue for another try after ``delay``.

    Only for errors where the provider certainly did not accept the text (HTTP 429, 5xx, a refused
    connection). After ``MAX_ATTEMPTS`` tries the text fails instead; returns False then.
    """
    now = now or utcnow()
    message = session.get(Message, message_id)
    if message is None or message.status != "sending":
        return False
    if message.attempts >= MAX_ATTEMPTS:
        last = f" (last error: {reason})" if reason else ""
        _fail(session, message_id, code, f"gave up after {message.attempts} tries{last}", now)
        return False
    message.status = "queued"
    message.next_attempt_at = now + delay
    message.error_code = code
    message.error_message = reason or None
    message.updated_at = now
    session.flush()
    return True


def release_claimed(session: Session, message_id: int, now: datetime | None = None) -> bool:
    """A claimed text that was never handed to the provider goes back to the queue untouched."""
    now = now or utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "sending")
        .values(
            status="queued",
            attempts=case((Message.attempts > 0, Message.attempts - 1), else_=0),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


def mark_unknown(session: Session, message_id: int, reason: str, now: datetime | None = None) -> bool:
    """The call may or may not have reached the provider: never resend, leave it for an admin."""
    now = now or utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "sending")
        .values(status="unknown", error_message=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


def mark_failed(
    session: Session, message_id: int, code: int | None, message: str = "", now: datetime | None = None
) -> bool:
    """The provider refused the text for good. Applies the error's business rule:

    21610 (unsubscribed) puts the number on the organization's opt-out list and closes it everywhere;
    21211 / 21614 (invalid / not mobile) fail the contact with a reason; every failure tells the texter.
    """
    return _fail(
        session,
        message_id,
        code,
        error_reason(code, message),
        now or utcnow(),
        from_statuses=("sending", "unknown"),
    )


def _fail(
    session: Session,
    message_id: int,
    code: int | None,
    reason: str,
    now: datetime,
    *,
    from_statuses: Sequence[str] = ("queued", "sending", "unknown", "sent"),
    final_status: str = "failed",
) -> bool:
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status.in_(tuple(from_statuses)))
        .values(status=final_status, error_code=code, error_message=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not rowcount(result):
        return False
    _apply_error_rules(session, message_id, code, reason, final_status)
    return True


def _apply_error_rules(session: Session, message_id: int, code: int | None, reason: str, status: str) -> None:
    message = session.get(Message, message_id, populate_existing=True)
    assert message is not None
    contact = session.get(Contact, message.contact_id)
    campaign = session.get(Campaign, message.campaign_id)
    if contact is not None and campaign is not None:
        if code == UNSUBSCRIBED:
            told = [contact.id] if message.user_id is not None else []  # its "failed" notice closes it
            opt_out(
                session,
                campaign.organization_id,
                message.cell,
                source="carrier",
                reason=reason,
                announced=told,
            )
        elif code in UNTEXTABLE:
            contact.failed_reason = reason
            contact.status = "closed"
    if message.user_id is not None:
        add_notice(
            session,
            user_id=message.user_id,
            kind="failed",
            contact_id=message.contact_id,
            campaign_id=message.campaign_id,
            message_id=message.id,
            payload={"reason": reason, "error_code": code, "status": status},
        )
    session.flush()


def sweep_stale_sending(session: Session, older_than: timedelta, now: datetime | None = None) -> int:
    """Rows left in ``sending`` longer than ``older_than`` (their worker died) become ``unknown``.

    ``older_than`` must exceed the longest time a live worker holds a row (rate wait + request timeout).
    They are never resent: the text may have gone out. Returns how many rows were swept.
    """
    now = now or utcnow()
    result = session.execute(
        update(Message)
        .where(Message.status == "sending", Message.sending_started_at < now - older_than)
        .values(
            status="unknown",
            error_message="the sender stopped while sending; the text may or may not have gone out",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


def pending(session: Session, now: datetime | None = None, *, include_waiting: bool = False) -> int:
    """Queued outbound texts due now; with ``include_waiting`` also those waiting for a retry."""
    now = now or utcnow()
    query = select(func.count(Message.id)).where(Message.direction == "out", Message.status == "queued")
    if not include_waiting:
        query = query.where(or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))
    return int(session.scalar(query) or 0)


def unknown_sends(session: Session, organization_id: int, campaign_id: int | None = None) -> list[Message]:
    """Texts whose fate was lost (for an admin to check with the provider), oldest first."""
    query = (
        select(Message)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.status == "unknown", Campaign.organization_id == organization_id)
        .order_by(Message.id)
    )
    if campaign_id is not None:
        query = query.where(Message.campaign_id == campaign_id)
    return list(session.scalars(query))


def apply_status_callback(
    session: Session, sid: str, status: str, error_code: int | None = None, now: datetime | None = None
) -> bool:
    """Record the provider's delivery report for ``sid``; True when the message's status changed.

    Statuses other than sent/delivered/failed/undelivered are ignored. Reports arriving out of order never
    move a message back (a delivered text stays delivered). A report for a SID no text has yet is kept
    for ``mark_sent`` to apply (see the module's docstring); False then.
    """
    status = status.lower()
    if status not in CALLBACK_STATUSES:
        return False
    now = now or utcnow()
    found = select(Message.id).where(Message.provider_sid == sid)
    message_id = session.scalar(found)
    if message_id is None and _is_postgres(session):
        # Wait out a mark_sent of this SID that has not committed yet: the next statement then sees it.
        session.execute(select(_sid_lock(sid)))
        message_id = session.scalar(found)
    if message_id is None:
        _keep_early(session, sid, status, error_code, now)
        return False
    return _apply_status(session, message_id, status, error_code, now)


def _apply_status(
    session: Session, message_id: int, status: str, error_code: int | None, now: datetime
) -> bool:
    allowed_from = [name for name, rank in _RANK.items() if rank < _RANK[status]]
    if status in ("failed", "undelivered"):
        return _fail(
            session,
            message_id,
            error_code,
            error_reason(error_code),
            now,
            from_statuses=allowed_from,
            final_status=status,
        )
    values: dict[str, object] = {"status": status, "updated_at": now}
    result = session.execute(
        update(Message)
        .where(and_(Message.id == message_id, Message.status.in_(allowed_from)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


def _keep_early(session: Session, sid: str, status: str, error_code: int | None, now: datetime) -> None:
    """Keep a report for ``mark_sent``; the same report again (a retry) is kept once."""
    dialect = postgresql if _is_postgres(session) else sqlite
    session.execute(
        dialect.insert(EarlyStatusCallback)
        .values(provider_sid=sid, status=status, error_code=error_code, received_at=now)
        .on_conflict_do_nothing(index_elements=["provider_sid", "status"])
    )


def purge_early_callbacks(
    session: Session, older_than: timedelta = EARLY_CALLBACKS_KEPT, now: datetime | None = None
) -> int:
    """Drop kept reports older than ``older_than``: no text of ours ever got their SID."""
    now = now or utcnow()
    result = session.execute(
        delete(EarlyStatusCallback)
        .where(EarlyStatusCallback.received_at < now - older_than)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


def _sid_lock(sid: str) -> Any:
    """PostgreSQL: this transaction's advisory lock on ``sid`` (as an expression to select)."""
    return func.pg_advisory_xact_lock(_SID_LOCK_SPACE, func.hashtext(sid))


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"

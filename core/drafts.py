"""Reply drafts: the text a texter is about to send, kept as a row (one per conversation and texter).

A prepared response filled in by picking an answer, a canned response, an edit, or a text the texter
typed in the conversation's thread all become the draft; **Send** sends the draft. So a button carries
only the conversation, the status and the last message the texter saw, never the text. An ad-hoc text
(``/textbank text``) is a draft with a number and no contact until it is sent.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.conversations import owned_contact, send_reply
from core.errors import NotFound, Refused
from core.optouts import is_opted_out, normalize_or_refuse
from core.phones import mask
from core.sending import SendResult

__all__ = [
    "SendResult",
    "check_body",
    "clear_draft",
    "get_draft",
    "send_draft",
    "set_adhoc_draft",
    "set_draft",
    "take_adhoc_draft",
]
from storage.models import ReplyDraft, User
from storage.types import utcnow

MAX_BODY = 1600  # an SMS body longer than this is split by carriers into many parts, or refused


def check_body(body: str) -> str:
    """The body stripped; refused when empty or longer than an SMS may be."""
    text = (body or "").strip()
    if not text:
        raise Refused("the text is empty: write something to send")
    if len(text) > MAX_BODY:
        raise Refused(
            f"the text is {len(text)} characters: keep it to {MAX_BODY} (one SMS may not hold more)"
        )
    return text


def _row(session: Session, user_id: int, contact_id: int) -> ReplyDraft | None:
    return session.scalars(
        select(ReplyDraft).where(ReplyDraft.user_id == user_id, ReplyDraft.contact_id == contact_id)
    ).first()


def set_draft(session: Session, user: User, contact_id: int, body: str) -> str:
    """Make ``body`` the texter's draft for their conversation with ``contact_id``; returns it stripped."""
    owned_contact(session, user, contact_id)
    text = check_body(body)
    row = _row(session, user.id, contact_id)
    if row is None:
        session.add(ReplyDraft(user_id=user.id, contact_id=contact_id, body=text, updated_at=utcnow()))
    else:
        row.body = text
        row.updated_at = utcnow()
    session.flush()
    return text


def get_draft(session: Session, user_id: int, contact_id: int) -> str:
    """The texter's draft for the conversation ("" when there is none)."""
    row = _row(session, user_id, contact_id)
    return row.body if row is not None else ""


def clear_draft(session: Session, user_id: int, contact_id: int) -> None:
    session.execute(
        delete(ReplyDraft).where(ReplyDraft.user_id == user_id, ReplyDraft.contact_id == contact_id)
    )


def send_draft(
    session: Session, user: User, contact_id: int, expected_status: str, last_seen_message_id: int | None
) -> SendResult:
    """Send the texter's draft of the conversation (core's guards as for any reply); cleared once sent."""
    body = get_draft(session, user.id, contact_id)
    if not body:
        raise Refused(
            "there is no reply to send: pick their answer, choose a canned response, type it, or Edit"
        )
    result = send_reply(
        session, user, contact_id, body, expected_status, last_seen_message_id=last_seen_message_id
    )
    if result.sent:
        clear_draft(session, user.id, contact_id)
    return result


def set_adhoc_draft(session: Session, user: User, raw_number: str, body: str) -> tuple[int, str]:
    """Keep an ad-hoc text until the texter picks where its replies go; (its id, the masked number).

    The number and the opt-out list are checked first, so routing is offered only for a text that can go.
    """
    cell = normalize_or_refuse(raw_number)
    if is_opted_out(session, user.organization_id, cell):
        raise Refused(f"{mask(cell)} opted out of texts from this organization: it is never texted again")
    row = ReplyDraft(user_id=user.id, contact_id=None, cell=cell, body=check_body(body), updated_at=utcnow())
    session.add(row)
    session.flush()
    return row.id, mask(cell)


def take_adhoc_draft(session: Session, user: User, draft_id: int) -> tuple[str, str]:
    """The ad-hoc text ``draft_id`` of this texter as (number, body), removed: it is sent once."""
    row = session.get(ReplyDraft, draft_id, with_for_update=True)
    if row is None or row.user_id != user.id or row.contact_id is not None or not row.cell:
        raise NotFound("this text was already sent or is not yours: type /textbank text again")
    cell, body = row.cell, row.body
    session.delete(row)
    session.flush()
    return cell, body

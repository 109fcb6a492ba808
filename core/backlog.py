"""What is waiting in the shared tables: the texts in the outbox and the notices not yet posted.

Read on every ``GET /metrics`` scrape, so every process reports the same figures (the tables are shared).
Each count walks one index: messages (status, id) and notices (platform, status, id).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Message, Notice

OUTBOX_STATUSES = ("queued", "sending", "unknown")
NOTICE_PLATFORMS = ("slack", "discord")

_OUTBOX = (
    select(Message.status, func.count()).where(Message.status.in_(OUTBOX_STATUSES)).group_by(Message.status)
)
_NOTICES = select(Notice.platform, func.count()).where(Notice.status == "pending").group_by(Notice.platform)


def outbox_counts(session: Session) -> dict[str, int]:
    """Texts queued, being sent, and of unknown fate (a sender died mid-send), by status; zeros included."""
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    counts.update({status: int(n) for status, n in session.execute(_OUTBOX)})
    return counts


def notices_waiting(session: Session) -> dict[str, int]:
    """Notices waiting for their platform's relay, by platform; zeros for the chat platforms included."""
    counts = dict.fromkeys(NOTICE_PLATFORMS, 0)
    counts.update({platform: int(n) for platform, n in session.execute(_NOTICES)})
    return counts

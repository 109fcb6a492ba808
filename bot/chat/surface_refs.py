"""Where messages are: a place to post into, and a posted message (plain values a platform hands back)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """Where a message goes: a channel (a DM, or a Discord thread channel), and a thread inside it.

    ``thread_id`` is Slack's parent ``thread_ts``; a Discord thread is a channel of its own (``None``).
    """

    channel_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class MessageRef:
    """A posted message: its channel and the platform's id for it (Slack ``ts``, Discord snowflake)."""

    channel_id: str
    message_id: str


@dataclass(frozen=True)
class ThreadFor:
    """Whose conversation a thread is for: the campaign (a platform may keep each campaign's threads in a
    channel of its own) and its title (for what is said when it cannot be opened)."""

    campaign_id: int
    campaign_title: str

"""The ``Surface``: the few things a chat platform must do for the chat layer (move bytes, render views).

A platform adapter implements it once (``bot/slack/surface.py``, ``bot/discord/...``). The chat layer's
flows, thread bookkeeping and relay worker only ever talk to a platform through it, with neutral
``Message`` values (``bot.chat.views``); the surface renders them in the platform's components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bot.chat.surface_refs import MessageRef, Place, ThreadFor
from bot.chat.views import Message
from core.errors import Refused

__all__ = ["Failure", "MessageRef", "NoThreadChannel", "Place", "Surface", "ThreadFor"]


class NoThreadChannel(Refused):
    """The platform has nowhere to open the campaign's conversation threads (no admin chose a channel).

    Its reason is the sentence a texter or admin reads (``texts.no_thread_channel``): nothing was posted,
    and trying again changes nothing until an admin chooses one.
    """


@dataclass(frozen=True)
class Failure:
    """What a failed post means for the relay.

    ``not_posted``: the platform certainly did not post it (a refusal, a connection never made), so the
    texts claimed for it may be handed back and posted later; False when it may have gone through (a
    timeout). ``retry_after``: seconds the platform asked to wait (a 429), else None. ``reason``: one line
    for the log.
    """

    not_posted: bool
    retry_after: float | None = None
    reason: str = ""


@runtime_checkable
class Surface(Protocol):
    """One connection to a chat platform (a Slack workspace app, a Discord bot)."""

    #: "slack" | "discord": the platform column of identities, notices and conversation threads.
    platform: str

    def render(self, message: Message) -> Any:
        """The platform's own form of ``message`` (Block Kit blocks, Discord content/embeds/components)."""
        ...

    async def post(self, place: Place, message: Message) -> MessageRef:
        """Post ``message`` into ``place``; returns the posted message."""
        ...

    async def update(self, ref: MessageRef, message: Message) -> None:
        """Replace a posted message's content with ``message`` (in place)."""
        ...

    async def delete(self, ref: MessageRef) -> None:
        """Delete a posted message; one that is already gone is not an error."""
        ...

    async def open_dm(self, platform_user_id: str) -> Place:
        """The bot's direct-message place with a user (opened once and remembered by the surface)."""
        ...

    async def open_thread(
        self, platform_user_id: str, parent: Message, conversation: ThreadFor
    ) -> tuple[Place, MessageRef]:
        """Start a conversation thread for a user with ``parent`` as its first message.

        Slack: ``parent`` posted in the user's DM, the thread under it. Discord: a private thread the user
        is added to, in the channel an admin chose for the campaign (``NoThreadChannel`` when none is),
        ``parent`` its first message. Returns the thread (where the conversation's texts and control
        message go) and the parent message.
        """
        ...

    async def close_thread(self, thread: Place) -> None:
        """The conversation is finished for this texter: put its thread away (Discord archives it, so a
        large campaign stays under the active-thread limit; Slack has nothing to do). Idempotent."""
        ...

    async def reopen_thread(self, thread: Place) -> None:
        """Bring a closed thread back before posting into it (Discord unarchives it). Idempotent."""
        ...

    def failure(self, exc: BaseException) -> Failure:
        """What a failed call on this surface means for retrying it (see ``Failure``)."""
        ...

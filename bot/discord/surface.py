"""The Discord ``Surface``: neutral messages posted, edited and deleted through discord.py's REST client.

A conversation thread is a private thread in the channel an admin chose for its campaign, or for the
server (``/textbank threads channel [campaign]``), the texter added to it; the thread is a channel of its
own. A finished conversation's thread is archived (Discord keeps at most 1,000 active threads a server)
and unarchived before anything is posted into it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.chat import texts
from bot.chat.surface import Failure, MessageRef, NoThreadChannel, Place, ThreadFor
from bot.chat.views import Message
from bot.discord.render import Rendered, render
from core.errors import Refused

PLATFORM = "discord"
# (Discord user id, campaign id) -> the channel that user's threads of the campaign open in, or None.
ThreadChannel = Callable[[str, int], Awaitable[str | None]]
ARCHIVED = 50083  # Discord's error code: "Operation cannot be performed on an archived thread"


class DiscordSurface:
    platform = PLATFORM

    def __init__(self, client: discord.Client, thread_channel: ThreadChannel) -> None:
        self.client = client
        self.thread_channel = thread_channel
        self.dm_channels: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def render(self, message: Message) -> Rendered:
        return render(message)

    def _channel(self, channel_id: str) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(int(channel_id))

    async def post(self, place: Place, message: Message) -> MessageRef:
        channel = self._channel(place.channel_id)
        try:
            sent = await channel.send(**render(message).kwargs())
        except discord.HTTPException as exc:
            if exc.code != ARCHIVED:
                raise
            # Discord archived the thread on its own (a week without a text): a new text brings it back.
            await self.reopen_thread(place)
            sent = await channel.send(**render(message).kwargs())
        return MessageRef(place.channel_id, str(sent.id))

    async def update(self, ref: MessageRef, message: Message) -> None:
        partial = self._channel(ref.channel_id).get_partial_message(int(ref.message_id))
        try:
            await partial.edit(**render(message).kwargs())
        except discord.HTTPException as exc:
            if exc.code != ARCHIVED:
                raise
            # A click on a finished conversation's controls (Discord's phone apps allow it): edit them,
            # and leave the thread archived as it was found.
            thread = Place(ref.channel_id)
            await self.reopen_thread(thread)
            try:
                await partial.edit(**render(message).kwargs())
            finally:
                await self.close_thread(thread)

    async def delete(self, ref: MessageRef) -> None:
        with contextlib.suppress(discord.NotFound):  # already gone: not an error
            await self._channel(ref.channel_id).get_partial_message(int(ref.message_id)).delete()

    async def open_dm(self, platform_user_id: str) -> Place:
        """The DM channel, asked of Discord once per user (one request while many conversations wait)."""
        lock = self._locks.setdefault(platform_user_id, asyncio.Lock())
        async with lock:
            if platform_user_id not in self.dm_channels:
                data = await self.client.http.start_private_message(int(platform_user_id))
                self.dm_channels[platform_user_id] = str(data["id"])
        return Place(self.dm_channels[platform_user_id])

    async def open_thread(
        self, platform_user_id: str, parent: Message, conversation: ThreadFor
    ) -> tuple[Place, MessageRef]:
        """A private thread in the campaign's conversations channel, the texter added, ``parent`` first."""
        channel_id = await self.thread_channel(platform_user_id, conversation.campaign_id)
        if channel_id is None:
            raise NoThreadChannel(texts.no_thread_channel(conversation.campaign_title))
        name = (parent.summary or "conversation")[:100]
        data = await self.client.http.start_thread_without_message(
            int(channel_id),
            name=name,
            auto_archive_duration=10080,  # a week without a text: hidden until the next one
            type=12,  # a private thread
            invitable=False,
        )
        thread_id = str(data["id"])
        await self.client.http.add_user_to_thread(int(thread_id), int(platform_user_id))
        place = Place(thread_id)
        return place, await self.post(place, parent)

    async def close_thread(self, thread: Place) -> None:
        """Archive the thread (PATCH archived): it leaves the server's active threads, its history stays."""
        with contextlib.suppress(discord.NotFound):  # deleted by someone: nothing left to archive
            await self.client.http.edit_channel(int(thread.channel_id), archived=True)

    async def reopen_thread(self, thread: Place) -> None:
        """Unarchive the thread: Discord refuses posts and edits in an archived one."""
        await self.client.http.edit_channel(int(thread.channel_id), archived=False)

    def failure(self, exc: BaseException) -> Failure:
        if isinstance(exc, discord.HTTPException):
            retry = None
            if exc.status == 429:
                try:
                    retry = float(exc.response.headers.get("Retry-After", 1))
                except (TypeError, ValueError, AttributeError):
                    retry = 1.0
            return Failure(exc.status < 500 or exc.status == 429, retry, f"{exc.status} {exc.text}")
        if isinstance(exc, aiohttp.ClientConnectorError | Refused):
            return Failure(True, None, str(exc))
        return Failure(False)

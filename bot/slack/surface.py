"""The Slack ``Surface``: neutral messages posted, updated and deleted through the Web API.

A conversation thread is a thread in the texter's DM with the bot, under the parent message.
"""

from __future__ import annotations

import asyncio

from aiohttp import ClientConnectorError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.surface import Failure, MessageRef, Place, ThreadFor
from bot.chat.views import Message
from bot.slack import render

PLATFORM = "slack"
GONE = frozenset({"message_not_found", "channel_not_found"})


class SlackSurface:
    platform = PLATFORM

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.dm_channels: dict[str, str] = {}
        self._opening: dict[str, asyncio.Future[str]] = {}

    def render(self, message: Message) -> list[render.Block]:
        return render.blocks(message)

    async def post(self, place: Place, message: Message) -> MessageRef:
        response = await self.client.chat_postMessage(
            channel=place.channel_id,
            thread_ts=place.thread_id,
            text=render.fallback(message),
            blocks=render.blocks(message),
        )
        return MessageRef(place.channel_id, str(response["ts"]))

    async def update(self, ref: MessageRef, message: Message) -> None:
        await self.client.chat_update(
            channel=ref.channel_id,
            ts=ref.message_id,
            text=render.fallback(message),
            blocks=render.blocks(message),
        )

    async def delete(self, ref: MessageRef) -> None:
        try:
            await self.client.chat_delete(channel=ref.channel_id, ts=ref.message_id)
        except SlackApiError as exc:
            if exc.response.get("error") not in GONE:
                raise

    async def _open(self, slack_user_id: str) -> str:
        response = await self.client.conversations_open(users=slack_user_id)
        channel = str(response["channel"]["id"])
        self.dm_channels[slack_user_id] = channel
        return channel

    async def open_dm(self, platform_user_id: str) -> Place:
        """The DM channel, opened once even when many of the user's conversations ask at the same moment."""
        known = self.dm_channels.get(platform_user_id)
        if known is not None:
            return Place(known)
        opening = self._opening.get(platform_user_id)
        if opening is None:
            opening = asyncio.ensure_future(self._open(platform_user_id))
            self._opening[platform_user_id] = opening
            opening.add_done_callback(lambda _: self._opening.pop(platform_user_id, None))
        return Place(await asyncio.shield(opening))

    async def open_thread(
        self, platform_user_id: str, parent: Message, conversation: ThreadFor
    ) -> tuple[Place, MessageRef]:
        """Under ``parent`` in the texter's DM, whatever the campaign."""
        dm = await self.open_dm(platform_user_id)
        posted = await self.post(dm, parent)
        return Place(dm.channel_id, posted.message_id), posted

    async def close_thread(self, thread: Place) -> None:
        """A Slack thread has no open or closed: a finished conversation's thread stays where it is."""

    async def reopen_thread(self, thread: Place) -> None:
        """Nothing to reopen on Slack (see ``close_thread``)."""

    def failure(self, exc: BaseException) -> Failure:
        if isinstance(exc, SlackApiError):
            retry_after = None
            if exc.response.status_code == 429:
                try:
                    retry_after = float(exc.response.headers.get("Retry-After", 1))
                except (TypeError, ValueError):
                    retry_after = 1.0
            return Failure(True, retry_after, str(exc.response.get("error") or exc))
        if isinstance(exc, ClientConnectorError):
            return Failure(True, None, str(exc))
        return Failure(False)

"""What every Slack handler shares: the chat layer over the Slack surface, the Web API client, the caller.

``SlackDeps.actor`` finds the textbank user behind a Slack user (``bot.chat.people``), with Slack's
``users.info`` as the profile: display name and workspace admin flag.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from aiohttp import ClientError, ClientSession, ClientTimeout
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.actor import Actor
from bot.chat.context import Chat
from bot.chat.people import AdminChecks, Profile, resolve_actor
from bot.chat.views import Message
from bot.config import Settings
from bot.dbwork import DbWork
from bot.slack import render
from bot.slack.surface import PLATFORM, SlackSurface
from core.errors import Refused
from storage.engine import Database

log = logging.getLogger("textbank.slack")
DEFAULT_API_URL = "https://slack.com/api/"
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def make_client(token: str, api_url: str = "") -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) and retries dropped connections."""
    base = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
    return AsyncWebClient(
        token=token,
        base_url=base,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        ],
    )


async def slack_profile(client: AsyncWebClient, slack_user_id: str) -> Profile:
    """Name and admin flag from users.info (a failure leaves the person a texter with their id as name)."""
    try:
        response = await client.users_info(user=slack_user_id)
    except SlackApiError as exc:
        log.warning("users.info %s failed: %s", slack_user_id, exc.response.get("error"))
        return Profile(slack_user_id, False, failed=True)
    info: dict[str, Any] = response.get("user") or {}
    profile = info.get("profile") or {}
    name = (
        profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name")
    )
    admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
    return Profile(name or slack_user_id, admin)


@dataclass
class SlackDeps:
    db: Database
    settings: Settings
    client: AsyncWebClient
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    admin_checks: AdminChecks = field(default_factory=AdminChecks)
    surface: SlackSurface = field(init=False)
    chat: Chat = field(init=False)

    def __post_init__(self) -> None:
        self.surface = SlackSurface(self.client)
        self.chat = Chat(DbWork(self.db, name="slack-db"), self.surface, self.settings)

    async def actor(self, team_id: str, slack_user_id: str, *, recheck: bool = True) -> Actor:
        return await resolve_actor(
            self.chat.work,
            PLATFORM,
            team_id,
            slack_user_id,
            lambda: slack_profile(self.client, slack_user_id),
            org_name=self.settings.organization_name,
            checks=self.admin_checks if recheck else None,
        )

    async def dm(self, slack_user_id: str, message: Message) -> None:
        await self.chat.dm(slack_user_id, message)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Slow work after the ack, kept referenced until done and logged if it fails."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("slack background work failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def download(self, file: dict[str, Any], sink: BinaryIO, limit: int = MAX_UPLOAD_BYTES) -> int:
        """Stream a file a user uploaded into ``sink`` (url_private needs the bot token); returns its size."""
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise Refused("the uploaded file has no download link: upload it again")
        headers = {"Authorization": f"Bearer {self.client.token}"}
        size = 0
        try:
            async with ClientSession(timeout=ClientTimeout(total=600)) as http:
                async with http.get(url, headers=headers) as response:
                    if response.status != 200:
                        raise Refused(
                            f"Slack did not hand over the file (HTTP {response.status}): upload again"
                        )
                    async for chunk in response.content.iter_chunked(1 << 16):
                        size += len(chunk)
                        if size > limit:
                            raise Refused(f"the file is larger than {limit // (1024 * 1024)} MiB: split it")
                        sink.write(chunk)
        except (ClientError, TimeoutError) as exc:
            raise Refused(f"could not download the file ({exc.__class__.__name__}): upload it again") from exc
        return size


async def respond_with(respond: Any, message: Message, *, replace: bool = False) -> None:
    """Answer an interaction ephemerally (or in place of the clicked message) with a neutral message."""
    await respond(
        text=render.fallback(message),
        blocks=render.blocks(message),
        response_type="ephemeral",
        replace_original=replace,
    )

"""The App Home tab shows the chat layer's dashboard; recent conversations link to their threads."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.chat import texting
from bot.chat.actor import Actor
from bot.chat.surface import MessageRef
from bot.chat.views import LinkList
from bot.slack import render
from bot.slack.deps import SlackDeps


async def publish(deps: SlackDeps, actor: Actor) -> None:
    board = await texting.dashboard(deps.chat, actor)
    links: dict[MessageRef, str] = {}
    for part in board.parts:
        if not isinstance(part, LinkList):
            continue
        for link in part.links:
            if link.target is None:
                continue
            try:
                response = await deps.client.chat_getPermalink(
                    channel=link.target.channel_id, message_ts=link.target.message_id
                )
            except SlackApiError:
                continue
            links[link.target] = str(response.get("permalink") or "")
    await deps.client.views_publish(user_id=actor.platform_user_id, view=render.home_view(board, links))


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        team_id = body.get("team_id") or (body.get("authorizations") or [{}])[0].get("team_id", "")
        actor = await deps.actor(team_id, event["user"])
        await publish(deps, actor)

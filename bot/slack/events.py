"""Texts a texter types in a conversation thread (the ``message`` event): they become the draft reply."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.chat import replies
from bot.chat.surface import Place
from bot.slack.deps import SlackDeps


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("message")
    async def typed(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Only a person's plain text inside a thread of a DM with the bot (not edits, bots, or files).
        if event.get("subtype") or event.get("bot_id") or not event.get("thread_ts"):
            return
        if event.get("channel_type") not in (None, "im") or not event.get("user"):
            return
        # Slack escapes its three control characters in message text: the contact gets them as typed.
        text = (
            str(event.get("text") or "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .strip()
        )
        if not text or event.get("thread_ts") == event.get("ts"):
            return
        team_id = body.get("team_id") or event.get("team") or ""
        actor = await deps.actor(team_id, event["user"], recheck=False)
        await replies.typed(deps.chat, actor, Place(str(event["channel"]), str(event["thread_ts"])), text)

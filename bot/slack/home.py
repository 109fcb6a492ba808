"""The App Home tab: the texter's dashboard, one section per launched campaign they text in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.slack import blocks, threads
from bot.slack.app import SlackDeps
from bot.slack.context import Actor, in_read
from core import assignment, campaigns, conversations, orgs, stats
from core.errors import Refused


@dataclass(frozen=True)
class HomeLine:
    campaign_id: int
    title: str
    unsent: int
    replies: int
    can_request: bool
    reason: str | None


def dashboard(session: Session, actor: Actor) -> list[HomeLine]:
    """The launched campaigns the texter is in or holds contacts of, with their counts and availability."""
    user = orgs.get_user(session, actor.user_id)
    lines = []
    for campaign in campaigns.texter_campaigns(session, user):
        mine = stats.own_counts(session, campaign, user)
        available = assignment.availability(session, campaign, user, "initials")
        if mine is None and available.code == "not_member":
            continue
        lines.append(
            HomeLine(
                campaign.id,
                campaign.title,
                mine.unsent_initials if mine else 0,
                mine.unhandled_replies if mine else 0,
                available.can_request,
                available.reason,
            )
        )
    return lines


@dataclass(frozen=True)
class PastConversation:
    contact_name: str
    campaign_title: str
    status: str
    channel_id: str
    thread_ts: str


def past_conversations(session: Session, actor: Actor, limit: int = 10) -> list[PastConversation]:
    """The texter's newest conversation threads that are still theirs to open."""
    user = orgs.get_user(session, actor.user_id)
    out = []
    for contact_id, channel, ts in threads.recent(session, actor.user_id, limit):
        try:
            view = conversations.conversation_view(session, user, contact_id)
        except Refused:
            continue  # released or escalated since: no longer theirs
        out.append(PastConversation(view.contact_name, view.campaign_title, view.status, channel, ts))
    return out


def home_view(
    lines: list[HomeLine], is_admin: bool, past: Sequence[tuple[PastConversation, str]] = ()
) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your texting"}},
    ]
    if not lines:
        body.append(
            blocks.section("You are not texting in any campaign yet: click a campaign's *Join* button.")
        )
    for line in lines:
        body.append({"type": "divider"})
        body.append(
            blocks.section(
                f"*{blocks.escape(line.title)}*\n"
                f"{line.unsent} first texts to send · {line.replies} replies waiting"
            )
        )
        buttons = [
            blocks.button(
                f"Send First Texts ({line.unsent})",
                "tb_start_initials",
                blocks.value(k=line.campaign_id),
                style="primary",
            ),
            blocks.button(
                f"Send Replies ({line.replies})", "tb_start_replies", blocks.value(k=line.campaign_id)
            ),
        ]
        if line.can_request:
            buttons.append(blocks.button("Request More", "tb_request_more", blocks.value(k=line.campaign_id)))
        buttons.append(
            blocks.button("Done for the Day", "tb_done_day", blocks.value(k=line.campaign_id), style="danger")
        )
        body.append(blocks.actions(*buttons))
        if not line.can_request and line.reason:
            body.append(blocks.context(f"Request More is unavailable: {blocks.escape(line.reason)}"))
    if past:
        body.append({"type": "header", "text": {"type": "plain_text", "text": "Recent conversations"}})
        rows = []
        for convo, link in past:
            name = blocks.escape(convo.contact_name or "a contact")
            label = f"<{link}|{name}>" if link else name
            rows.append(f"{label} — {blocks.escape(convo.campaign_title)}, {convo.status.replace('_', ' ')}")
        body.append(blocks.section("\n".join(rows)))
    if is_admin:
        body.append({"type": "divider"})
        body.append(blocks.context("You are an admin: `/textbank help` lists the admin commands."))
    return {"type": "home", "blocks": body[:100]}


async def publish(deps: SlackDeps, actor: Actor) -> None:
    lines, past = await in_read(deps.db, lambda s: (dashboard(s, actor), past_conversations(s, actor)))
    linked = []
    for convo in past:
        try:
            response = await deps.client.chat_getPermalink(
                channel=convo.channel_id, message_ts=convo.thread_ts
            )
            link = str(response.get("permalink") or "")
        except SlackApiError:
            link = ""
        linked.append((convo, link))
    await deps.client.views_publish(
        user_id=actor.slack_user_id, view=home_view(lines, actor.is_admin, linked)
    )


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        team_id = body.get("team_id") or (body.get("authorizations") or [{}])[0].get("team_id", "")
        actor = await deps.actor(team_id, event["user"])
        await publish(deps, actor)

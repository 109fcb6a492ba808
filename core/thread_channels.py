"""Where a campaign's conversation threads open on a platform whose threads live in a channel (Discord).

An admin chooses a channel for one campaign in their server (``campaign_thread_channels``), or one for
every campaign of the server that has none of its own (``workspace_links.thread_channel_id``). A texter's
thread opens in the campaign's channel of a server they use textbank from, else in that server's channel;
None when no admin chose either (the chat layer then says who must run which command).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.campaigns import get_campaign
from core.errors import Refused
from core.orgs import get_user, require_admin, require_org_admin
from storage.models import Campaign, CampaignThreadChannel, PlatformIdentity, WorkspaceLink
from storage.types import utcnow


def choose(
    session: Session,
    user_id: int,
    platform: str,
    workspace_id: str,
    channel_id: str,
    campaign_ref: str | None = None,
) -> str | None:
    """An admin picks the channel of a campaign's threads in their server (None: the server's default).

    ``campaign_ref`` is the campaign's id or exact title; returns its title (None for the default).
    """
    actor = get_user(session, user_id)
    require_admin(actor)
    link = session.scalar(
        select(WorkspaceLink).where(
            WorkspaceLink.platform == platform, WorkspaceLink.workspace_id == workspace_id
        )
    )
    if link is None:
        raise Refused("this server is not linked to a textbank organization: run /textbank help first")
    require_org_admin(actor, link.organization_id)
    if campaign_ref is None:
        link.thread_channel_id = channel_id
        return None
    campaign = get_campaign(session, link.organization_id, campaign_ref)
    chosen = session.scalar(
        select(CampaignThreadChannel).where(
            CampaignThreadChannel.campaign_id == campaign.id,
            CampaignThreadChannel.platform == platform,
            CampaignThreadChannel.workspace_id == workspace_id,
        )
    )
    if chosen is None:
        chosen = CampaignThreadChannel(campaign_id=campaign.id, platform=platform, workspace_id=workspace_id)
        session.add(chosen)
    chosen.channel_id = channel_id
    chosen.chosen_by = actor.id
    chosen.chosen_at = utcnow()
    session.flush()
    return campaign.title


def for_thread(session: Session, platform: str, platform_user_id: str, campaign_id: int) -> str | None:
    """The channel a user's thread of ``campaign_id`` opens in (None when no admin chose one).

    The servers the user came from are tried newest first: the campaign's own channel there, then the
    server's default.
    """
    servers = list(
        session.scalars(
            select(PlatformIdentity.workspace_id)
            .where(
                PlatformIdentity.platform == platform, PlatformIdentity.platform_user_id == platform_user_id
            )
            .order_by(PlatformIdentity.id.desc())
        )
    )
    if not servers:
        return None
    own = dict(
        session.execute(
            select(CampaignThreadChannel.workspace_id, CampaignThreadChannel.channel_id).where(
                CampaignThreadChannel.campaign_id == campaign_id,
                CampaignThreadChannel.platform == platform,
                CampaignThreadChannel.workspace_id.in_(servers),
            )
        ).all()
    )
    # Only the servers of the campaign's own organization: a member of two organizations' servers must
    # not get this campaign's conversations in the other organization's server.
    organization = select(Campaign.organization_id).where(Campaign.id == campaign_id).scalar_subquery()
    fallback = dict(
        session.execute(
            select(WorkspaceLink.workspace_id, WorkspaceLink.thread_channel_id).where(
                WorkspaceLink.platform == platform,
                WorkspaceLink.workspace_id.in_(servers),
                WorkspaceLink.organization_id == organization,
                WorkspaceLink.thread_channel_id.is_not(None),
            )
        ).all()
    )
    for server in servers:
        if server in own:
            return own[server]
    for server in servers:
        if fallback.get(server):
            return fallback[server]
    return None

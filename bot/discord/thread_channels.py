"""Which channel a Discord server's conversation threads go in (``workspace_links.thread_channel_id``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import orgs
from core.errors import Refused
from storage.models import PlatformIdentity, WorkspaceLink


def for_user(session: Session, platform: str, platform_user_id: str) -> str | None:
    """The chosen channel of the server the user last came from (None when no admin chose one)."""
    return session.scalar(
        select(WorkspaceLink.thread_channel_id)
        .join(
            PlatformIdentity,
            (PlatformIdentity.platform == WorkspaceLink.platform)
            & (PlatformIdentity.workspace_id == WorkspaceLink.workspace_id),
        )
        .where(PlatformIdentity.platform == platform, PlatformIdentity.platform_user_id == platform_user_id)
        .order_by(PlatformIdentity.id.desc())
        .limit(1)
    )


def choose(session: Session, user_id: int, platform: str, workspace_id: str, channel_id: str) -> None:
    """An admin picks the channel of the server's conversation threads."""
    orgs.require_admin(orgs.get_user(session, user_id))
    link = session.scalar(
        select(WorkspaceLink).where(
            WorkspaceLink.platform == platform, WorkspaceLink.workspace_id == workspace_id
        )
    )
    if link is None:
        raise Refused("this server is not linked to a textbank organization: run /textbank help first")
    link.thread_channel_id = channel_id

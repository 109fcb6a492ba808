"""Organizations, users, their platform identities and roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, Refused
from storage.models import Organization, PlatformIdentity, User, WorkspaceLink

ROLES = ("owner", "admin", "texter")
ADMIN_ROLES = ("owner", "admin")
DEFAULT_ORG_NAME = "textbank"


def default_organization(session: Session, name: str = DEFAULT_ORG_NAME) -> Organization:
    """The organization the CLI works in: the first one, created on first use."""
    org = session.scalars(select(Organization).order_by(Organization.id).limit(1)).first()
    if org is None:
        org = Organization(name=name, optout_phrases=[])
        session.add(org)
        session.flush()
    return org


def get_organization(session: Session, org_id: int) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"no organization with id {org_id}")
    return org


def organization_for_workspace(session: Session, platform: str, workspace_id: str) -> Organization | None:
    link = session.scalars(
        select(WorkspaceLink).where(
            WorkspaceLink.platform == platform, WorkspaceLink.workspace_id == workspace_id
        )
    ).first()
    return session.get(Organization, link.organization_id) if link else None


def link_workspace(session: Session, org: Organization, platform: str, workspace_id: str) -> WorkspaceLink:
    existing = session.scalars(
        select(WorkspaceLink).where(
            WorkspaceLink.platform == platform, WorkspaceLink.workspace_id == workspace_id
        )
    ).first()
    if existing is not None:
        if existing.organization_id != org.id:
            raise Refused(f"this {platform} workspace is already linked to another organization")
        return existing
    link = WorkspaceLink(organization_id=org.id, platform=platform, workspace_id=workspace_id)
    session.add(link)
    session.flush()
    return link


def find_identity(
    session: Session, platform: str, workspace_id: str, platform_user_id: str
) -> PlatformIdentity | None:
    return session.scalars(
        select(PlatformIdentity).where(
            PlatformIdentity.platform == platform,
            PlatformIdentity.workspace_id == workspace_id,
            PlatformIdentity.platform_user_id == platform_user_id,
        )
    ).first()


def ensure_user(
    session: Session,
    org: Organization,
    *,
    platform: str,
    workspace_id: str,
    platform_user_id: str,
    name: str,
    role: str = "texter",
) -> User:
    """The user behind a platform identity, created (with ``role``) the first time they appear."""
    if role not in ROLES:
        raise Refused(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    identity = find_identity(session, platform, workspace_id, platform_user_id)
    if identity is not None:
        user = session.get(User, identity.user_id)
        assert user is not None
        if user.organization_id != org.id:
            raise Forbidden("this account belongs to another organization")
        if name and identity.display_name != name:
            identity.display_name = name
        return user
    user = User(organization_id=org.id, name=name or platform_user_id, role=role)
    session.add(user)
    session.flush()
    session.add(
        PlatformIdentity(
            user_id=user.id,
            platform=platform,
            workspace_id=workspace_id,
            platform_user_id=platform_user_id,
            display_name=name,
        )
    )
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def is_admin(user: User) -> bool:
    return user.role in ADMIN_ROLES


def require_admin(user: User) -> None:
    """Every admin action calls this first."""
    if not is_admin(user):
        raise Forbidden("only an admin can do that: ask an admin of your organization")


def set_role(session: Session, actor: User, target: User, role: str) -> None:
    require_admin(actor)
    if role not in ROLES:
        raise Refused(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if target.organization_id != actor.organization_id:
        raise Forbidden("that user belongs to another organization")
    if target.role == "owner" and actor.role != "owner":
        raise Forbidden("only an owner can change an owner's role")
    target.role = role

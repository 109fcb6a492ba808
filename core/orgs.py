"""Organizations, users, their platform identities and roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, text, update
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, Refused
from storage.locks import lock_key
from storage.models import Organization, PlatformIdentity, User, WorkspaceLink
from storage.types import utcnow

ROLES = ("owner", "admin", "texter")
ADMIN_ROLES = ("owner", "admin")
DEFAULT_ORG_NAME = "textbank"
# The identity of a person at the server's command line (not a chat account).
CLI_PLATFORM = "cli"
CLI_WORKSPACE = "local"
# Platforms where someone without admin rights may install the app (a Slack workspace can let members
# install apps): there the very first person in takes the bootstrap. Adding a bot to a Discord guild needs
# Manage Server, so a guild always has an owner or Administrator/Manage Server member to own it.
FIRST_PERSON_OWNS = ("slack",)


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


def last_workspace(session: Session, platform: str, platform_user_id: str) -> str | None:
    """The workspace (server) a user last came from, their newest identity's: a DM names none."""
    return session.scalar(
        select(PlatformIdentity.workspace_id)
        .where(PlatformIdentity.platform == platform, PlatformIdentity.platform_user_id == platform_user_id)
        .order_by(PlatformIdentity.id.desc())
        .limit(1)
    )


def ensure_user(
    session: Session,
    org: Organization,
    *,
    platform: str,
    workspace_id: str,
    platform_user_id: str,
    name: str,
    role: str = "texter",
    profile_checked_at: datetime | None = None,
) -> User:
    """The user behind a platform identity, created (with ``role``) the first time they appear.

    ``profile_checked_at``: ``name`` comes from the platform's profile read then (recorded on the identity).
    """
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
        if profile_checked_at is not None:
            identity.profile_checked_at = profile_checked_at
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
            profile_checked_at=profile_checked_at,
        )
    )
    session.flush()
    return user


def profile_checked(
    session: Session,
    platform: str,
    workspace_id: str,
    platform_user_id: str,
    name: str | None,
    at: datetime | None = None,
) -> None:
    """The platform's profile was read again and changes nobody's role: record when (and the display name,
    when ``name`` is given), so no process asks the platform again before the next check is due."""
    values: dict[str, Any] = {"profile_checked_at": at or utcnow()}
    if name:
        values["display_name"] = name
    session.execute(
        update(PlatformIdentity)
        .where(
            PlatformIdentity.platform == platform,
            PlatformIdentity.workspace_id == workspace_id,
            PlatformIdentity.platform_user_id == platform_user_id,
        )
        .values(**values)
    )


@dataclass(frozen=True)
class Texter:
    """A user as a click carries them (the chat layer's actor): all a send or a claim reads of the
    ``User`` row, so the hot paths load none."""

    id: int
    organization_id: int
    name: str


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


def require_org_admin(actor: User, organization_id: int) -> None:
    """``actor`` is an admin of ``organization_id``: every admin action on an organization's things."""
    require_admin(actor)
    if actor.organization_id != organization_id:
        raise Forbidden("that belongs to another organization: act on your own organization's campaigns")


def set_role(session: Session, actor: User, target: User, role: str) -> None:
    """An admin makes ``target`` an admin or a texter ("admin add"); only an owner changes an owner."""
    require_admin(actor)
    if role not in ROLES:
        raise Refused(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if target.organization_id != actor.organization_id:
        raise Forbidden("that user belongs to another organization")
    if target.role == "owner" and actor.role != "owner":
        raise Forbidden("only an owner can change an owner's role")
    target.role = role


def serialize_entries(session: Session) -> None:
    """Take turns with every other first entry (PostgreSQL; SQLite writers are serialized already).

    Linking a workspace and picking a newcomer's role read then write: two first users at the same
    moment must not both become owner, nor create two default organizations.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("orgs:workspace-entry")})


def _chat_users(org_id: int) -> Any:
    """Users of the organization with a chat identity (command-line operators do not count)."""
    return select(User.id).where(
        User.organization_id == org_id,
        exists().where(PlatformIdentity.user_id == User.id, PlatformIdentity.platform != CLI_PLATFORM),
    )


def newcomer_role(session: Session, org_id: int, *, platform_admin: bool, platform: str = "slack") -> str:
    """The role of someone entering the organization from a chat workspace for the first time.

    ``platform_admin``: they administer their workspace on their platform (a Slack workspace admin or
    owner; a Discord guild owner, or a member with Administrator or Manage Server).

    - A platform admin becomes the owner when the organization has no owner or admin in chat yet, else an
      admin.
    - Anyone else becomes the owner only on a platform of ``FIRST_PERSON_OWNS`` and when nobody has entered
      from chat before (so no admin exists and no workspace admin has appeared): a Slack workspace whose
      installer is not a workspace admin can still get going. Otherwise a texter; an admin promotes them
      with ``set_role``.
    Command-line operators (``command_line_user``) are left out of both counts: running the CLI on the
    server never takes the bootstrap away from the chat workspace.
    """
    chat = _chat_users(org_id)
    has_chat_admin = session.scalar(select(exists(chat.where(User.role.in_(ADMIN_ROLES)))))
    if platform_admin:
        return "admin" if has_chat_admin else "owner"
    if platform in FIRST_PERSON_OWNS and not has_chat_admin and not session.scalar(select(exists(chat))):
        return "owner"
    return "texter"


def _organization_for_new_workspace(session: Session, name: str) -> Organization:
    """Where a workspace entering for the first time goes: the default organization while no chat
    workspace is linked to it (a fresh install, or one set up from the command line), else an
    organization of its own.

    Anyone can add a public Discord bot to their server (or install a Slack app in theirs): that alone
    must not make them part of, let alone an admin of, an organization that is already in use. Their own
    organization joins another only with a connect code (``core.connect``), which folds it in while empty.
    """
    org = default_organization(session, name)
    in_use = exists().where(WorkspaceLink.organization_id == org.id, WorkspaceLink.platform != CLI_PLATFORM)
    if not session.scalar(select(in_use)):
        return org
    own = Organization(name=name, optout_phrases=[])
    session.add(own)
    session.flush()
    return own


def enter_workspace_user(
    session: Session,
    *,
    platform: str,
    workspace_id: str,
    platform_user_id: str,
    name: str,
    platform_admin: bool,
    org_name: str = DEFAULT_ORG_NAME,
) -> User:
    """The user behind a chat identity, as they use textbank: the one call an adapter makes per person.

    A workspace not linked yet is linked to the default organization while that one has no chat
    workspace, else to a new organization of its own (``/textbank connect`` joins it to another). A
    newcomer's role is ``newcomer_role``'s. Someone already known who has since become a workspace
    admin/owner on their platform (``platform_admin``) is promoted from texter to admin; nobody is ever
    demoted here (an admin does that with ``set_role``). A changed display name is recorded.
    """
    serialize_entries(session)
    checked = utcnow()
    org = organization_for_workspace(session, platform, workspace_id)
    if org is None:
        org = _organization_for_new_workspace(session, org_name)
        link_workspace(session, org, platform, workspace_id)
    if find_identity(session, platform, workspace_id, platform_user_id) is not None:
        user = ensure_user(
            session,
            org,
            platform=platform,
            workspace_id=workspace_id,
            platform_user_id=platform_user_id,
            name=name,
            profile_checked_at=checked,
        )
        if platform_admin and user.role == "texter":
            user.role = "admin"
        return user
    return ensure_user(
        session,
        org,
        platform=platform,
        workspace_id=workspace_id,
        platform_user_id=platform_user_id,
        name=name,
        role=newcomer_role(session, org.id, platform_admin=platform_admin, platform=platform),
        profile_checked_at=checked,
    )


def command_line_user(session: Session, org: Organization, login: str) -> User:
    """The person running the CLI on the server (``login`` = their OS user name), an owner.

    Whoever can run the CLI holds the database URL and could change any row anyway; the user row exists
    so core's admin checks and audit columns name them like anyone else.
    """
    return ensure_user(
        session,
        org,
        platform=CLI_PLATFORM,
        workspace_id=CLI_WORKSPACE,
        platform_user_id=login,
        name=login,
        role="owner",
    )

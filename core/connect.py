"""One organization on Slack and Discord: ``/textbank connect`` gives an admin a one-time code, and an admin
of another workspace or guild enters it (``/textbank connect CODE``) to join that organization.

A code is 12 characters from an alphabet without look-alikes (0/O, 1/I/L), about 60 bits: guessing one in
its 15 minutes is hopeless. Only its SHA-256 is stored. It is used once: the redeeming ``UPDATE ... WHERE
used_at IS NULL`` matches for one redeemer only. Wrong, used and expired codes are refused with the reason.

The redeemer's workspace has usually entered an organization already (``core.orgs.enter_workspace_user``
gives a workspace arriving after another one an organization of its own, and a first admin needs one to
be an admin). If that organization holds nothing yet (no campaigns, contacts, opt-outs, teams or tags)
it is folded into the code's organization: its workspace links and users move over, its owners becoming
admins (the code's organization keeps its owner), and it is deleted. If it holds data it is refused:
nothing is merged silently. A workspace already in the code's organization is told so.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from core.errors import Forbidden, Refused
from core.orgs import get_organization, link_workspace, require_admin, serialize_entries
from storage.models import (
    Campaign,
    ConnectCode,
    Contact,
    OptOut,
    Organization,
    Tag,
    Team,
    User,
    WorkspaceLink,
)
from storage.types import utcnow

CODE_LIFETIME = timedelta(minutes=15)
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
GROUP = 4


@dataclass(frozen=True)
class IssuedCode:
    """A code to show once to the admin who asked for it."""

    code: str  # grouped for reading, e.g. "K7QP-M2XW-9RTA"
    expires_at: datetime
    organization_name: str

    @property
    def message(self) -> str:
        return (
            f"Connect code for {self.organization_name}: {self.code} (single use, valid until "
            f"{self.expires_at:%H:%M} UTC). An admin of the other Slack workspace or Discord server "
            f"enters /textbank connect {self.code} there."
        )


@dataclass(frozen=True)
class Connected:
    organization_id: int
    organization_name: str
    platform: str
    workspace_id: str
    # People who had entered from the connected workspace and moved with it.
    users_moved: int

    @property
    def message(self) -> str:
        moved = f"; {self.users_moved} people here moved with it" if self.users_moved else ""
        return (
            f"This {_platform_word(self.platform)} is now part of {self.organization_name}: its campaigns, "
            f"texters and opt-out list are shared with every workspace connected to it{moved}."
        )


def _platform_word(platform: str) -> str:
    return {"slack": "Slack workspace", "discord": "Discord server"}.get(platform, f"{platform} workspace")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalize(typed: str) -> str:
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def _grouped(code: str) -> str:
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def create_connect_code(
    session: Session, actor: User, *, platform: str, now: datetime | None = None
) -> IssuedCode:
    """An admin asks (on ``platform``) for a code linking another workspace to their organization."""
    require_admin(actor)
    now = now or utcnow()
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    row = ConnectCode(
        organization_id=actor.organization_id,
        code_hash=_hash(code),
        created_by_user_id=actor.id,
        platform=platform,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    session.add(row)
    session.flush()
    org = get_organization(session, actor.organization_id)
    return IssuedCode(_grouped(code), row.expires_at, org.name)


def _holds_data(session: Session, org_id: int) -> bool:
    campaigns = select(Campaign.id).where(Campaign.organization_id == org_id)
    checks = (
        exists().where(Campaign.organization_id == org_id, Campaign.kind == "campaign"),
        exists().where(Contact.campaign_id.in_(campaigns)),
        exists().where(OptOut.organization_id == org_id),
        exists().where(Team.organization_id == org_id),
        exists().where(Tag.organization_id == org_id),
    )
    return any(session.scalar(select(check)) for check in checks)


def _fold_into(session: Session, source: Organization, target_id: int) -> int:
    """Move an empty organization's workspaces and users into ``target_id``, then delete it."""
    users = list(session.scalars(select(User).where(User.organization_id == source.id)))
    for user in users:
        user.organization_id = target_id
        if user.role == "owner":
            user.role = "admin"
    session.execute(
        update(WorkspaceLink)
        .where(WorkspaceLink.organization_id == source.id)
        .values(organization_id=target_id)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    # What an empty organization may still hold: its (contact-less) ad-hoc campaign, its connect codes.
    session.execute(delete(Campaign).where(Campaign.organization_id == source.id))
    session.execute(delete(ConnectCode).where(ConnectCode.organization_id == source.id))
    session.delete(source)
    session.flush()
    return len(users)


def redeem_connect_code(
    session: Session,
    actor: User,
    code: str,
    *,
    platform: str,
    workspace_id: str,
    now: datetime | None = None,
) -> Connected:
    """An admin of ``workspace_id`` on ``platform`` enters ``code``: that workspace joins the code's
    organization. Refused, with the reason and nothing changed, for a wrong, used or expired code, a
    workspace already in that organization, or one whose organization already holds data."""
    require_admin(actor)
    now = now or utcnow()
    if not any(i.platform == platform and i.workspace_id == workspace_id for i in actor.identities):
        raise Forbidden(f"you are not a member of this {_platform_word(platform)}: enter the code from it")
    typed = _normalize(code)
    if len(typed) != CODE_LENGTH or any(ch not in ALPHABET for ch in typed):
        raise Refused(
            f"{code.strip()!r} is not a connect code (they look like K7QP-M2XW-9RTA): "
            "copy it again from the admin who asked for it",
            code="unknown_code",
        )
    serialize_entries(session)
    query = select(ConnectCode).where(ConnectCode.code_hash == _hash(typed))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise Refused(
            "that connect code is wrong: check it, or ask an admin of the other workspace for a new one "
            "with /textbank connect",
            code="unknown_code",
        )
    if row.used_at is not None:
        raise Refused(
            f"that connect code was already used ({row.used_at:%Y-%m-%d %H:%M} UTC): codes work once; "
            "ask for a new one with /textbank connect",
            code="used_code",
        )
    if now >= row.expires_at:
        raise Refused(
            f"that connect code expired at {row.expires_at:%Y-%m-%d %H:%M} UTC (codes last "
            f"{int(CODE_LIFETIME.total_seconds() // 60)} minutes): ask for a new one with /textbank connect",
            code="expired_code",
        )
    target = get_organization(session, row.organization_id)
    current = session.scalars(
        select(Organization)
        .join(WorkspaceLink, WorkspaceLink.organization_id == Organization.id)
        .where(WorkspaceLink.platform == platform, WorkspaceLink.workspace_id == workspace_id)
    ).first()
    if current is not None and current.id == target.id:
        raise Refused(f"this {_platform_word(platform)} is already part of {target.name}: nothing to connect")
    if current is not None and actor.organization_id != current.id:
        raise Forbidden("you are not an admin of this workspace's organization")
    moved = 0
    if current is None:
        link_workspace(session, target, platform, workspace_id)
    elif _holds_data(session, current.id):
        raise Refused(
            f"this {_platform_word(platform)} already has campaigns, contacts, opt-outs, teams or tags in "
            f"its own organization ({current.name}), and organizations are not merged: connect the other "
            "way (run /textbank connect here and enter that code on the other platform) if the other one "
            "is still empty"
        )
    else:
        moved = _fold_into(session, current, target.id)
    used = session.execute(
        update(ConnectCode)
        .where(ConnectCode.id == row.id, ConnectCode.used_at.is_(None))
        .values(used_at=now, used_by_user_id=actor.id, used_platform=platform, used_workspace_id=workspace_id)
        .returning(ConnectCode.id)
        .execution_options(synchronize_session=False)
    ).first()
    if used is None:  # another redeemer won: the caller's transaction rolls back with the reason
        raise Refused("that connect code was just used by someone else: codes work once", code="used_code")
    return Connected(target.id, target.name, platform, workspace_id, moved)

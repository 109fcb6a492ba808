"""Who gets which role on entering from a chat workspace (core.orgs.enter_workspace_user)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from core import connect, orgs
from storage import Database
from storage.models import Organization, User, WorkspaceLink
from tests.core.factories import make_admin, make_org


def enter(db: Database, user_id: str, *, admin: bool = False, workspace: str = "T1", **kw: Any) -> User:
    with db.session() as session:
        return orgs.enter_workspace_user(
            session,
            platform=kw.get("platform", "slack"),
            workspace_id=workspace,
            platform_user_id=user_id,
            name=kw.get("name", user_id),
            platform_admin=admin,
        )


def test_first_use_links_the_workspace_to_the_default_organization(db: Database) -> None:
    user = enter(db, "U1")
    again = enter(db, "U2")
    with db.read() as session:
        links = list(session.execute(select(WorkspaceLink.platform, WorkspaceLink.workspace_id)))
        assert session.scalar(select(func.count()).select_from(Organization)) == 1
    assert [tuple(link) for link in links] == [("slack", "T1")]
    assert user.organization_id == again.organization_id


def test_first_workspace_admin_owns_and_later_admins_are_admins(db: Database) -> None:
    texter = enter(db, "U0")  # nobody before: owner by the fallback...
    assert texter.role == "owner"
    assert enter(db, "U1", admin=True).role == "admin"  # ...so a workspace admin after them is an admin
    assert enter(db, "U2").role == "texter"


def test_a_workspace_admin_arriving_first_is_the_owner(db: Database) -> None:
    assert enter(db, "UBOSS", admin=True).role == "owner"
    assert enter(db, "UBOSS2", admin=True).role == "admin"
    assert enter(db, "U1").role == "texter"


def test_a_second_workspace_gets_an_organization_of_its_own(db: Database) -> None:
    first = enter(db, "U1", workspace="T1")
    assert first.role == "owner"
    # Installing the app elsewhere joins nobody's organization: that takes a connect code.
    other = enter(db, "V1", workspace="T2")
    assert other.role == "owner" and other.organization_id != first.organization_id
    assert enter(db, "V2", workspace="T2", admin=True).organization_id == other.organization_id
    assert enter(db, "U2", workspace="T1").organization_id == first.organization_id
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 2
        owners = session.scalars(select(User.organization_id).where(User.role == "owner")).all()
    assert sorted(owners) == sorted([first.organization_id, other.organization_id])


def test_an_admin_from_another_platform_blocks_the_fallback(db: Database) -> None:
    with db.session() as session:
        org = orgs.default_organization(session)
        make_admin(session, org, "Dee Discord", platform="discord", workspace_id="G1")
    assert enter(db, "U1").role == "texter"


def test_command_line_operators_do_not_take_the_bootstrap(db: Database) -> None:
    with db.session() as session:
        operator = orgs.command_line_user(session, orgs.default_organization(session), "ops")
        assert operator.role == "owner"
        assert orgs.command_line_user(session, orgs.default_organization(session), "ops").id == operator.id
    assert enter(db, "U1").role == "owner"
    assert enter(db, "U2").role == "texter"


def test_a_texter_who_becomes_a_workspace_admin_is_promoted_never_demoted(db: Database) -> None:
    enter(db, "U0")
    assert enter(db, "U1").role == "texter"
    promoted = enter(db, "U1", admin=True, name="New Name")
    assert promoted.role == "admin" and promoted.name == "U1"
    with db.read() as session:
        identity = orgs.find_identity(session, "slack", "T1", "U1")
        assert identity is not None and identity.display_name == "New Name"
    assert enter(db, "U1", admin=False).role == "admin"  # losing the Slack flag demotes nobody
    assert enter(db, "U0", admin=True).role == "owner"  # an owner is never lowered to admin


def test_a_workspace_linked_elsewhere_enters_that_organization(db: Database) -> None:
    with db.session() as session:
        other = make_org(session, "other")
        orgs.link_workspace(session, other, "slack", "T9")
        make_admin(session, other, "Olga", platform="slack", workspace_id="T9")
    user = enter(db, "UNEW", workspace="T9")
    assert user.organization_id == other.id and user.role == "texter"
    with db.read() as session:  # the default organization was not created for it
        assert session.scalar(select(func.count()).select_from(Organization)) == 1


def test_concurrent_first_users_make_exactly_one_owner(db: Database) -> None:
    barrier = threading.Barrier(6)
    roles: list[str] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            roles.append(enter(db, f"U{i}", admin=i % 2 == 0).role)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    assert roles.count("owner") == 1
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 1
        assert session.scalar(select(func.count()).select_from(WorkspaceLink)) == 1


# --- Discord: guild owners and Administrator/Manage Server members are admins (platform_admin) -----------


def test_on_discord_the_first_guild_admin_owns_and_plain_members_are_texters(db: Database) -> None:
    def discord(user_id: str, admin: bool = False) -> User:
        return enter(db, user_id, admin=admin, workspace="G1", platform="discord")

    # Adding the bot took Manage Server, so a plain member arriving first does not take the organization.
    assert discord("D1").role == "texter"
    assert discord("DOWNER", admin=True).role == "owner"
    assert discord("DMOD", admin=True).role == "admin"
    assert discord("D2").role == "texter"
    # A member later given Manage Server is promoted when they next use textbank.
    assert discord("D1", admin=True).role == "admin"
    with db.read() as session:
        assert session.scalar(select(func.count()).where(User.role == "owner")) == 1
        [link] = session.execute(select(WorkspaceLink.platform, WorkspaceLink.workspace_id)).all()
    assert tuple(link) == ("discord", "G1")


def test_a_guild_joins_an_organization_in_use_only_with_a_connect_code(db: Database) -> None:
    slack_owner = enter(db, "USLACK", admin=True)
    assert slack_owner.role == "owner"
    guild_owner = enter(db, "DADMIN", admin=True, workspace="G1", platform="discord")
    member = enter(db, "DMEMBER", workspace="G1", platform="discord")
    assert guild_owner.role == "owner" and member.role == "texter"
    assert guild_owner.organization_id == member.organization_id != slack_owner.organization_id

    with db.session() as session:
        issued = connect.create_connect_code(
            session, orgs.get_user(session, slack_owner.id), platform="slack"
        )
        connect.redeem_connect_code(
            session,
            orgs.get_user(session, guild_owner.id),
            issued.code,
            platform="discord",
            workspace_id="G1",
        )
    # Folded in: the guild's owner is an admin of the Slack workspace's organization, its members texters.
    assert enter(db, "DADMIN", admin=True, workspace="G1", platform="discord").role == "admin"
    moved = enter(db, "DMEMBER", workspace="G1", platform="discord")
    assert moved.role == "texter" and moved.organization_id == slack_owner.organization_id
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 1

"""Connect codes: an admin on one platform gets a one-time code (15 minutes, single use, stored hashed); an
admin on the other platform enters it and their workspace joins the same organization."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.connect import ALPHABET, create_connect_code, redeem_connect_code
from core.errors import Forbidden, Refused
from core.orgs import link_workspace, organization_for_workspace
from storage.models import ConnectCode, Organization, User
from tests.core.factories import at, make_admin, make_campaign, make_org, make_texter

T = at(2026, 11, 3, 9, 0)


@pytest.fixture
def two(db, org_id):
    """Slack org A (with a campaign, an admin) and a Discord guild G1 that entered its own, empty org B."""
    with db.session() as s:
        org_a = s.get(Organization, org_id)
        link_workspace(s, org_a, "slack", "T1")
        sam = make_admin(s, org_a, "Sam", platform="slack", workspace_id="T1")
        make_campaign(s, org_a, title="GOTV")
        org_b = make_org(s, "guild org")
        link_workspace(s, org_b, "discord", "G1")
        dana = make_admin(s, org_b, "Dana", platform="discord", workspace_id="G1")
        dana.role = "owner"
        dex = make_texter(s, org_b, "Dex", platform="discord", workspace_id="G1")
        return db, org_a.id, org_b.id, sam.id, dana.id, dex.id


def _issue(db, user_id, now=T):
    with db.session() as s:
        return create_connect_code(s, s.get(User, user_id), platform="slack", now=now)


def _redeem(db, user_id, code, now=T + timedelta(minutes=5), workspace="G1"):
    with db.session() as s:
        return redeem_connect_code(
            s, s.get(User, user_id), code, platform="discord", workspace_id=workspace, now=now
        )


def test_a_code_joins_the_guild_to_the_organization_and_its_people_move_with_it(two):
    db, org_a, org_b, sam, dana, dex = two
    issued = _issue(db, sam)
    assert issued.expires_at == T + timedelta(minutes=15)
    assert len(issued.code) == 14 and issued.code.count("-") == 2
    assert all(ch in ALPHABET for ch in issued.code.replace("-", ""))
    assert issued.message.startswith("Connect code for textbank: ") and "09:15 UTC" in issued.message
    # Typed as people type it: lower case, spaces instead of dashes.
    connected = _redeem(db, dana, issued.code.lower().replace("-", " "))
    assert (connected.organization_id, connected.users_moved) == (org_a, 2)
    assert connected.message.startswith("This Discord server is now part of textbank")
    with db.read() as s:
        assert organization_for_workspace(s, "discord", "G1").id == org_a
        assert organization_for_workspace(s, "slack", "T1").id == org_a
        assert s.get(Organization, org_b) is None
        moved = {u.name: (u.organization_id, u.role) for u in s.scalars(select(User))}
        assert moved["Dana"] == (
            org_a,
            "admin",
        )  # the organization keeps its one owner... none here: Sam is admin
        assert moved["Dex"] == (org_a, "texter")
        row = s.scalars(select(ConnectCode)).one()
        assert row.code_hash == hashlib.sha256(issued.code.replace("-", "").encode()).hexdigest()
        assert (row.used_platform, row.used_workspace_id, row.used_by_user_id) == ("discord", "G1", dana)


def test_wrong_used_and_expired_codes_are_refused_with_the_reason(two, db):
    db, org_a, org_b, sam, dana, _dex = two
    with pytest.raises(Refused, match="is not a connect code") as info:
        _redeem(db, dana, "hello")
    assert info.value.code == "unknown_code"
    with pytest.raises(Refused, match="that connect code is wrong"):
        _redeem(db, dana, "AAAA-BBBB-CCCC")
    late = _issue(db, sam)
    with pytest.raises(Refused, match="expired at 2026-11-03 09:15 UTC .*15 minutes") as info:
        _redeem(db, dana, late.code, now=T + timedelta(minutes=15))
    assert info.value.code == "expired_code"
    code = _issue(db, sam).code
    _redeem(db, dana, code, now=T + timedelta(minutes=14, seconds=59))
    with db.session() as s:  # a second guild's admin, in its own empty organization, tries the same code
        org_c = make_org(s, "third").id
        link_workspace(s, s.get(Organization, org_c), "discord", "G2")
        gail = make_admin(s, org_c, "Gail", platform="discord", workspace_id="G2").id
    with pytest.raises(Refused, match=r"already used \(2026-11-03 09:14 UTC\)") as info:
        _redeem(db, gail, code, workspace="G2")
    assert info.value.code == "used_code"
    with db.read() as s:
        assert organization_for_workspace(s, "discord", "G2").id == org_c
        assert organization_for_workspace(s, "discord", "G1").id == org_a  # (SQLite may reuse org_b's id)


def test_a_workspace_already_in_the_organization_is_told_and_the_code_is_kept(two):
    db, org_a, _org_b, sam, dana, _dex = two
    first = _issue(db, sam)
    _redeem(db, dana, first.code)
    second = _issue(db, sam)
    with pytest.raises(Refused, match="already part of textbank: nothing to connect"):
        _redeem(db, dana, second.code)
    with db.read() as s:
        kept = s.scalars(select(ConnectCode).where(ConnectCode.used_at.is_(None))).one()
    assert kept.code_hash == hashlib.sha256(second.code.replace("-", "").encode()).hexdigest()


def test_a_workspace_whose_organization_holds_data_is_not_merged(two):
    db, _org_a, org_b, sam, dana, _dex = two
    with db.session() as s:
        make_campaign(s, org_b, title="Guild campaign")
    code = _issue(db, sam).code
    with pytest.raises(Refused, match="organizations are not merged: connect the other way"):
        _redeem(db, dana, code)
    with db.read() as s:
        assert organization_for_workspace(s, "discord", "G1").id == org_b
        assert (
            s.scalar(select(func.count()).select_from(ConnectCode).where(ConnectCode.used_at.is_not(None)))
            == 0
        )


def test_only_admins_issue_and_redeem_and_only_from_their_own_workspace(two):
    db, _org_a, _org_b, sam, dana, dex = two
    with pytest.raises(Forbidden, match="only an admin"):
        _issue(db, dex)
    code = _issue(db, sam).code
    with pytest.raises(Forbidden, match="only an admin"):
        _redeem(db, dex, code)
    with pytest.raises(Forbidden, match="not a member of this Discord server"):
        _redeem(db, dana, code, workspace="G9")
    assert _redeem(db, dana, code).users_moved == 2

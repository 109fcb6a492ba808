"""Every admin action checks the acting user's role inside core: a texter is refused and nothing changes,
an admin (or the command line's owner) gets it done, and an admin of another organization is refused."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import (
    assignment,
    campaign_yaml,
    campaigns,
    connect,
    dashboard,
    export,
    joining,
    optouts,
    orgs,
    releases,
    stats,
)
from core.errors import Forbidden
from storage import Database
from storage.models import Campaign, CampaignTexter, ConnectCode, Contact, JoinToken, OptOut, User
from tests.core.factories import (
    add_contacts,
    add_texter,
    make_admin,
    make_campaign,
    make_org,
    make_script,
    make_texter,
)


@dataclass(frozen=True)
class World:
    org_id: int
    admin_id: int
    texter_id: int
    other_texter_id: int
    draft_id: int  # ready to launch
    live_id: int  # launched, dynamic initials on
    manual_id: int  # launched, dynamic initials off (manual assignment)


def build(db: Database) -> World:
    with db.session() as s:
        org = make_org(s)
        admin = make_admin(s, org, "Ada")
        texter, other = make_texter(s, org, "Tess"), make_texter(s, org, "Theo")
        draft = make_campaign(s, org, title="Draft", status="draft")
        make_script(s, draft)
        add_contacts(s, draft, 2)
        live = make_campaign(s, org, title="Live")
        make_script(s, live)
        add_contacts(s, live, 3, assigned_to=other)
        add_texter(s, live, other)
        manual = make_campaign(s, org, title="Manual", dynamic_initials=False)
        add_contacts(s, manual, 3)
        return World(org.id, admin.id, texter.id, other.id, draft.id, live.id, manual.id)


def _campaign(s: Session, campaign_id: int) -> Campaign:
    found = s.get(Campaign, campaign_id)
    assert found is not None
    return found


def _user(s: Session, user_id: int) -> User:
    return orgs.get_user(s, user_id)


YAML = "title: From YAML\nassignment:\n  initials_batch_size: 7\nscript:\n  initial: Hi {firstName}\n"

# name -> the core call, made by ``actor`` in world ``w``.
Action = Callable[[Session, User, World], Any]
ADMIN_ACTIONS: dict[str, Action] = {
    "launch": lambda s, a, w: campaigns.launch_campaign(s, _campaign(s, w.draft_id), actor=a),
    "archive": lambda s, a, w: campaigns.archive_campaign(s, _campaign(s, w.live_id), actor=a),
    "stats": lambda s, a, w: stats.campaign_stats(s, _campaign(s, w.live_id), actor=a),
    "texter counts": lambda s, a, w: stats.texter_counts(s, _campaign(s, w.live_id), actor=a),
    "campaign list": lambda s, a, w: campaigns.list_campaigns(s, w.org_id, actor=a),
    "settings": lambda s, a, w: campaigns.update_assignment_settings(
        s, _campaign(s, w.live_id), actor=a, initials_batch_size=5
    ),
    "campaign settings": lambda s, a, w: campaigns.update_campaign(
        s, _campaign(s, w.live_id), actor=a, description="changed"
    ),
    "campaign new": lambda s, a, w: campaigns.create_campaign(s, w.org_id, actor=a, title="New"),
    "campaign apply": lambda s, a, w: campaign_yaml.apply_campaign_yaml(s, w.org_id, YAML, actor=a),
    "join link": lambda s, a, w: joining.create_join_token(s, a, _campaign(s, w.live_id), "initials"),
    "manual assignment": lambda s, a, w: assignment.assign_initials(
        s, a, _campaign(s, w.manual_id), _user(s, w.texter_id), 2
    ),
    "per-texter maximum": lambda s, a, w: assignment.set_texter_max(
        s, a, _campaign(s, w.live_id), _user(s, w.texter_id), 5
    ),
    "review": lambda s, a, w: stats.review(s, a, _campaign(s, w.live_id), status="needs_message"),
    "unassign": lambda s, a, w: releases.unassign_by_filter(s, a, _campaign(s, w.live_id), "needs_message"),
    "release texter": lambda s, a, w: releases.release_texter_initials(
        s, a, _campaign(s, w.live_id), _user(s, w.other_texter_id)
    ),
    "export": lambda s, a, w: export.export_contacts_csv(s, a, _campaign(s, w.live_id), io.StringIO()),
    "opt-out add": lambda s, a, w: optouts.add_optout(s, w.org_id, "+12125550199", actor=a),
    "opt-out by admin": lambda s, a, w: optouts.opt_out(s, w.org_id, "+12125550198", source="admin", actor=a),
    "opt-out list": lambda s, a, w: optouts.list_optouts(s, w.org_id, actor=a),
    "opt-out count": lambda s, a, w: optouts.count_optouts(s, w.org_id, actor=a),
    "opt-out page": lambda s, a, w: optouts.optout_page(s, a),
    "admin add": lambda s, a, w: orgs.set_role(s, a, _user(s, w.texter_id), "admin"),
    "dashboard": lambda s, a, w: dashboard.admin_dashboard(s, a),
    "connect code": lambda s, a, w: connect.create_connect_code(s, a, platform="slack"),
}


def _fingerprint(db: Database, w: World) -> tuple[Any, ...]:
    """What any of the actions could change."""
    with db.read() as s:
        return (
            tuple(
                s.execute(
                    select(Campaign.id, Campaign.status, Campaign.initials_batch_size, Campaign.description)
                    .where(Campaign.organization_id == w.org_id)
                    .order_by(Campaign.id)
                ).all()
            ),
            tuple(s.execute(select(Contact.id, Contact.assigned_user_id).order_by(Contact.id)).all()),
            tuple(s.execute(select(CampaignTexter.user_id, CampaignTexter.max_initials)).all()),
            s.scalar(select(func.count()).select_from(OptOut)),
            s.scalar(select(func.count()).select_from(JoinToken)),
            s.scalar(select(func.count()).select_from(ConnectCode)),
            s.execute(select(User.role).where(User.id == w.texter_id)).scalar(),
        )


@pytest.mark.parametrize("name", sorted(ADMIN_ACTIONS))
def test_a_texter_is_refused_every_admin_action_and_nothing_changes(db: Database, name: str) -> None:
    w = build(db)
    before = _fingerprint(db, w)
    with pytest.raises(Forbidden, match="only an admin can do that"):
        with db.session() as s:
            ADMIN_ACTIONS[name](s, _user(s, w.texter_id), w)
    assert _fingerprint(db, w) == before


@pytest.mark.parametrize("name", sorted(ADMIN_ACTIONS))
def test_an_admin_does_every_admin_action(db: Database, name: str) -> None:
    w = build(db)
    with db.session() as s:
        ADMIN_ACTIONS[name](s, _user(s, w.admin_id), w)


@pytest.mark.parametrize("name", sorted(ADMIN_ACTIONS))
def test_the_command_line_owner_does_every_admin_action(db: Database, name: str) -> None:
    w = build(db)
    with db.session() as s:
        org = orgs.get_organization(s, w.org_id)
        ADMIN_ACTIONS[name](s, orgs.command_line_user(s, org, "operator"), w)


# These act on the acting admin's own organization whatever they are given, so no other one is reachable.
OWN_ORGANIZATION_ONLY = {"opt-out page", "dashboard", "connect code"}


@pytest.mark.parametrize("name", sorted(set(ADMIN_ACTIONS) - OWN_ORGANIZATION_ONLY))
def test_an_admin_of_another_organization_is_refused(db: Database, name: str) -> None:
    w = build(db)
    with db.session() as s:
        stranger = make_admin(s, make_org(s), "Stranger").id
    before = _fingerprint(db, w)
    with pytest.raises(Forbidden):
        with db.session() as s:
            ADMIN_ACTIONS[name](s, _user(s, stranger), w)
    assert _fingerprint(db, w) == before


def test_a_texter_still_opts_out_their_own_contact_and_sees_their_own_counts(db: Database) -> None:
    from core.conversations import opt_out_contact

    w = build(db)
    with db.session() as s:
        other = _user(s, w.other_texter_id)
        live = _campaign(s, w.live_id)
        held = s.scalars(
            select(Contact).where(Contact.assigned_user_id == other.id).order_by(Contact.id)
        ).first()
        assert held is not None
        opt_out_contact(s, other, held.id)
        assert optouts.is_opted_out(s, w.org_id, held.cell)
        mine = stats.own_counts(s, live, other)
        assert mine is not None and (mine.name, mine.total_assigned) == ("Theo", 3)
        assert stats.own_counts(s, live, _user(s, w.texter_id)) is None
        assert [c.title for c in campaigns.texter_campaigns(s, other)] == ["Live"]
        assert campaigns.texter_campaigns(s, _user(s, w.texter_id)) == []


def test_an_opt_out_by_a_texter_or_an_admin_names_who_did_it(db: Database) -> None:
    from core.errors import Refused

    w = build(db)
    with db.session() as s:
        with pytest.raises(Refused, match="names who did it"):
            optouts.opt_out(s, w.org_id, "+12125550197", source="texter")
        with pytest.raises(Refused, match="names who did it"):
            optouts.opt_out(s, w.org_id, "+12125550197", source="admin")
        assert optouts.opt_out(s, w.org_id, "+12125550197", source="keyword")

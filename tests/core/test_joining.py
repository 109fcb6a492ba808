from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.errors import Forbidden, NotFound, Refused
from core.joining import create_join_token, join
from storage.models import Campaign, CampaignTexter, JoinToken, TeamMember, User
from tests.core.factories import make_admin, make_campaign, make_org, make_texter


def _members(session, campaign_id: int) -> set[int]:
    return set(
        session.scalars(select(CampaignTexter.user_id).where(CampaignTexter.campaign_id == campaign_id))
    )


def test_token_is_reused_per_campaign_kind_and_team(db, org_id):
    with db.session() as s:
        admin = make_admin(s, org_id)
        campaign = make_campaign(s, org_id, dynamic_replies=True)
        first = create_join_token(s, admin, campaign, "initials")
        again = create_join_token(s, admin, campaign, "initials")
        replies = create_join_token(s, admin, campaign, "replies")
        team_a = create_join_token(s, admin, campaign, "initials", "Phone Bankers")
        team_a_again = create_join_token(s, admin, campaign, "initials", "Phone Bankers")
        assert first.token == again.token
        assert len({first.token, replies.token, team_a.token}) == 3
        assert team_a.token == team_a_again.token
        assert s.scalar(select(func.count()).select_from(JoinToken)) == 3


def test_only_admins_create_tokens_and_kind_is_checked(db, org_id):
    with db.session() as s:
        texter = make_texter(s, org_id)
        admin = make_admin(s, org_id)
        campaign = make_campaign(s, org_id)
        with pytest.raises(Forbidden):
            create_join_token(s, texter, campaign, "initials")
        with pytest.raises(Refused, match="initials or replies"):
            create_join_token(s, admin, campaign, "both")


def test_join_adds_user_to_team_and_campaign_once(db, org_id):
    with db.session() as s:
        admin = make_admin(s, org_id)
        texter = make_texter(s, org_id)
        campaign = make_campaign(s, org_id)
        token = create_join_token(s, admin, campaign, "initials", "North").token
    with db.session() as s:
        user = s.get(User, texter.id)
        result = join(s, token, user)
        assert result.joined and result.kind == "initials" and result.team_name == "North"
        assert result.campaign_id == campaign.id
    with db.session() as s:
        again = join(s, token, s.get(User, texter.id))
        assert not again.joined
        assert _members(s, campaign.id) == {texter.id}
        assert s.scalar(select(func.count()).select_from(TeamMember)) == 1


@pytest.mark.parametrize(
    ("settings", "kind", "code", "words"),
    [
        ({"status": "draft"}, "initials", "not_launched", "has not launched yet"),
        (
            {"dynamic_initials": False},
            "initials",
            "dynamic_off",
            "dynamic assignment for initials is turned off for this campaign "
            "(an admin turns it on in the campaign's settings)",
        ),
        (
            {"dynamic_replies": False},
            "replies",
            "dynamic_off",
            "dynamic assignment for replies is turned off for this campaign "
            "(an admin turns it on in the campaign's settings)",
        ),
    ],
)
def test_join_refusals_say_which_reason(db, org_id, settings, kind, code, words):
    with db.session() as s:
        admin = make_admin(s, org_id)
        texter = make_texter(s, org_id)
        campaign = make_campaign(s, org_id, **{"dynamic_replies": True, **settings})
        token = create_join_token(s, admin, campaign, kind).token
    with pytest.raises(Refused) as info, db.session() as s:
        join(s, token, s.get(User, texter.id))
    assert info.value.code == code
    assert words in info.value.reason
    with db.read() as s:
        assert _members(s, campaign.id) == set()


def test_join_archived_campaign_is_refused(db, org_id):
    with db.session() as s:
        admin = make_admin(s, org_id)
        texter = make_texter(s, org_id)
        campaign = make_campaign(s, org_id)
        token = create_join_token(s, admin, campaign, "initials").token
        s.get(Campaign, campaign.id).status = "archived"
    with pytest.raises(Refused, match="archived") as info, db.session() as s:
        join(s, token, s.get(User, texter.id))
    assert info.value.code == "archived"


def test_unknown_token_and_other_organization(db, org_id):
    with db.session() as s:
        admin = make_admin(s, org_id)
        campaign = make_campaign(s, org_id)
        token = create_join_token(s, admin, campaign, "initials").token
        stranger = make_texter(s, make_org(s))
        with pytest.raises(NotFound, match="unknown"):
            join(s, "no-such-token", stranger)
        with pytest.raises(Forbidden, match="another organization"):
            join(s, token, stranger)
        with pytest.raises(Forbidden):
            create_join_token(s, make_admin(s, stranger.organization_id), campaign, "initials")

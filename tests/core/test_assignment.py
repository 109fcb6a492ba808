from __future__ import annotations

import pytest
from sqlalchemy import select

from core.assignment import (
    assign_initials,
    availability,
    parse_maximum,
    request_initials,
    request_initials_for,
    request_replies,
    set_texter_max,
)
from core.errors import Forbidden, NotFound, Refused
from core.orgs import Texter
from core.releases import done_for_the_day
from storage.models import Contact, Notice, OptOut
from tests.core.factories import (
    add_contacts,
    add_texter,
    at,
    make_admin,
    make_campaign,
    make_launched_campaign,
    make_org,
    make_texter,
)

# A Monday in July: New York is on EDT (UTC-4), Denver on MDT (UTC-6), Phoenix on MST (UTC-7) all year.
NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")


def _assigned(session, user) -> set[int]:
    return set(session.scalars(select(Contact.id).where(Contact.assigned_user_id == user.id)))


@pytest.fixture
def world(db, org_id):
    """A launched campaign of 30 New York contacts, batch size 10, a member texter and an admin."""
    with db.session() as s:
        texter = make_texter(s, org_id, "Tess")
        admin = make_admin(s, org_id, "Ada")
        campaign = make_launched_campaign(s, org_id, 30, texters=[texter], initials_batch_size=10)
    return db, campaign, texter, admin


# --- availability -------------------------------------------------------------------------------


def test_available_when_everything_holds(world):
    db, campaign, texter, _ = world
    with db.read() as s:
        result = availability(s, campaign, texter, now=NOON_NY)
    assert result.can_request and result.reason is None and result.code is None


@pytest.mark.parametrize(
    ("settings", "code", "words"),
    [
        ({"status": "draft"}, "not_launched", "has not launched yet"),
        ({"status": "archived"}, "not_launched", "archived"),
        ({"dynamic_initials": False}, "dynamic_off", "dynamic assignment for initials is turned off"),
    ],
)
def test_availability_campaign_gates(db, org_id, settings, code, words):
    with db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_campaign(s, org_id, **settings)
        add_contacts(s, campaign, 3)
        add_texter(s, campaign, texter)
        result = availability(s, campaign, texter, now=NOON_NY)
        claim = request_initials(s, campaign, texter, now=NOON_NY)
        assert _assigned(s, texter) == set()
    assert (result.can_request, result.code) == (False, code)
    assert words in result.reason
    assert claim.contact_ids == [] and claim.code == code and claim.reason == result.reason


def test_not_member(world, org_id):
    db, campaign, _, _ = world
    with db.session() as s:
        outsider = make_texter(s, org_id)
        result = availability(s, campaign, outsider, now=NOON_NY)
        claim = request_initials(s, campaign, outsider, now=NOON_NY)
    assert result.code == "not_member" and "join message" in result.reason
    assert claim.contact_ids == [] and claim.code == "not_member"


def test_replies_first_gate(db, org_id):
    with db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 5, texters=[texter], replies_before_initials=True)
        add_contacts(s, campaign, 2, first=100, status="needs_response", assigned_to=texter)
        result = availability(s, campaign, texter, now=NOON_NY)
        claim = request_initials(s, campaign, texter, now=NOON_NY)
        assert result.code == "replies_first" and "2 unhandled replies" in result.reason
        assert claim.contact_ids == [] and claim.code == "replies_first"
        campaign.replies_before_initials = False
        assert availability(s, campaign, texter, now=NOON_NY).can_request
        assert request_initials(s, campaign, texter, now=NOON_NY).count == 5


def test_nothing_left_when_all_taken_or_opted_out(db, org_id):
    with db.session() as s:
        texter, other = make_texter(s, org_id), make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, texters=[texter])
        add_contacts(s, campaign, 2, assigned_to=other)
        add_contacts(s, campaign, 2, first=10, opted_out=True)
        add_contacts(s, campaign, 2, first=20, status="messaged")
        result = availability(s, campaign, texter, now=NOON_NY)
        claim = request_initials(s, campaign, texter, now=NOON_NY)
    assert result.code == "nothing_left" and "no initials left" in result.reason
    assert claim.contact_ids == [] and claim.code == "nothing_left"


def test_outside_hours_says_when_the_window_opens(db, org_id):
    with db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, texters=[texter])
        add_contacts(s, campaign, 2, timezones=["America/New_York"])
        add_contacts(s, campaign, 2, first=10, timezones=["America/Los_Angeles"])
        late = at(2024, 7, 15, 22, 30, "America/New_York")  # 19:30 in Los Angeles: still open there
        assert availability(s, campaign, texter, now=late).can_request
        night = at(2024, 7, 16, 2, 0, "America/New_York")  # 23:00 in Los Angeles
        result = availability(s, campaign, texter, now=night)
        claim = request_initials(s, campaign, texter, now=night)
        assert _assigned(s, texter) == set()
    assert result.code == "outside_hours"
    assert result.opens_at == at(2024, 7, 16, 9, 0, "America/New_York")
    assert "09:00 America/New_York" in result.reason
    assert claim.code == "outside_hours" and claim.contact_ids == []


def test_availability_for_replies(db, org_id):
    with db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, texters=[texter], dynamic_replies=False)
        off = availability(s, campaign, texter, "replies", now=NOON_NY)
        campaign.dynamic_replies = True
        empty = availability(s, campaign, texter, "replies", now=NOON_NY)
        add_contacts(s, campaign, 1, status="needs_response")
        ready = availability(s, campaign, texter, "replies", now=NOON_NY)
        with pytest.raises(Refused, match="initials or replies"):
            availability(s, campaign, texter, "everything", now=NOON_NY)
    assert off.code == "dynamic_off" and "for replies is turned off" in off.reason
    assert empty.code == "nothing_left" and "unhandled replies" in empty.reason
    assert ready.can_request


# --- request_initials ---------------------------------------------------------------------------


def test_batch_size_is_honoured_and_batches_follow_each_other(world):
    db, campaign, texter, _ = world
    with db.session() as s:
        first = request_initials(s, campaign, texter, now=NOON_NY)
    with db.session() as s:
        second = request_initials(s, campaign, texter, now=NOON_NY)
        assert first.count == 10 and second.count == 10
        assert not set(first.contact_ids) & set(second.contact_ids)
        assert _assigned(s, texter) == set(first.contact_ids) | set(second.contact_ids)
        rows = s.scalars(select(Contact).where(Contact.id.in_(first.contact_ids))).all()
        assert all(c.assigned_at == NOON_NY for c in rows)


def test_personal_max_bounds_the_claim_and_then_refuses(world):
    db, campaign, texter, admin = world
    with db.session() as s:
        set_texter_max(s, admin, campaign, texter, 14)
        assert request_initials(s, campaign, texter, now=NOON_NY).count == 10
        bounded = request_initials(s, campaign, texter, now=NOON_NY)
        assert bounded.count == 4
        at_max = request_initials(s, campaign, texter, now=NOON_NY)
        assert at_max.contact_ids == [] and at_max.code == "at_maximum" and "maximum of 14" in at_max.reason
        assert availability(s, campaign, texter, now=NOON_NY).code == "at_maximum"
        assert len(_assigned(s, texter)) == 14


def test_campaign_max_applies_when_the_texter_has_none(world):
    db, campaign, texter, admin = world
    with db.session() as s:
        campaign.max_initials_per_texter = 3
        assert request_initials(s, campaign, texter, now=NOON_NY).count == 3
        assert request_initials(s, campaign, texter, now=NOON_NY).code == "at_maximum"
        set_texter_max(s, admin, campaign, texter, 5)  # the personal cap wins over the campaign's
        assert request_initials(s, campaign, texter, now=NOON_NY).count == 2
        set_texter_max(s, admin, campaign, texter, None)
        assert request_initials(s, campaign, texter, now=NOON_NY).code == "at_maximum"


def test_max_counts_contacts_currently_assigned_in_any_status(world):
    db, campaign, texter, admin = world
    with db.session() as s:
        add_contacts(s, campaign, 2, first=500, status="convo", assigned_to=texter)
        set_texter_max(s, admin, campaign, texter, 5)
        assert request_initials(s, campaign, texter, now=NOON_NY).count == 3


def test_claims_skip_opted_out_escalated_assigned_and_other_statuses(db, org_id):
    with db.session() as s:
        texter, other = make_texter(s, org_id), make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, texters=[texter])
        good = add_contacts(s, campaign, 2)
        add_contacts(s, campaign, 1, first=10, opted_out=True)
        add_contacts(s, campaign, 1, first=20, escalated=True)
        add_contacts(s, campaign, 1, first=30, assigned_to=other)
        add_contacts(s, campaign, 1, first=40, status="closed")
        listed = add_contacts(s, campaign, 1, first=50)[0]  # on the org's list, not yet flagged
        s.add(OptOut(organization_id=org_id, cell=listed.cell, source="import"))
        s.flush()
        claim = request_initials(s, campaign, texter, now=NOON_NY)
    assert claim.contact_ids == sorted(c.id for c in good)


def test_claims_only_contacts_inside_hours_phoenix_in_july(db, org_id):
    with db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, texters=[texter])
        denver = add_contacts(s, campaign, 2, timezones=["America/Denver"])
        phoenix = add_contacts(s, campaign, 2, first=10, timezones=["America/Phoenix"])
        # 09:30 in Denver (MDT) is 08:30 in Phoenix, which keeps MST in summer.
        claim = request_initials(s, campaign, texter, now=at(2024, 7, 15, 9, 30, "America/Denver"))
        assert claim.contact_ids == sorted(c.id for c in denver)
        later = request_initials(s, campaign, texter, now=at(2024, 7, 15, 9, 0, "America/Phoenix"))
        assert later.contact_ids == sorted(c.id for c in phoenix)


@pytest.mark.parametrize(
    ("hour", "minute", "claimed"),
    [(8, 59, False), (9, 0, True), (20, 59, True), (21, 0, False)],
)
def test_new_york_window_edges(db, org_id, hour, minute, claimed):
    with db.session() as s:
        texter = make_texter(s, org_id)
        # The contact has no zone of its own: the campaign's (New York) applies.
        campaign = make_launched_campaign(s, org_id, 1, texters=[texter], timezone="America/New_York")
        claim = request_initials(s, campaign, texter, now=at(2024, 7, 15, hour, minute, "America/New_York"))
    assert (claim.count == 1) is claimed
    if not claimed:
        assert claim.code == "outside_hours"


def test_other_organization_is_forbidden(world):
    db, campaign, _, _ = world
    with db.session() as s:
        stranger = make_texter(s, make_org(s))
        with pytest.raises(Forbidden):
            request_initials(s, campaign, stranger, now=NOON_NY)


def carried(user) -> Texter:
    return Texter(user.id, user.organization_id, user.name)


def test_request_more_as_the_click_carries_it_claims_as_request_initials(world):
    """The campaign read with the locked membership: the same batches, maximum and refusals."""
    db, campaign, texter, admin = world
    with db.session() as s:
        set_texter_max(s, admin, campaign, texter, 14)
    with db.session() as s:
        first = request_initials_for(s, carried(texter), campaign.id, now=NOON_NY)
        assert first.campaign is not None and first.campaign.id == campaign.id
        second = request_initials_for(s, carried(texter), campaign.id, now=NOON_NY)
        at_max = request_initials_for(s, carried(texter), campaign.id, now=NOON_NY)
        assert (first.result.count, second.result.count) == (10, 4)
        assert (at_max.result.count, at_max.result.code) == (0, "at_maximum")
        assert _assigned(s, texter) == set(first.result.contact_ids) | set(second.result.contact_ids)


def test_request_more_by_a_non_member_or_a_stranger_goes_the_long_way(world, org_id):
    db, campaign, _, _ = world
    with db.session() as s:
        newcomer = make_texter(s, org_id, "Nell")
        stranger = make_texter(s, make_org(s))
    with db.session() as s:
        refused = request_initials_for(s, carried(newcomer), campaign.id, now=NOON_NY)
        assert (refused.result.code, refused.campaign) == ("not_member", None)
        with pytest.raises(NotFound):
            request_initials_for(s, carried(stranger), campaign.id, now=NOON_NY)
        with pytest.raises(NotFound):
            request_initials_for(s, carried(newcomer), campaign.id + 1000, now=NOON_NY)


# --- request_replies ----------------------------------------------------------------------------


def test_request_replies_claims_unassigned_unescalated_replies(db, org_id):
    with db.session() as s:
        texter, other = make_texter(s, org_id), make_texter(s, org_id)
        campaign = make_launched_campaign(
            s, org_id, 3, texters=[texter], dynamic_replies=True, replies_batch_size=2
        )
        replies = add_contacts(s, campaign, 3, first=10, status="needs_response")
        add_contacts(s, campaign, 1, first=20, status="needs_response", escalated=True)
        add_contacts(s, campaign, 1, first=30, status="needs_response", assigned_to=other)
        add_contacts(s, campaign, 1, first=40, status="needs_response", opted_out=True)
        first = request_replies(s, campaign, texter, now=NOON_NY)
        second = request_replies(s, campaign, texter, now=NOON_NY)
        third = request_replies(s, campaign, texter, now=NOON_NY)
    assert first.contact_ids == sorted(c.id for c in replies)[:2]
    assert second.contact_ids == sorted(c.id for c in replies)[2:]
    assert third.contact_ids == [] and third.code == "nothing_left"


def test_request_replies_refused_when_dynamic_replies_off(world):
    db, campaign, texter, _ = world
    with db.session() as s:
        add_contacts(s, campaign, 1, first=100, status="needs_response")
        result = request_replies(s, campaign, texter, now=NOON_NY)
    assert result.contact_ids == [] and result.code == "dynamic_off"


# --- manual assignment and maxima ---------------------------------------------------------------


def test_manual_assignment_refused_while_dynamic_initials_is_on(world):
    db, campaign, texter, admin = world
    with pytest.raises(Refused) as info, db.session() as s:
        assign_initials(s, admin, campaign, texter, 5, now=NOON_NY)
    assert info.value.code == "dynamic_on"
    assert info.value.reason.startswith(f"dynamic assignment for initials is on in {campaign.title!r}")
    assert "turn it off" in info.value.reason and "turn it back on" in info.value.reason
    with db.read() as s:
        assert _assigned(s, texter) == set()


def test_manual_assignment_gives_n_initials_ignoring_hours_and_notifies(db, org_id):
    with db.session() as s:
        admin = make_admin(s, org_id)
        texter = make_texter(s, org_id)  # not yet a member: manual assignment adds them
        campaign = make_launched_campaign(s, org_id, 8, dynamic_initials=False)
        night = at(2024, 7, 15, 23, 0, "America/New_York")
        result = assign_initials(s, admin, campaign, texter, 5, now=night)
        assert result.count == 5 and result.reason is None
        assert result.message == f"Gave 5 initials to {texter.name} in {campaign.title}."
        rest = assign_initials(s, admin, campaign, texter, 5, now=night)
        assert rest.count == 3 and "only 3" in rest.reason
        assert rest.message == (
            f"Gave 3 initials to {texter.name} in {campaign.title} (only 3 unassigned initials were left)."
        )
        none_left = assign_initials(s, admin, campaign, texter, 1, now=night)
        assert none_left.count == 0 and none_left.code == "nothing_left"
        assert none_left.message.startswith(f"Gave no initials to {texter.name}: there are no unassigned")
        assert len(_assigned(s, texter)) == 8
        notices = s.scalars(
            select(Notice).where(Notice.user_id == texter.id, Notice.kind == "assigned")
        ).all()
        assert sorted(n.payload["initials"] for n in notices) == [3, 5]


def test_manual_assignment_checks_role_and_count(db, org_id):
    with db.session() as s:
        admin, texter = make_admin(s, org_id), make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 3, dynamic_initials=False)
        with pytest.raises(Forbidden):
            assign_initials(s, texter, campaign, texter, 1, now=NOON_NY)
        with pytest.raises(Refused, match="texts to assign must be a whole number from 1 to 1,000,000"):
            assign_initials(s, admin, campaign, texter, 0, now=NOON_NY)
        with pytest.raises(Refused, match=r"\(got 99999999999999999999999\)"):
            assign_initials(s, admin, campaign, texter, 99999999999999999999999, now=NOON_NY)
        assert _assigned(s, texter) == set()


def test_set_texter_max_checks_role_and_value(world):
    db, campaign, texter, admin = world
    with db.session() as s:
        with pytest.raises(Forbidden):
            set_texter_max(s, texter, campaign, texter, 1000)
        for bad in (-1, 2**31):
            with pytest.raises(Refused, match=r"maximum must be a whole number from 0 to 1,000,000 \(got"):
                set_texter_max(s, admin, campaign, texter, bad)
        result = set_texter_max(s, admin, campaign, texter, 0)
        assert result.own == 0
        assert availability(s, campaign, texter, now=NOON_NY).code == "at_maximum"


# --- where a claim starts ----------------------------------------------------------------------


def test_released_contacts_behind_the_last_claim_are_still_claimed(world, org_id):
    db, campaign, texter, _ = world
    with db.session() as s:
        other = make_texter(s, org_id, "Otto")
        add_texter(s, campaign, other)
        first = request_initials(s, campaign, texter, now=NOON_NY).contact_ids
        second = request_initials(s, campaign, other, now=NOON_NY).contact_ids
        assert max(first) < min(second)
    with db.session() as s:
        done_for_the_day(s, campaign, texter)  # the first ten go back, behind where claims got to
    with db.session() as s:
        third = request_initials(s, campaign, texter, now=NOON_NY).contact_ids
        fourth = request_initials(s, campaign, texter, now=NOON_NY).contact_ids
        assert request_initials(s, campaign, texter, now=NOON_NY).code == "nothing_left"
    everything = set(first) | set(second)
    assert len(third) == len(fourth) == 10
    assert set(third).isdisjoint(everything)  # the rest of the pool first...
    assert set(fourth) == set(first)  # ...then, the tail taken, the released ones from the head


def test_a_claim_short_at_the_tail_is_topped_up_from_the_head(world, org_id):
    db, campaign, texter, _ = world
    with db.session() as s:
        other = make_texter(s, org_id, "Otto")
        add_texter(s, campaign, other)
        first = request_initials(s, campaign, texter, now=NOON_NY).contact_ids
        request_initials(s, campaign, other, now=NOON_NY)
        done_for_the_day(s, campaign, texter)
        tail = request_initials(s, campaign, other, now=NOON_NY).contact_ids
        assert len(tail) == 10  # the last ten of the thirty
    with db.session() as s:
        # Only the released ten are left, all behind where the last claim ended: one claim takes them.
        topped = request_initials(s, campaign, texter, now=NOON_NY).contact_ids
    assert sorted(topped) == sorted(first)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("12", 12), (" 0 ", 0), ("none", None), ("None", None), ("off", None), (7, 7), (None, None)],
)
def test_parse_maximum_takes_a_number_or_none(typed, expected):
    assert parse_maximum(typed) == expected


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("-3", "from 0 to 1,000,000"),
        ("99999999999999999999999", "from 0 to 1,000,000"),
        ("9" * 5000, "not a maximum"),
        ("²", "not a maximum"),
        ("lots", "not a maximum"),
        (2.5, "whole"),
    ],
)
def test_parse_maximum_refuses_anything_else(typed, words):
    with pytest.raises(Refused, match=words):
        parse_maximum(typed)


def test_set_texter_max_says_what_it_set_and_none_removes_it(world):
    db, campaign, texter, admin = world
    with db.session() as s:
        campaign = s.merge(campaign)
        campaign.max_initials_per_texter = 40
        set_to = set_texter_max(s, admin, campaign, texter, "25")
        assert set_to.own == 25 and set_to.message == f"Tess's maximum in {campaign.title} is now 25."
        removed = set_texter_max(s, admin, campaign, texter, "none")
        assert removed.own is None and removed.campaign_max == 40
        assert (
            removed.message
            == f"Tess's own maximum in {campaign.title} is removed: the campaign's applies (40)."
        )
        campaign.max_initials_per_texter = None
        assert set_texter_max(s, admin, campaign, texter, None).message.endswith("applies (no limit).")
        with pytest.raises(Refused, match="not a maximum"):
            set_texter_max(s, admin, campaign, texter, "many")

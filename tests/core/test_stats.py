from __future__ import annotations

import pytest

from core.assignment import set_texter_max
from core.errors import Forbidden, NotFound, Refused
from core.stats import campaign_stats, parse_status, review, texter_counts
from storage.models import ContactTag
from tests.core.factories import (
    add_contacts,
    add_texter,
    make_admin,
    make_launched_campaign,
    make_tag,
    make_texter,
    org_admin,
)


@pytest.fixture
def progress(db, org_id):
    """Initials: 4 free, 2 assigned; 3 messaged, 2 replies, 1 convo, 1 closed, 2 opted out, 1 escalated."""
    with db.session() as s:
        admin = make_admin(s, org_id)
        tess, theo = make_texter(s, org_id, "Tess"), make_texter(s, org_id, "theo")
        campaign = make_launched_campaign(s, org_id, 4, texters=[tess, theo], max_initials_per_texter=50)
        add_contacts(s, campaign, 2, first=10, assigned_to=tess)
        add_contacts(s, campaign, 3, first=20, status="messaged", assigned_to=tess)
        replies = add_contacts(s, campaign, 2, first=30, status="needs_response", assigned_to=theo)
        add_contacts(s, campaign, 1, first=40, status="convo", assigned_to=theo)
        add_contacts(s, campaign, 1, first=50, status="closed", assigned_to=theo)
        add_contacts(s, campaign, 2, first=60, status="closed", opted_out=True)
        add_contacts(s, campaign, 1, first=70, status="needs_response", escalated=True)
        tag = make_tag(s, org_id, "spanish")
        s.add(ContactTag(contact_id=replies[0].id, tag_id=tag.id))
        set_texter_max(s, admin, campaign, theo, 7)
    return db, campaign, admin, tess, theo


def test_campaign_stats_counts_and_sent_percent(progress):
    db, campaign, *_ = progress
    with db.read() as s:
        stats = campaign_stats(s, campaign, actor=org_admin(s, campaign.organization_id))
    assert stats.contacts == 16
    assert (stats.needs_message, stats.needs_message_unassigned) == (6, 4)
    assert (stats.messaged, stats.needs_response, stats.convo, stats.closed) == (3, 3, 1, 1)
    assert (stats.opted_out, stats.escalated) == (2, 1)
    # 14 textable (not opted out), 8 of them past needs_message.
    assert stats.sent_percent == round(100 * 8 / 14, 1)


def test_empty_campaign_is_complete(db, org_id):
    with db.session() as s:
        campaign = make_launched_campaign(s, org_id, 0)
        stats = campaign_stats(s, campaign, actor=org_admin(s, campaign.organization_id))
    assert stats.contacts == 0 and stats.sent_percent == 100.0


def test_texter_counts(progress, org_id):
    db, campaign, _, tess, theo = progress
    with db.session() as s:
        idle = make_texter(s, org_id, "Ida")
        add_texter(s, campaign, idle)
        rows = texter_counts(s, campaign, actor=org_admin(s, campaign.organization_id))
    assert [
        (r.name, r.unsent_initials, r.unhandled_replies, r.total_assigned, r.max_initials) for r in rows
    ] == [
        ("Ida", 0, 0, 0, 50),
        ("Tess", 2, 0, 5, 50),
        ("theo", 0, 2, 4, 7),
    ]


def test_review_filters(progress):
    db, campaign, admin, tess, theo = progress
    with db.read() as s:
        first_message = review(s, admin, campaign, status="needs-first-message")
        assert len(first_message) == 6 and {r.status for r in first_message} == {"needs_message"}
        mine = review(s, admin, campaign, status="needs_message", texter=tess)
        assert len(mine) == 2 and {r.assigned_name for r in mine} == {"Tess"}
        tagged = review(s, admin, campaign, tag="spanish")
        assert [(r.status, r.assigned_user_id) for r in tagged] == [("needs_response", theo.id)]
        assert tagged[0].cell.startswith("+1")  # admins see whole numbers
        page = review(s, admin, campaign, limit=5, offset=5)
        everything = review(s, admin, campaign, limit=100)
        assert [r.contact_id for r in page] == [r.contact_id for r in everything[5:10]]
        assert len(everything) == 16


def test_review_refusals(progress):
    db, campaign, admin, tess, _ = progress
    with db.read() as s:
        with pytest.raises(Forbidden):
            review(s, tess, campaign)
        with pytest.raises(Refused, match="needs-first-message, messaged"):
            review(s, admin, campaign, status="sent")
        with pytest.raises(NotFound, match="no tag named"):
            review(s, admin, campaign, tag="nope")
        with pytest.raises(Refused, match="limit"):
            review(s, admin, campaign, limit=0)


@pytest.mark.parametrize(
    ("typed", "status"),
    [
        ("needs-first-message", "needs_message"),
        ("Needs First Message", "needs_message"),
        ("needs_message", "needs_message"),
        ("needs-response", "needs_response"),
        ("convo", "convo"),
    ],
)
def test_parse_status(typed, status):
    assert parse_status(typed) == status

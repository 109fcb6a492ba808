"""The admin dashboard's data: live campaigns with progress, and what waits on an admin (escalated
conversations, unclaimed replies, sends in ``unknown`` state), counted with the first few of each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.dashboard import admin_dashboard
from core.errors import Forbidden
from core.stats import campaign_stats
from storage.models import Message, OptOut
from tests.core.factories import (
    add_contacts,
    at,
    make_admin,
    make_campaign,
    make_launched_campaign,
    make_org,
    make_team,
    make_texter,
)

NOON = at(2024, 7, 15, 12, 0, "America/New_York")


@pytest.fixture
def busy(db, org_id):
    with db.session() as s:
        admin = make_admin(s, org_id, "Ada")
        tess = make_texter(s, org_id, "Tess")
        team = make_team(s, org_id, "Spanish")
        live = make_launched_campaign(s, org_id, 4, title="Live")
        make_campaign(s, org_id, title="Draft", status="draft")
        make_campaign(s, org_id, title="Old", status="archived")
        add_contacts(s, live, 2, first=10, status="messaged", assigned_to=tess)
        add_contacts(s, live, 2, first=20, status="closed", opted_out=True)
        # Replies nobody holds: three waiting since 11:00, 11:30 and 11:45; one on the opt-out list.
        for i, minutes in enumerate((60, 30, 15)):
            add_contacts(
                s,
                live,
                1,
                first=30 + i,
                status="needs_response",
                last_inbound_at=NOON - timedelta(minutes=minutes),
            )
        [listed] = add_contacts(s, live, 1, first=40, status="needs_response", last_inbound_at=NOON)
        s.add(OptOut(organization_id=org_id, cell=listed.cell, source="keyword"))
        # Held by Tess: not unclaimed.
        add_contacts(s, live, 1, first=50, status="needs_response", assigned_to=tess, last_inbound_at=NOON)
        # Escalated: to the admins and to a team, waiting; one escalated but closed is not waiting.
        add_contacts(s, live, 1, first=60, status="needs_response", escalated=True, last_inbound_at=NOON)
        add_contacts(
            s,
            live,
            1,
            first=61,
            status="needs_response",
            escalated=True,
            escalated_team_id=team.id,
            last_inbound_at=NOON - timedelta(minutes=5),
        )
        add_contacts(s, live, 1, first=62, status="closed", escalated=True)
        [texted] = add_contacts(s, live, 1, first=70, status="messaged", assigned_to=tess)
        for status in ("unknown", "unknown", "sent"):
            s.add(
                Message(
                    contact_id=texted.id,
                    campaign_id=live.id,
                    direction="out",
                    body=f"hello ({status})",
                    cell=texted.cell,
                    status=status,
                    user_id=tess.id,
                    error_message="the sender stopped mid-send" if status == "unknown" else None,
                )
            )
    return db, admin, tess, live


def test_the_dashboard_counts_and_lists_what_waits_on_an_admin(busy):
    db, admin, _tess, live = busy
    with db.read() as s:
        board = admin_dashboard(s, admin, items=2)
    assert [(c.title, c.status, c.kind) for c in board.campaigns] == [
        ("Live", "launched", "campaign"),
        ("Draft", "draft", "campaign"),
    ]
    live_stats = board.campaigns[0].stats
    assert (live_stats.contacts, live_stats.opted_out, live_stats.textable) == (17, 2, 15)
    assert board.campaigns[1].stats.contacts == 0 and board.campaigns[1].stats.sent_percent == 100.0
    assert board.escalated_count == 2
    assert [(w.contact_name, w.team_name) for w in board.escalated] == [
        ("First61 Last61", "Spanish"),
        ("First60 Last60", None),
    ]
    assert board.unassigned_replies_count == 3
    assert [w.contact_name for w in board.unassigned_replies] == ["First30 Last30", "First31 Last31"]
    first = board.unassigned_replies[0]
    assert first.cell.startswith("+1") and len(first.cell) == 12  # whole: an admin's view
    assert first.waiting_since == NOON - timedelta(minutes=60) and first.campaign_title == "Live"
    assert board.unknown_sends_count == 2
    assert [(u.body, u.texter_name, u.reason) for u in board.unknown_sends] == [
        ("hello (unknown)", "Tess", "the sender stopped mid-send"),
        ("hello (unknown)", "Tess", "the sender stopped mid-send"),
    ]
    assert board.needs_attention


def test_the_dashboard_is_the_admins_own_organization_only(busy):
    db, _admin, tess, _live = busy
    with db.session() as s:
        stranger = make_admin(s, make_org(s), "Stranger")
        with pytest.raises(Forbidden):
            admin_dashboard(s, tess)
        board = admin_dashboard(s, stranger)
    assert board.campaigns == [] and not board.needs_attention


def test_stats_say_what_the_percentage_is_over(busy):
    db, admin, _tess, live = busy
    with db.read() as s:
        stats = campaign_stats(s, live, actor=admin)
    # 17 contacts, 2 opted out: 15 textable; texted = the 15 minus the 4 still needing a first message.
    assert (stats.sent, stats.textable, stats.opted_out) == (11, 15, 2)
    assert stats.sent_percent == round(100 * 11 / 15, 1)
    assert stats.percent_basis == "11 of 15 textable contacts texted; 2 opted out, counted apart"

"""Reply reminders: one notice per texter and campaign for replies waiting N minutes on them, timed from the
contact's last text, not repeated within N minutes, none once answered or released; the setting itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from core.campaign_yaml import CampaignYamlError, apply_campaign_yaml, export_campaign_yaml
from core.campaigns import update_assignment_settings
from core.errors import Refused
from core.reminders import REMINDER_JOB, Reminder, send_reply_reminders
from storage.locks import lock_key
from storage.models import Campaign, Contact, Notice
from tests.core.factories import add_contacts, at, make_launched_campaign, make_texter, org_admin

NOON = at(2024, 7, 15, 12, 0, "America/New_York")


def _notices(s) -> list[Notice]:
    return list(s.scalars(select(Notice).where(Notice.kind == "reply_reminder").order_by(Notice.id)))


@pytest.fixture
def desk(db, org_id):
    """Tess holds 2 replies waiting 12 minutes and 1 waiting 5 minutes, in a campaign reminding at 10."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        campaign = make_launched_campaign(s, org_id, 0, title="GOTV", reply_reminder_minutes=10)
        held = {"status": "needs_response", "assigned_to": tess}
        # A later row update (a tag, a send attempt) does not restart the clock: last_message_at is newer.
        old = add_contacts(
            s, campaign, 2, **held, last_inbound_at=NOON - timedelta(minutes=12), last_message_at=NOON
        )
        new = add_contacts(s, campaign, 1, first=10, **held, last_inbound_at=NOON - timedelta(minutes=5))
    return db, campaign, tess, [c.id for c in old], new[0].id


def test_one_notice_per_texter_and_campaign_counts_replies_waiting_n_minutes(desk):
    db, campaign, tess, _old, _new = desk
    with db.session() as s:
        assert send_reply_reminders(s, NOON) == [Reminder(tess.id, campaign.id, 2)]
    with db.read() as s:
        [notice] = _notices(s)
    assert (notice.user_id, notice.campaign_id, notice.contact_id, notice.platform) == (
        tess.id,
        campaign.id,
        None,
        "slack",
    )
    assert notice.payload == {
        "campaign_id": campaign.id,
        "campaign_title": "GOTV",
        "count": 2,
        "minutes": 10,
        "oldest_at": (NOON - timedelta(minutes=12)).isoformat(),
    }


def test_not_repeated_within_n_minutes_then_again_with_the_count_then(desk):
    db, campaign, tess, _old, _new = desk
    with db.session() as s:
        assert len(send_reply_reminders(s, NOON)) == 1
    for minutes in (0, 1, 9):
        with db.session() as s:
            assert send_reply_reminders(s, NOON + timedelta(minutes=minutes)) == []
    with db.session() as s:
        # Ten minutes on, all three have waited 10 minutes or more.
        assert send_reply_reminders(s, NOON + timedelta(minutes=10)) == [Reminder(tess.id, campaign.id, 3)]
    with db.read() as s:
        assert [n.payload["count"] for n in _notices(s)] == [2, 3]


def test_none_once_answered_released_escalated_or_opted_out(desk):
    db, _campaign, _tess, old, new = desk
    with db.session() as s:
        s.get(Contact, old[0]).status = "convo"  # answered
        s.get(Contact, old[1]).assigned_user_id = None  # released
        s.get(Contact, new).escalated = True
    with db.session() as s:
        assert send_reply_reminders(s, NOON + timedelta(minutes=30)) == []
    with db.session() as s:
        s.get(Contact, old[1]).assigned_user_id = _tess_id(s, old[0])
        s.get(Contact, old[1]).opted_out = True
        assert send_reply_reminders(s, NOON + timedelta(minutes=30)) == []


def _tess_id(s, contact_id: int) -> int:
    assigned = s.get(Contact, contact_id).assigned_user_id
    assert assigned is not None
    return assigned


def test_each_texter_and_each_campaign_gets_its_own(desk, org_id):
    db, campaign, tess, _old, _new = desk
    with db.session() as s:
        theo = make_texter(s, org_id, "Theo")
        other = make_launched_campaign(s, org_id, 0, title="Other", reply_reminder_minutes=20)
        wait = {"status": "needs_response", "last_inbound_at": NOON - timedelta(minutes=25)}
        add_contacts(s, campaign, 1, first=50, assigned_to=theo, **wait)
        add_contacts(s, other, 1, first=60, assigned_to=tess, **wait)
        add_contacts(s, other, 1, first=70, assigned_to=theo, **wait)
    with db.session() as s:
        sent = send_reply_reminders(s, NOON)
    assert sorted(sent, key=lambda r: (r.campaign_id, r.user_id)) == [
        Reminder(tess.id, campaign.id, 2),
        Reminder(theo.id, campaign.id, 1),
        Reminder(tess.id, other.id, 1),
        Reminder(theo.id, other.id, 1),
    ]


@pytest.mark.parametrize(("settings", "status"), [({"reply_reminder_minutes": 0}, "launched"), ({}, "draft")])
def test_none_when_off_or_not_launched(db, org_id, settings, status):
    with db.session() as s:
        tess = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, **settings)
        campaign.status = status
        add_contacts(
            s,
            campaign,
            1,
            status="needs_response",
            assigned_to=tess,
            last_inbound_at=NOON - timedelta(hours=2),
        )
    with db.session() as s:
        assert send_reply_reminders(s, NOON) == []


def test_the_job_yields_to_the_lock_holder(desk):
    db, campaign, tess, _old, _new = desk
    if not db.is_postgres:
        with db.session() as s:  # SQLite: one writer at a time already, the guard is always granted
            assert len(send_reply_reminders(s, NOON)) == 1
        return
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(REMINDER_JOB)})
        try:
            with db.session() as s:
                assert send_reply_reminders(s, NOON) == []
        finally:
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(REMINDER_JOB)})
            other.commit()
    with db.session() as s:
        assert send_reply_reminders(s, NOON) == [Reminder(tess.id, campaign.id, 2)]


# --- the setting ------------------------------------------------------------------------------------------


def test_the_reminder_must_come_before_the_release(db, org_id):
    with db.session() as s:
        campaign = make_launched_campaign(s, org_id, 0)
        admin = org_admin(s, org_id)
        assert campaign.reply_reminder_minutes == 10
        update_assignment_settings(s, campaign, actor=admin, release_unhandled_after_minutes=30)
        with pytest.raises(Refused, match=r"reply_reminder_minutes \(30\) must be less than .* \(30\)"):
            update_assignment_settings(s, campaign, actor=admin, reply_reminder_minutes=30)
        with pytest.raises(Refused, match=r"\(10\) must be less than release_unhandled_after_minutes \(5\)"):
            update_assignment_settings(s, campaign, actor=admin, release_unhandled_after_minutes=5)
        with pytest.raises(Refused, match="or 0 for off"):
            update_assignment_settings(s, campaign, actor=admin, reply_reminder_minutes=-1)
        # Off, any release goes; with no release, any reminder goes.
        update_assignment_settings(
            s, campaign, actor=admin, reply_reminder_minutes=0, release_unhandled_after_minutes=5
        )
        update_assignment_settings(s, campaign, actor=admin, release_unhandled_after_minutes=None)
        update_assignment_settings(s, campaign, actor=admin, reply_reminder_minutes=45)
        assert (campaign.reply_reminder_minutes, campaign.release_unhandled_after_minutes) == (45, None)


YAML = """\
title: Reminded
assignment:
  release_unhandled_after_minutes: 60
  reply_reminder_minutes: {reminder}
script:
  initial: Hi {{firstName}}
"""


def test_yaml_takes_the_setting_and_refuses_a_reminder_after_the_release(db, org_id):
    with db.session() as s:
        campaign, _ = apply_campaign_yaml(s, org_id, YAML.format(reminder=15), actor=org_admin(s, org_id))
        assert campaign.reply_reminder_minutes == 15
        assert "reply_reminder_minutes: 15" in export_campaign_yaml(s, campaign)
    with pytest.raises(CampaignYamlError) as info:
        with db.session() as s:
            apply_campaign_yaml(s, org_id, YAML.format(reminder=90), actor=org_admin(s, org_id))
    [error] = info.value.errors
    assert error.startswith("FILE line 4, assignment.reply_reminder_minutes: reply_reminder_minutes (90)")
    with db.read() as s:
        assert (
            s.scalars(select(Campaign.reply_reminder_minutes).where(Campaign.title == "Reminded")).one() == 15
        )

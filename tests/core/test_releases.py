from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from core.errors import Forbidden, Refused
from core.releases import (
    RELEASE_JOB,
    done_for_now,
    done_for_the_day,
    release_texter_initials,
    release_unhandled_replies,
    unassign_by_filter,
)
from storage.locks import lock_key
from storage.models import Contact, ContactTag, Notice
from tests.core.factories import (
    add_contacts,
    at,
    make_admin,
    make_launched_campaign,
    make_tag,
    make_texter,
)

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")


def _owner(session, contacts) -> list[int | None]:
    return [session.get(Contact, c.id).assigned_user_id for c in contacts]


def _released_notices(session, user) -> list[Notice]:
    return list(
        session.scalars(
            select(Notice).where(Notice.user_id == user.id, Notice.kind == "released").order_by(Notice.id)
        )
    )


@pytest.fixture
def desk(db, org_id):
    """A texter holding 3 unsent initials, 2 unhandled replies, 1 messaged and 1 convo in a campaign."""
    with db.session() as s:
        admin = make_admin(s, org_id, "Ada")
        texter = make_texter(s, org_id, "Tess")
        campaign = make_launched_campaign(s, org_id, 4, texters=[texter])
        rows = {
            "needs_message": add_contacts(s, campaign, 3, first=100, assigned_to=texter),
            "needs_response": add_contacts(
                s, campaign, 2, first=200, status="needs_response", assigned_to=texter
            ),
            "messaged": add_contacts(s, campaign, 1, first=300, status="messaged", assigned_to=texter),
            "convo": add_contacts(s, campaign, 1, first=400, status="convo", assigned_to=texter),
        }
    return db, campaign, texter, admin, rows


def test_done_for_now_releases_nothing_and_says_what_remains(desk):
    db, campaign, texter, _, rows = desk
    with db.session() as s:
        remaining = done_for_now(s, campaign, texter, now=NOON_NY)
        assert (remaining.unsent_initials, remaining.unhandled_replies) == (3, 2)
        assert remaining.availability.can_request
        assert all(o == texter.id for group in rows.values() for o in _owner(s, group))


def test_done_for_the_day_releases_unsent_initials_and_unhandled_replies(desk):
    db, campaign, texter, _, rows = desk
    with db.session() as s:
        counts = done_for_the_day(s, campaign, texter)
        assert (counts.initials, counts.replies, counts.total) == (3, 2, 5)
        assert _owner(s, rows["needs_message"] + rows["needs_response"]) == [None] * 5
        assert _owner(s, rows["messaged"] + rows["convo"]) == [texter.id] * 2
        assert done_for_the_day(s, campaign, texter).total == 0


def test_done_for_the_day_everywhere_or_in_one_campaign(desk, org_id):
    db, campaign, texter, _, rows = desk
    with db.session() as s:
        elsewhere = make_launched_campaign(s, org_id, 0)
        theirs = add_contacts(s, elsewhere, 2, assigned_to=texter)
        assert done_for_the_day(s, elsewhere, texter).initials == 2
        add_contacts(s, elsewhere, 1, first=50, status="needs_response", assigned_to=texter)
        counts = done_for_the_day(s, None, texter)
        assert (counts.initials, counts.replies) == (3, 3)
        assert _owner(s, theirs + rows["needs_message"]) == [None] * 5


def test_admin_trash_can_releases_only_unsent_initials_and_notifies(desk):
    db, campaign, texter, admin, rows = desk
    with db.session() as s:
        with pytest.raises(Forbidden):
            release_texter_initials(s, texter, campaign, texter)
        assert release_texter_initials(s, admin, campaign, texter) == 3
        assert _owner(s, rows["needs_message"]) == [None] * 3
        assert _owner(s, rows["needs_response"]) == [texter.id] * 2
        (notice,) = _released_notices(s, texter)
        assert notice.payload["initials"] == 3 and notice.payload["reason"] == "admin"
        assert notice.campaign_id == campaign.id and notice.platform == "slack"


def test_unassign_by_filter_status_texter_and_tag(desk, org_id):
    db, campaign, texter, admin, rows = desk
    with db.session() as s:
        other = make_texter(s, org_id)
        others = add_contacts(s, campaign, 2, first=500, assigned_to=other)
        tag = make_tag(s, org_id, "spanish")
        s.add(ContactTag(contact_id=rows["convo"][0].id, tag_id=tag.id))
        s.flush()
        with pytest.raises(Forbidden):
            unassign_by_filter(s, texter, campaign, status="needs-first-message")
        with pytest.raises(Refused, match="unknown status"):
            unassign_by_filter(s, admin, campaign, status="sent-ish")
        assert unassign_by_filter(s, admin, campaign, status="needs-first-message", texter=texter) == 3
        assert _owner(s, others) == [other.id] * 2
        assert unassign_by_filter(s, admin, campaign, tag="spanish") == 1
        assert _owner(s, rows["convo"]) == [None]
        assert unassign_by_filter(s, admin, campaign) == 2 + 2 + 1  # everything still assigned
        assert [n.payload["total"] for n in _released_notices(s, texter)] == [3, 1, 3]
        assert [n.payload["reason"] for n in _released_notices(s, other)] == ["review"]


# --- Release Unhandled Replies ------------------------------------------------------------------


@pytest.fixture
def inbox(db, org_id):
    """Replies in a campaign that releases after 30 minutes, timed against NOON_NY."""
    with db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, release_unhandled_after_minutes=30)
        stale = add_contacts(
            s,
            campaign,
            2,
            status="needs_response",
            assigned_to=texter,
            last_inbound_at=NOON_NY - timedelta(minutes=31),
            # Rows touched since (a send attempt, a tag) are still timed from the last inbound text.
            last_message_at=NOON_NY - timedelta(minutes=1),
        )
        fresh = add_contacts(
            s,
            campaign,
            1,
            first=10,
            status="needs_response",
            assigned_to=texter,
            last_inbound_at=NOON_NY - timedelta(minutes=29),
        )
        escalated = add_contacts(
            s,
            campaign,
            1,
            first=20,
            status="needs_response",
            escalated=True,
            assigned_to=texter,
            last_inbound_at=NOON_NY - timedelta(hours=5),
        )
        answered = add_contacts(
            s,
            campaign,
            1,
            first=30,
            status="convo",
            assigned_to=texter,
            last_inbound_at=NOON_NY - timedelta(hours=5),
        )
        off = make_launched_campaign(s, org_id, 0)  # no release setting
        kept = add_contacts(
            s,
            off,
            1,
            status="needs_response",
            assigned_to=texter,
            last_inbound_at=NOON_NY - timedelta(hours=5),
        )
    return db, texter, campaign, {"stale": stale, "fresh": fresh, "kept": escalated + answered + kept}


def test_release_unhandled_replies_timed_from_last_inbound(inbox):
    db, texter, campaign, rows = inbox
    with db.session() as s:
        # Touch the stale rows now: an update must not restart their clock.
        for c in rows["stale"]:
            s.get(Contact, c.id).assigned_at = NOON_NY
    with db.session() as s:
        assert release_unhandled_replies(s, now=NOON_NY) == 2
    with db.read() as s:
        assert _owner(s, rows["stale"]) == [None, None]
        assert _owner(s, rows["fresh"] + rows["kept"]) == [texter.id] * 4
        (notice,) = _released_notices(s, texter)
        assert notice.payload["replies"] == 2 and notice.payload["reason"] == "unhandled"
        assert notice.campaign_id == campaign.id


def test_release_unhandled_replies_is_idempotent_and_catches_up(inbox):
    db, texter, _, rows = inbox
    with db.session() as s:
        assert release_unhandled_replies(s, now=NOON_NY) == 2
    with db.session() as s:
        assert release_unhandled_replies(s, now=NOON_NY) == 0
    with db.session() as s:
        assert release_unhandled_replies(s, now=NOON_NY + timedelta(minutes=2)) == 1
    with db.read() as s:
        assert _owner(s, rows["fresh"]) == [None]
        assert len(_released_notices(s, texter)) == 2


def test_release_unhandled_replies_skips_draft_campaigns(db, org_id):
    with db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0, release_unhandled_after_minutes=5)
        add_contacts(
            s,
            campaign,
            1,
            status="needs_response",
            assigned_to=texter,
            last_inbound_at=NOON_NY - timedelta(hours=1),
        )
        campaign.status = "archived"
    with db.session() as s:
        assert release_unhandled_replies(s, now=NOON_NY) == 0


def test_release_unhandled_replies_yields_to_the_lock_holder(inbox):
    db, _, _, rows = inbox
    if not db.is_postgres:
        with db.session() as s:  # SQLite: one writer at a time already, the guard is always granted
            assert release_unhandled_replies(s, now=NOON_NY) == 2
        return
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(RELEASE_JOB)})
        try:
            with db.session() as s:
                assert release_unhandled_replies(s, now=NOON_NY) == 0
        finally:
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(RELEASE_JOB)})
            other.commit()
    with db.session() as s:
        assert release_unhandled_replies(s, now=NOON_NY) == 2

"""Ad-hoc texts (seed 001): a number with no campaign task, the three reply routes, and complete."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.adhoc import complete, send_adhoc
from core.assignment import request_replies
from core.conversations import conversation_view, send_reply
from core.errors import Forbidden, Refused
from core.inbound import receive_inbound
from core.optouts import opt_out
from storage.models import Campaign, Contact, Message, Notice, User
from tests.core.factories import add_contacts, at, make_launched_campaign, make_texter, org_admin

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
LATER = at(2024, 7, 15, 12, 10, "America/New_York")
NUMBER = "(212) 555-0142"
CELL = "+12125550142"


@pytest.fixture
def people(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        otto = make_texter(s, org_id, "Otto")
    return db, tess, otto


def _send(db, user_id, route, number=NUMBER, body="Hi, it's Tess from the campaign", now=NOON_NY):
    with db.session() as s:
        return send_adhoc(s, s.get(User, user_id), number, body, route, now=now)


def _reply_in(db, sid, body="Sure, call me"):
    with db.session() as s:
        return receive_inbound(s, from_cell=CELL, to="+12125550100", body=body, provider_sid=sid, now=LATER)


def _reply_notices(s, user_id):
    return s.scalar(select(func.count(Notice.id)).where(Notice.kind == "reply", Notice.user_id == user_id))


def test_open_chat_now_assigns_the_conversation(people, org_id):
    db, tess, _otto = people
    result = _send(db, tess.id, "open")
    assert result.assigned and result.route == "open" and result.masked_cell.endswith("0142")
    with db.read() as s:
        campaign = s.get(Campaign, result.campaign_id)
        assert (campaign.kind, campaign.status, campaign.organization_id) == ("adhoc", "launched", org_id)
        contact = s.get(Contact, result.contact_id)
        assert (contact.cell, contact.status, contact.assigned_user_id) == (CELL, "messaged", tess.id)
        message = s.get(Message, result.message_id)
        assert (message.status, message.body, message.user_id) == (
            "queued",
            "Hi, it's Tess from the campaign",
            tess.id,
        )
        view = conversation_view(s, s.get(User, tess.id), result.contact_id)
        assert view.question is None and [m.direction for m in view.messages] == ["out"]
    reply = _reply_in(db, "SMa1")
    assert reply.contact_id == result.contact_id
    with db.read() as s:
        contact = s.get(Contact, result.contact_id)
        assert (contact.status, contact.assigned_user_id) == ("needs_response", tess.id)
        assert _reply_notices(s, tess.id) == 1
    # Back and forth in the chat.
    with db.session() as s:
        seen = conversation_view(s, s.get(User, tess.id), result.contact_id).last_message_id
        sent = send_reply(
            s,
            s.get(User, tess.id),
            result.contact_id,
            "Great!",
            "needs_response",
            LATER,
            last_seen_message_id=seen,
        )
    assert sent.sent


def test_route_reply_to_me_assigns_when_the_reply_arrives(people):
    db, tess, _otto = people
    result = _send(db, tess.id, "me")
    with db.read() as s:
        assert s.get(Contact, result.contact_id).assigned_user_id is None
    _reply_in(db, "SMm1")
    with db.read() as s:
        contact = s.get(Contact, result.contact_id)
        assert (contact.status, contact.assigned_user_id) == ("needs_response", tess.id)
        assert _reply_notices(s, tess.id) == 1


def test_route_reply_to_anyone_waits_in_the_pool(people):
    db, tess, otto = people
    result = _send(db, tess.id, "anyone")
    _reply_in(db, "SMy1")
    with db.session() as s:
        contact = s.get(Contact, result.contact_id)
        assert (contact.status, contact.assigned_user_id) == ("needs_response", None)
        assert s.scalar(select(func.count(Notice.id))) == 0
        from core.assignment import ensure_member

        campaign = s.get(Campaign, result.campaign_id)
        ensure_member(s, campaign, s.get(User, otto.id))
        claimed = request_replies(s, campaign, s.get(User, otto.id), now=LATER)
    assert claimed.contact_ids == [result.contact_id]


def test_refusals_write_nothing(people, org_id):
    db, tess, _otto = people
    with pytest.raises(Refused, match="not a valid phone number"):
        _send(db, tess.id, "open", number="555-01")
    with pytest.raises(Refused, match="unknown route"):
        _send(db, tess.id, "later")
    with pytest.raises(Refused, match="empty"):
        _send(db, tess.id, "open", body="  ")
    with pytest.raises(Refused, match="outside texting hours"):
        # 12:00 in New York is 06:00 in Honolulu, the number's zone by its area code.
        _send(db, tess.id, "open", number="+18085550100")
    with db.session() as s:
        opt_out(s, org_id, "+13125550100", source="keyword")
    with pytest.raises(Refused, match="opted out"):
        _send(db, tess.id, "open", number="+13125550100")
    with db.read() as s:
        assert s.scalar(select(func.count(Message.id))) == 0
        assert s.scalar(select(func.count(Contact.id))) == 0


def test_someone_elses_open_chat_is_refused_until_completed(people):
    db, tess, otto = people
    first = _send(db, tess.id, "open")
    with pytest.raises(Refused, match="Tess has an open conversation"):
        _send(db, otto.id, "open")
    with db.session() as s, pytest.raises(Forbidden):
        complete(s, s.get(User, otto.id), first.contact_id)
    with db.session() as s:
        complete(s, s.get(User, tess.id), first.contact_id)
    with db.read() as s:
        contact = s.get(Contact, first.contact_id)
        assert (contact.status, contact.assigned_user_id) == ("closed", None)
    second = _send(db, otto.id, "open", body="Hi, Otto here")
    assert second.contact_id == first.contact_id


def test_a_reply_after_complete_goes_to_the_pool(people):
    db, tess, _otto = people
    result = _send(db, tess.id, "open")
    with db.session() as s:
        complete(s, s.get(User, tess.id), result.contact_id)
    _reply_in(db, "SMc1", "one more thing")
    with db.read() as s:
        contact = s.get(Contact, result.contact_id)
        assert (contact.status, contact.assigned_user_id) == ("needs_response", None)


def test_complete_is_only_for_adhoc_chats(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 0)
        [contact] = add_contacts(s, campaign, 1, status="convo", assigned_to=tess)
    with db.session() as s, pytest.raises(Refused, match="only an ad-hoc chat"):
        complete(s, s.get(User, tess.id), contact.id)


# --- replies to anyone reach a place people see (the ad-hoc campaign, listed and joinable) ---------------


def _admin_notices(s, admin_id):
    return list(
        s.scalars(
            select(Notice)
            .where(Notice.user_id == admin_id, Notice.kind == "adhoc_unclaimed")
            .order_by(Notice.id)
        )
    )


def test_a_reply_to_anyone_is_listed_joinable_claimable_and_admins_are_told_once(people, org_id):
    from core.campaigns import get_campaign, list_campaigns
    from core.joining import create_join_token, join
    from tests.core.factories import make_admin

    db, tess, otto = people
    with db.session() as s:
        ada = make_admin(s, org_id, "Ada")
    result = _send(db, tess.id, "anyone")
    first = _reply_in(db, "SMa1")
    assert (first.campaign_title, first.campaign_kind, first.unclaimed) == ("ad-hoc texts", "adhoc", True)
    _reply_in(db, "SMa2", "Hello? Anyone?")  # still waiting: the admins are not told twice
    with db.session() as s:
        [notice] = _admin_notices(s, ada.id)
        assert notice.contact_id == result.contact_id and notice.campaign_id == result.campaign_id
        assert notice.payload["campaign_title"] == "ad-hoc texts"
        assert notice.payload["masked_cell"].endswith("0142") and notice.payload["body"] == "Sure, call me"
        admin = s.get(User, ada.id)
        listed = list_campaigns(s, org_id, actor=admin)
        assert [(c.campaign.title, c.by_status) for c in listed] == [("ad-hoc texts", {"needs_response": 1})]
        adhoc = get_campaign(s, org_id, "ad-hoc texts")
        assert adhoc.id == result.campaign_id
        with pytest.raises(Refused, match="post a replies link instead"):
            create_join_token(s, admin, adhoc, "initials")
        token = create_join_token(s, admin, adhoc, "replies").token
        assert join(s, token, s.get(User, otto.id)).campaign_title == "ad-hoc texts"
        claimed = request_replies(s, adhoc, s.get(User, otto.id), now=LATER)
        assert claimed.contact_ids == [result.contact_id]
    # Once claimed, a new text goes to its holder and the admins hear nothing more.
    third = _reply_in(db, "SMa3", "Thanks")
    assert not third.unclaimed
    with db.read() as s:
        assert len(_admin_notices(s, ada.id)) == 1
        assert _reply_notices(s, otto.id) == 1


def test_a_reply_routed_to_me_tells_no_admin(people, org_id):
    from tests.core.factories import make_admin

    db, tess, _otto = people
    with db.session() as s:
        ada = make_admin(s, org_id, "Ada")
    _send(db, tess.id, "me")
    assert not _reply_in(db, "SMme1").unclaimed
    with db.read() as s:
        assert _admin_notices(s, ada.id) == []


def test_a_text_from_an_unknown_number_tells_the_admins_where_it_waits(db, org_id):
    from tests.core.factories import make_admin

    with db.session() as s:
        ada = make_admin(s, org_id, "Ada")
        result = receive_inbound(
            s, from_cell="+13125550177", to="+1", body="Who is this?", provider_sid="SMnew"
        )
    assert (result.campaign_title, result.unclaimed) == ("ad-hoc texts", True)
    with db.read() as s:
        [notice] = _admin_notices(s, ada.id)
        assert notice.payload["body"] == "Who is this?"
    with db.session() as s:  # a webhook retry says the same, and tells no one again
        again = receive_inbound(
            s, from_cell="+13125550177", to="+1", body="Who is this?", provider_sid="SMnew"
        )
    assert not again.stored and (again.campaign_title, again.unclaimed) == ("ad-hoc texts", True)
    with db.read() as s:
        assert len(_admin_notices(s, ada.id)) == 1


def test_no_campaign_may_take_the_adhoc_title(db, org_id):
    from core.campaigns import create_campaign

    with pytest.raises(Refused, match="is the title of the organization's ad-hoc texts"):
        with db.session() as s:
            create_campaign(s, org_id, actor=org_admin(s, org_id), title="Ad-hoc Texts")

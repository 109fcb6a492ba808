"""The 1,600-character SMS body limit, checked by core on every send: initials, replies, ad-hoc texts, a
texter's goodbye with an opt-out, and the outbox rows themselves."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import conversations as conv
from core.adhoc import send_adhoc
from core.errors import Refused
from core.inbound import receive_inbound
from core.messages import MAX_SMS_BODY, check_sms_body, queue_outbound
from core.optouts import is_opted_out
from core.sending import send_initial
from storage.models import Campaign, Contact, Message, Organization, User
from tests.core.factories import add_contacts, add_texter, at, make_campaign, make_script, make_texter

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")


def _outbound(s) -> int:
    return s.scalar(select(func.count()).select_from(Message).where(Message.direction == "out"))


def test_the_limit_names_itself_and_the_length():
    assert check_sms_body("x" * MAX_SMS_BODY) == "x" * 1600
    with pytest.raises(Refused) as info:
        check_sms_body("x" * 1734, "the reply")
    assert info.value.code == "too_long"
    assert info.value.reason == (
        "the reply is 1,734 characters long and an SMS carries at most 1,600: shorten it by 134"
    )


@pytest.fixture
def replying(db, org_id):
    """Tess texted one contact, who replied: the conversation needs a response."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        campaign = make_campaign(s, org_id)
        make_script(s, campaign)
        add_texter(s, campaign, tess)
        [contact] = add_contacts(s, campaign, 1, assigned_to=tess)
        assert send_initial(s, tess, contact.id, now=NOON_NY).sent
        receive_inbound(s, from_cell=contact.cell, to="+1", body="who?", provider_sid="SMlimit", now=NOON_NY)
    return db, tess, contact.id


def test_a_reply_longer_than_an_sms_is_refused_and_nothing_is_queued(replying):
    db, tess, contact_id = replying
    with db.session() as s:
        before = _outbound(s)
    with pytest.raises(Refused, match=r"the reply is 1,601 characters long .* at most 1,600") as info:
        with db.session() as s:
            conv.send_reply(s, s.get(User, tess.id), contact_id, "y" * 1601, "needs_response", now=NOON_NY)
    assert info.value.code == "too_long"
    with db.session() as s:
        assert _outbound(s) == before
        assert s.get(Contact, contact_id).status == "needs_response"
        # Exactly at the limit it goes.
        sent = conv.send_reply(s, s.get(User, tess.id), contact_id, "y" * 1600, "needs_response", now=NOON_NY)
        assert sent.sent and len(s.get(Message, sent.message_id).body) == 1600


def test_an_initial_rendered_longer_than_an_sms_is_refused(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        campaign = make_campaign(s, org_id, custom_fields=["note"])
        make_script(s, campaign, initial="Hi {firstName}, {note}")
        add_texter(s, campaign, tess)
        [long_one, short_one] = add_contacts(s, campaign, 2, assigned_to=tess)
        long_one.custom_fields = {"note": "z" * 1600}
        short_one.custom_fields = {"note": "see you Tuesday"}
    with pytest.raises(Refused) as info:
        with db.session() as s:
            send_initial(s, s.get(User, tess.id), long_one.id, now=NOON_NY)
    assert info.value.code == "too_long"
    assert "the first text to this contact" in info.value.reason and "at most 1,600" in info.value.reason
    with db.session() as s:
        assert _outbound(s) == 0
        assert s.get(Contact, long_one.id).status == "needs_message"
        assert send_initial(s, s.get(User, tess.id), short_one.id, now=NOON_NY).sent


def test_an_adhoc_text_longer_than_an_sms_is_refused(db, org_id):
    with db.session() as s:
        tess_id = make_texter(s, org_id, "Tess").id
    with pytest.raises(Refused, match="the text is 2,000 characters long") as info:
        with db.session() as s:
            send_adhoc(s, s.get(User, tess_id), "(212) 555-0142", "w" * 2000, "me", now=NOON_NY)
    assert info.value.code == "too_long"
    with db.read() as s:
        assert _outbound(s) == 0
        assert s.scalar(select(func.count()).select_from(Campaign).where(Campaign.kind == "adhoc")) == 0


def test_an_opt_out_with_a_goodbye_too_long_opts_out_without_it(replying):
    db, tess, contact_id = replying
    with db.session() as s:
        before = _outbound(s)
        result = conv.opt_out_contact(s, s.get(User, tess.id), contact_id, "bye " * 500, now=NOON_NY)
        assert result.message_id is None
        assert result.note is not None and "1,999 characters long" in result.note  # stripped
        contact = s.get(Contact, contact_id)
        assert is_opted_out(s, s.get(Campaign, contact.campaign_id).organization_id, contact.cell)
        assert _outbound(s) == before


def test_the_outbox_refuses_a_row_longer_than_an_sms(replying):
    db, _tess, contact_id = replying
    with pytest.raises(Refused, match="at most 1,600"):
        with db.session() as s:
            contact = s.get(Contact, contact_id)
            queue_outbound(
                s, contact, "q" * 1601, user_id=None, campaign=s.get(Campaign, contact.campaign_id)
            )


def test_an_opt_out_confirmation_too_long_is_left_out_and_the_opt_out_stands(db, org_id):
    with db.session() as s:
        s.get(Organization, org_id).optout_confirmation = "You are unsubscribed. " * 100
        campaign = make_campaign(s, org_id)
        [contact] = add_contacts(s, campaign, 1, status="messaged")
        s.add(
            Message(
                contact_id=contact.id,
                campaign_id=campaign.id,
                direction="out",
                cell=contact.cell,
                body="hi",
                status="sent",
            )
        )
    with db.session() as s:
        result = receive_inbound(
            s, from_cell=contact.cell, to="+1", body="STOP", provider_sid="SMstop", now=NOON_NY
        )
        assert result.opted_out
        assert _outbound(s) == 1  # only the first text: no confirmation queued

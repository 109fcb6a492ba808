"""Inbound texts: exactly once per SID, routing, the ad-hoc pool, opt-out keywords, notices."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from core.conversations import escalate
from core.inbound import is_optout_text, receive_inbound
from core.sending import send_initial
from storage.models import Campaign, Contact, Message, Notice, OptOut, Organization, User
from tests.core.factories import (
    add_contacts,
    add_team_member,
    at,
    make_admin,
    make_launched_campaign,
    make_org,
    make_script,
    make_team,
    make_texter,
    race_desk,
)

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
OUR_NUMBER = "+12125550100"


def _inbound(db, cell, body, sid, **kwargs):
    with db.session() as s:
        return receive_inbound(
            s, from_cell=cell, to=kwargs.pop("to", OUR_NUMBER), body=body, provider_sid=sid, **kwargs
        )


@pytest.fixture
def texted(db, org_id):
    """Tess sent the initial to two contacts of a launched campaign."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        campaign = make_launched_campaign(s, org_id, 0, texters=[tess])
        make_script(s, campaign)
        contacts = add_contacts(s, campaign, 2, assigned_to=tess)
        for contact in contacts:
            assert send_initial(s, tess, contact.id, now=NOON_NY).sent
    return db, campaign, tess, contacts


def test_reply_moves_to_needs_response_and_tells_the_texter(texted):
    db, campaign, tess, contacts = texted
    later = at(2024, 7, 15, 12, 5, "America/New_York")
    # Twilio sends the number in E.164; a national form is normalized all the same.
    local_form = "(212) " + contacts[0].cell[5:8] + "-" + contacts[0].cell[8:]
    result = _inbound(db, local_form, "Yes I will", "SM1", media=["https://m/1.jpg"], now=later)
    assert result.stored and not result.opted_out
    assert (result.contact_id, result.campaign_id) == (contacts[0].id, campaign.id)
    with db.read() as s:
        contact = s.get(Contact, contacts[0].id)
        assert contact.status == "needs_response"
        assert contact.last_inbound_at == later and contact.last_message_at == later
        message = s.get(Message, result.message_id)
        assert (message.direction, message.status, message.body) == ("in", "received", "Yes I will")
        assert message.media == ["https://m/1.jpg"] and message.provider_sid == "SM1"
        [notice] = s.scalars(select(Notice).where(Notice.kind == "reply")).all()
        assert (notice.user_id, notice.contact_id, notice.message_id) == (tess.id, contact.id, message.id)
        assert notice.payload["body"] == "Yes I will"
        assert contact.cell not in str(notice.payload)


def test_duplicate_sid_is_stored_once(texted):
    db, _campaign, _tess, contacts = texted
    first = _inbound(db, contacts[0].cell, "hello", "SMdup")
    again = _inbound(db, contacts[0].cell, "hello", "SMdup")
    assert first.stored and not again.stored
    assert (again.message_id, again.contact_id) == (first.message_id, first.contact_id)
    with db.read() as s:
        assert s.scalar(select(func.count()).where(Message.provider_sid == "SMdup")) == 1
        assert s.scalar(select(func.count(Notice.id)).where(Notice.kind == "reply")) == 1


def test_racing_duplicates_of_one_sid_store_one_row(db_url):
    threads = 8
    db, _, _, [contact] = race_desk(db_url, 1, threads, sent_at=NOON_NY)
    barrier = threading.Barrier(threads)

    def deliver(i: int):
        barrier.wait()
        # Half of them for a number no campaign texted: the ad-hoc contact must not be made twice either.
        cell = contact.cell if i % 2 else "+13125559999"
        with db.session() as s:
            return receive_inbound(s, from_cell=cell, to=OUR_NUMBER, body="hi", provider_sid=f"SM{i % 2}")

    try:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(deliver, range(threads)))
        assert sum(r.stored for r in results) == 2
        with db.read() as s:
            assert s.scalar(select(func.count()).where(Message.direction == "in")) == 2
            assert s.scalar(select(func.count()).where(Contact.cell == "+13125559999")) == 1
            assert s.scalar(select(func.count()).where(Campaign.kind == "adhoc")) == 1
            assert s.scalar(select(func.count(Notice.id)).where(Notice.kind == "reply")) == 1
    finally:
        db.dispose()


def test_routes_to_the_campaign_that_texted_last(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id)
        older = make_launched_campaign(s, org_id, 0, texters=[tess])
        newer = make_launched_campaign(s, org_id, 0, texters=[tess])
        draft = make_launched_campaign(s, org_id, 0, texters=[tess])
        for campaign in (older, newer, draft):
            make_script(s, campaign)
        cell = "+12125550777"
        [a] = add_contacts(s, older, 1, cells=[cell], assigned_to=tess)
        [b] = add_contacts(s, newer, 1, cells=[cell], assigned_to=tess)
        add_contacts(s, draft, 1, cells=[cell], assigned_to=tess)  # never texted: not a conversation
        assert send_initial(s, tess, a.id, now=NOON_NY).sent
        assert send_initial(s, tess, b.id, now=at(2024, 7, 15, 13, 0, "America/New_York")).sent
        older.status = "archived"
    result = _inbound(db, cell, "who is this?", "SMr1")
    assert (result.campaign_id, result.contact_id) == (newer.id, b.id)
    with db.session() as s:
        # The older campaign texts again later: the next reply answers that text.
        s.get(Campaign, older.id).status = "launched"
        s.get(Contact, a.id).status = "needs_message"
        assert send_initial(
            s, s.get(User, tess.id), a.id, now=at(2024, 7, 15, 14, 0, "America/New_York")
        ).sent
    assert _inbound(db, cell, "again?", "SMr2").contact_id == a.id


def test_a_campaign_with_its_own_sender_only_gets_texts_to_that_sender(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id)
        mine = make_launched_campaign(s, org_id, 0, texters=[tess], sender="MGaaa")
        theirs = make_launched_campaign(s, org_id, 0, texters=[tess], sender="MGbbb")
        cell = "+12125550778"
        for campaign in (mine, theirs):
            make_script(s, campaign)
        [a] = add_contacts(s, mine, 1, cells=[cell], assigned_to=tess)
        [b] = add_contacts(s, theirs, 1, cells=[cell], assigned_to=tess)
        send_initial(s, tess, a.id, now=NOON_NY)
        send_initial(s, tess, b.id, now=at(2024, 7, 15, 13, 0, "America/New_York"))
    assert _inbound(db, cell, "hi", "SMs1", messaging_service_sid="MGaaa").contact_id == a.id
    assert _inbound(db, cell, "hi", "SMs2", messaging_service_sid="MGbbb").contact_id == b.id


def test_unknown_number_starts_an_unassigned_adhoc_conversation(db, org_id):
    first = _inbound(db, "+13125550001", "Is this the campaign office?", "SMu1")
    second = _inbound(db, "+13125550002", "Hello", "SMu2")
    again = _inbound(db, "+13125550001", "Hello?", "SMu3")
    assert first.stored and second.stored and again.stored
    assert first.campaign_id == second.campaign_id == again.campaign_id
    assert again.contact_id == first.contact_id != second.contact_id
    with db.read() as s:
        adhoc = s.get(Campaign, first.campaign_id)
        assert (adhoc.kind, adhoc.status, adhoc.organization_id) == ("adhoc", "launched", org_id)
        contact = s.get(Contact, first.contact_id)
        assert (contact.status, contact.assigned_user_id) == ("needs_response", None)
        assert contact.timezone == "America/Chicago"  # from the 312 area code
        assert s.scalar(select(func.count(Notice.id))) == 0  # no admin yet to tell; the pool waits
    assert (first.campaign_title, first.campaign_kind, first.unclaimed) == ("ad-hoc texts", "adhoc", True)


def test_reopens_a_closed_conversation(texted):
    db, _campaign, _tess, contacts = texted
    with db.session() as s:
        s.get(Contact, contacts[0].id).status = "closed"
    _inbound(db, contacts[0].cell, "Actually, one more question", "SMc1")
    with db.read() as s:
        assert s.get(Contact, contacts[0].id).status == "needs_response"


@pytest.mark.parametrize(
    "body", ["stop", " Stop ", "STOP", "StopAll", "unsubscribe", "Cancel", "end", "QUIT."]
)
def test_stop_keywords(body):
    assert is_optout_text(body)


@pytest.mark.parametrize("body", ["STOP please", "don't stop", "stopp", "", "   ", "end of story"])
def test_not_stop_keywords(body):
    assert not is_optout_text(body)


def test_stop_opts_out_org_wide_and_closes(texted, org_id):
    db, campaign, tess, contacts = texted
    with db.session() as s:
        other = make_launched_campaign(s, org_id, 0)
        add_contacts(s, other, 1, cells=[contacts[0].cell])
    result = _inbound(db, contacts[0].cell, " Stop ", "SMstop")
    assert result.stored and result.opted_out
    with db.read() as s:
        assert s.scalar(select(OptOut.source).where(OptOut.cell == contacts[0].cell)) == "keyword"
        for contact in s.scalars(select(Contact).where(Contact.cell == contacts[0].cell)):
            assert (contact.status, contact.opted_out) == ("closed", True)
        assert s.scalar(select(func.count(Notice.id)).where(Notice.kind == "optout")) == 1
        # No confirmation configured: nothing queued (Twilio confirms STOP itself).
        assert s.scalar(select(func.count()).where(Message.direction == "out", Message.body != "")) == 2


def test_stop_please_is_a_reply_not_an_opt_out(texted):
    db, _campaign, _tess, contacts = texted
    result = _inbound(db, contacts[0].cell, "STOP please", "SMsp")
    assert not result.opted_out
    with db.read() as s:
        contact = s.get(Contact, contacts[0].id)
        assert (contact.status, contact.opted_out) == ("needs_response", False)
        assert s.scalar(select(func.count(OptOut.id))) == 0


def test_custom_phrase_and_confirmation_queued_once(texted, org_id):
    db, _campaign, _tess, contacts = texted
    with db.session() as s:
        org = s.get(Organization, org_id)
        org.optout_phrases = ["Remove me"]
        org.optout_confirmation = "You will get no more texts from us."
    assert _inbound(db, contacts[0].cell, "remove me!", "SMp1").opted_out
    # Already out: a second STOP queues nothing more (a text would draw error 21610).
    assert _inbound(db, contacts[0].cell, "STOP", "SMp2").opted_out
    with db.read() as s:
        confirmations = s.scalars(
            select(Message).where(Message.body == "You will get no more texts from us.")
        ).all()
        assert len(confirmations) == 1
        assert (confirmations[0].status, confirmations[0].user_id) == ("queued", None)


def test_text_from_an_opted_out_number_is_kept_but_stays_closed(texted, org_id):
    db, _campaign, _tess, contacts = texted
    _inbound(db, contacts[0].cell, "stop", "SMo1")
    result = _inbound(db, contacts[0].cell, "why did you text me", "SMo2")
    assert result.stored and result.opted_out
    with db.read() as s:
        contact = s.get(Contact, contacts[0].id)
        assert (contact.status, contact.opted_out) == ("closed", True)
        assert s.scalar(select(func.count(Notice.id)).where(Notice.kind == "reply")) == 0


# --- escalated conversations: the admins or the team hold them, and hear of every text ----------------


@pytest.fixture
def escalation_world(texted, org_id):
    """Tess's contacts, two admins (one with no chat account), a team of two, and staff of another org."""
    db, campaign, tess, contacts = texted
    with db.session() as s:
        admins = [make_admin(s, org_id, "Ada"), make_admin(s, org_id, "Cli Admin", platform=None)]
        team = make_team(s, org_id, "Spanish speakers")
        members = [make_texter(s, org_id, "Maria"), make_texter(s, org_id, "Jose")]
        for member in members:
            add_team_member(s, team, member)
        outsider = make_texter(s, org_id, "Not in the team")
        other_org = make_org(s)
        stranger = make_admin(s, other_org, "Admin elsewhere")
    ids = {
        "admins": [a.id for a in admins],
        "members": [m.id for m in members],
        "outsider": outsider.id,
        "stranger": stranger.id,
        "team": team.id,
    }
    return db, campaign, tess, contacts, ids


def _escalate(db, user_id, contact_id, team_id=None):
    with db.session() as s:
        escalate(s, s.get(User, user_id), contact_id, team_id)


def _notices_of(db, kind):
    with db.read() as s:
        rows = s.scalars(select(Notice).where(Notice.kind == kind).order_by(Notice.id)).all()
        s.expunge_all()
        return rows


def test_a_text_on_a_conversation_escalated_to_the_admins_tells_each_admin(escalation_world):
    db, campaign, tess, contacts, ids = escalation_world
    _escalate(db, tess.id, contacts[0].id)
    result = _inbound(db, contacts[0].cell, "I have a question for a person in charge", "SMe1")
    assert result.stored and not result.opted_out
    with db.read() as s:
        contact = s.get(Contact, contacts[0].id)
        assert (contact.status, contact.escalated, contact.assigned_user_id) == ("needs_response", True, None)
    notices = _notices_of(db, "reply")
    # One row per admin: the Slack admin on slack, the admin with no chat account on the cli.
    assert sorted((n.user_id, n.platform) for n in notices) == sorted(
        [(ids["admins"][0], "slack"), (ids["admins"][1], "cli")]
    )
    for notice in notices:
        assert (notice.contact_id, notice.campaign_id, notice.message_id) == (
            contacts[0].id,
            campaign.id,
            result.message_id,
        )
        assert notice.payload["body"] == "I have a question for a person in charge"
        assert notice.payload["escalated"] is True and notice.payload["team"] is None
        assert notice.payload["contact_name"] == "First0 Last0"
        assert notice.payload["masked_cell"] != contacts[0].cell
        assert notice.status == "pending"


def test_a_text_on_a_conversation_escalated_to_a_team_tells_each_member(escalation_world):
    db, _campaign, tess, contacts, ids = escalation_world
    _escalate(db, tess.id, contacts[1].id, ids["team"])
    result = _inbound(db, contacts[1].cell, "¿Hablan español?", "SMe2")
    notices = _notices_of(db, "reply")
    assert sorted(n.user_id for n in notices) == sorted(ids["members"])
    assert all(n.message_id == result.message_id for n in notices)
    assert all(n.payload["team"] == "Spanish speakers" and n.payload["escalated"] for n in notices)


def test_a_text_on_a_conversation_not_escalated_tells_only_its_texter(escalation_world):
    db, _campaign, tess, contacts, _ids = escalation_world
    _inbound(db, contacts[0].cell, "Yes", "SMe3")
    [notice] = _notices_of(db, "reply")
    assert notice.user_id == tess.id and "escalated" not in notice.payload and "team" not in notice.payload


def test_an_opt_out_on_an_escalated_conversation_tells_its_holders(escalation_world):
    db, _campaign, tess, contacts, ids = escalation_world
    _escalate(db, tess.id, contacts[0].id, ids["team"])
    assert _inbound(db, contacts[0].cell, "STOP", "SMe4").opted_out
    notices = _notices_of(db, "optout")
    assert sorted(n.user_id for n in notices) == sorted(ids["members"])
    assert all(n.payload["escalated"] and n.payload["team"] == "Spanish speakers" for n in notices)
    assert _notices_of(db, "reply") == []
    # Opted out now: a later text is kept but tells no one.
    _inbound(db, contacts[0].cell, "why?", "SMe5")
    assert _notices_of(db, "reply") == [] and len(_notices_of(db, "optout")) == 2


def test_an_escalated_conversation_someone_took_on_tells_them_once(escalation_world):
    db, _campaign, tess, contacts, ids = escalation_world
    _escalate(db, tess.id, contacts[0].id)
    with db.session() as s:  # an admin took it over (assigned to them while still escalated)
        s.get(Contact, contacts[0].id).assigned_user_id = ids["admins"][0]
    _inbound(db, contacts[0].cell, "hello?", "SMe6")
    assert sorted(n.user_id for n in _notices_of(db, "reply")) == sorted(ids["admins"])

"""A Send click in one core call (``send_and_next``): the same send as ``send_initial`` and the same next
card as ``next_initial`` read after it, from one read made before the send."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from core.errors import Refused
from core.optouts import opt_out
from core.sending import Texter, next_initial, send_and_next
from storage.models import Campaign, Contact, Message, OptOut, User
from tests.core.factories import (
    add_contacts,
    at,
    make_campaign,
    make_launched_campaign,
    make_script,
    make_texter,
    race_desk,
)

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
# 15:30 UTC in July: New York and Denver are inside 9-21, Phoenix (8:30, no daylight time) is not.
PHOENIX_CLOSED = at(2024, 7, 15, 15, 30)
ZONES = ["America/New_York", "America/Phoenix", None, "America/Denver", "America/New_York"]


def texter(user: User) -> Texter:
    return Texter(user.id, user.organization_id, user.name)


def outbound(session, contact_id: int) -> int:
    return session.scalar(
        select(func.count(Message.id)).where(Message.contact_id == contact_id, Message.direction == "out")
    )


@pytest.fixture
def desk(db, org_id):
    """Tess holds 10 initials over four zones (None: the campaign's, New York) and Otto two."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        otto = make_texter(s, org_id, "Otto")
        campaign = make_launched_campaign(s, org_id, 0, texters=[tess, otto])
        make_script(s, campaign, initial="Hi {firstName} {lastName}, this is {texterName}. Vote Tuesday?")
        contacts = add_contacts(s, campaign, 10, timezones=ZONES, assigned_to=tess)
        add_contacts(s, campaign, 2, assigned_to=otto, first=10)
    return db, campaign, tess, contacts


@pytest.mark.parametrize("now", [NOON_NY, PHOENIX_CLOSED], ids=["all open", "phoenix closed"])
def test_each_click_sends_as_send_initial_and_shows_the_card_next_initial_reads_after(desk, now):
    """Clicks out of order, double clicks and a contact outside hours: after every click the card is the
    one ``next_initial`` reads in the same transaction after the send, and each contact is texted once."""
    db, campaign, tess, contacts = desk
    order = [4, 0, 0, 1, 2, 9, 3, 3, 5, 6, 7, 8, 2]  # the last 2: a stale card of a sent contact
    sent: set[int] = set()
    for index in order:
        contact = contacts[index]
        with db.session() as s:
            clicked = send_and_next(s, texter(tess), campaign.id, contact.id, now=now)
            after = next_initial(s, s.get(Campaign, campaign.id), s.get(User, tess.id), now=now)
        assert clicked.card == after, index
        assert clicked.campaign_title == campaign.title
        closed = now == PHOENIX_CLOSED and contact.timezone == "America/Phoenix"
        if contact.id in sent:
            assert (clicked.result.sent, clicked.result.code) == (False, "already_sent")
        elif closed:
            assert (clicked.result.sent, clicked.result.code) == (False, "outside_hours")
        else:
            assert clicked.result.sent and clicked.result.message_id
            assert clicked.contact_name == f"First{index} Last{index}"
            sent.add(contact.id)
    with db.read() as s:
        for contact in contacts:
            assert outbound(s, contact.id) == (contact.id in sent)
            assert (s.get(Contact, contact.id).status == "messaged") == (contact.id in sent)
        [body] = s.scalars(select(Message.body).where(Message.contact_id == contacts[4].id))
    assert body == "Hi First4 Last4, this is Tess. Vote Tuesday?"


def test_the_last_contact_leaves_no_card(desk):
    db, campaign, tess, contacts = desk
    for contact in contacts:
        with db.session() as s:
            clicked = send_and_next(s, texter(tess), campaign.id, contact.id, now=NOON_NY)
        assert clicked.result.sent
    assert clicked.card is None


def test_opted_out_and_listed_numbers_are_not_sent_nor_shown(desk, org_id):
    db, campaign, tess, contacts = desk
    with db.session() as s:
        opt_out(s, org_id, contacts[1].cell, source="keyword")
        s.add(OptOut(organization_id=org_id, cell=contacts[2].cell, source="import"))  # row not flagged
    with db.session() as s:
        flagged = send_and_next(s, texter(tess), campaign.id, contacts[1].id, now=NOON_NY)
        listed = send_and_next(s, texter(tess), campaign.id, contacts[2].id, now=NOON_NY)
        after = next_initial(s, s.get(Campaign, campaign.id), s.get(User, tess.id), now=NOON_NY)
    assert (flagged.result.code, listed.result.code) == ("opted_out", "opted_out")
    assert listed.card == after and after is not None and after.remaining == 8
    with db.read() as s:
        assert s.scalar(select(func.count(Message.id))) == 0


def test_someone_elses_contact_is_not_sent(desk):
    db, campaign, tess, contacts = desk
    with db.read() as s:
        ottos = s.scalars(select(Contact.id).where(Contact.assigned_user_id != tess.id)).first()
    with db.session() as s:
        clicked = send_and_next(s, texter(tess), campaign.id, ottos, now=NOON_NY)
        after = next_initial(s, s.get(Campaign, campaign.id), s.get(User, tess.id), now=NOON_NY)
    assert (clicked.result.sent, clicked.result.code) == (False, "not_yours")
    assert clicked.card == after and after.remaining == 10


def test_a_contact_of_another_campaign_or_organization_goes_the_long_way(desk, org_id):
    db, campaign, tess, contacts = desk
    with db.session() as s:
        other = make_launched_campaign(s, org_id, 0, texters=[tess])
        make_script(s, other)
        [elsewhere] = add_contacts(s, other, 1, assigned_to=tess)
    with db.session() as s:
        clicked = send_and_next(s, texter(tess), campaign.id, elsewhere.id, now=NOON_NY)
    assert clicked.result.sent and clicked.card is None and clicked.contact_name == "First0 Last0"
    stranger = Texter(tess.id, org_id + 1000, "Tess")
    with db.session() as s:
        refused = send_and_next(s, stranger, campaign.id, contacts[0].id, now=NOON_NY)
    assert (refused.result.sent, refused.result.code, refused.card) == (False, "not_found", None)


def test_a_draft_campaign_sends_nothing_and_shows_no_card(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id)
        campaign = make_campaign(s, org_id, status="draft")
        make_script(s, campaign)
        contacts = add_contacts(s, campaign, 2, assigned_to=tess)
    with db.session() as s:
        clicked = send_and_next(s, texter(tess), campaign.id, contacts[0].id, now=NOON_NY)
    assert (clicked.result.sent, clicked.result.code, clicked.card) == (False, "not_launched", None)


def test_a_reply_status_is_refused(desk):
    db, campaign, tess, contacts = desk
    with db.session() as s, pytest.raises(Refused, match="reply from the conversation"):
        send_and_next(s, texter(tess), campaign.id, contacts[0].id, expected_status="convo", now=NOON_NY)


def test_concurrent_clicks_of_one_contact_send_once(db_url):
    threads = 12
    db, tess, campaign, contacts = race_desk(db_url, 4, threads, name="Tess")
    who = texter(tess)
    barrier = threading.Barrier(threads)

    def click(i: int):
        contact = contacts[i % 3]  # the fourth stays to be shown
        barrier.wait()
        with db.session() as s:
            return contact.id, send_and_next(s, who, campaign.id, contact.id, now=NOON_NY)

    try:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(click, range(threads)))
        for contact in contacts[:3]:
            mine = [r.result for cid, r in results if cid == contact.id]
            assert sum(r.sent for r in mine) == 1
            assert all(r.code == "already_sent" for r in mine if not r.sent)
        assert all(r.card is None or r.card.contact_id != cid for cid, r in results)
        with db.read() as s:
            for contact in contacts:
                assert outbound(s, contact.id) == (contact in contacts[:3])
    finally:
        db.dispose()

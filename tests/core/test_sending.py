"""Initial texts: the card, the guarded send, texting hours in the contact's zone, double sends."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from core.errors import Refused
from core.optouts import opt_out
from core.sending import next_initial, send_initial
from storage.models import Contact, Message, OptOut, User
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


def _outbound(session, contact_id: int) -> list[Message]:
    return list(
        session.scalars(select(Message).where(Message.contact_id == contact_id, Message.direction == "out"))
    )


@pytest.fixture
def desk(db, org_id):
    """Tess holds 3 initials in a launched New York campaign with a script."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        campaign = make_launched_campaign(s, org_id, 0, texters=[tess])
        make_script(s, campaign, initial="Hi {firstName}, this is {texterName}. Vote on Tuesday?")
        contacts = add_contacts(s, campaign, 3, assigned_to=tess)
    return db, campaign, tess, contacts


def test_card_shows_the_rendered_initial_masked_and_counted(desk):
    db, campaign, tess, contacts = desk
    with db.read() as s:
        card = next_initial(s, campaign, s.get(User, tess.id), now=NOON_NY)
    assert card is not None
    assert card.contact_id == contacts[0].id
    assert card.body == "Hi First0, this is Tess. Vote on Tuesday?"
    assert card.masked_cell.endswith(contacts[0].cell[-4:])
    assert contacts[0].cell not in card.masked_cell
    assert card.remaining == 3
    assert card.expected_status == "needs_message"
    assert card.timezone == "America/New_York"
    assert (card.local_time.hour, card.local_time.minute) == (12, 0)


def test_send_queues_one_text_and_moves_to_messaged(desk):
    db, campaign, tess, contacts = desk
    with db.session() as s:
        result = send_initial(s, s.get(User, tess.id), contacts[0].id, now=NOON_NY)
    assert result.sent and result.reason is None and result.message_id
    with db.read() as s:
        contact = s.get(Contact, contacts[0].id)
        assert contact.status == "messaged"
        assert contact.last_message_at == NOON_NY
        [message] = _outbound(s, contact.id)
        assert message.id == result.message_id
        assert (message.status, message.direction, message.cell) == ("queued", "out", contact.cell)
        assert message.body == "Hi First0, this is Tess. Vote on Tuesday?"
        assert message.user_id == tess.id
        # The worker must not deliver after 21:00 in the contact's zone.
        assert message.send_before == at(2024, 7, 15, 21, 0, "America/New_York")
        card = next_initial(s, campaign, s.get(User, tess.id), now=NOON_NY)
    assert card.contact_id == contacts[1].id and card.remaining == 2


def test_second_send_is_a_no_op_with_a_word(desk):
    db, _campaign, tess, contacts = desk
    with db.session() as s:
        assert send_initial(s, s.get(User, tess.id), contacts[0].id, now=NOON_NY).sent
    with db.session() as s:
        again = send_initial(s, s.get(User, tess.id), contacts[0].id, now=NOON_NY)
    assert not again.sent and again.code == "already_sent" and "already sent" in again.reason
    with db.read() as s:
        assert len(_outbound(s, contacts[0].id)) == 1


def test_a_contact_not_yours_is_not_sent(desk, org_id):
    db, _campaign, tess, contacts = desk
    with db.session() as s:
        other = make_texter(s, org_id, "Otto")
        s.get(Contact, contacts[0].id).assigned_user_id = other.id
        s.get(Contact, contacts[1].id).assigned_user_id = None
    with db.session() as s:
        taken = send_initial(s, s.get(User, tess.id), contacts[0].id, now=NOON_NY)
        released = send_initial(s, s.get(User, tess.id), contacts[1].id, now=NOON_NY)
    assert (taken.sent, taken.code) == (False, "not_yours")
    assert (released.sent, released.code) == (False, "not_yours")
    assert "no longer assigned to you" in taken.reason
    with db.read() as s:
        assert s.scalar(select(func.count(Message.id))) == 0


def test_opted_out_numbers_are_never_sent(desk, org_id):
    db, campaign, tess, contacts = desk
    with db.session() as s:
        opt_out(s, org_id, contacts[0].cell, source="keyword")
        # On the org list but the contact row not flagged (e.g. imported after the opt-out).
        s.add(OptOut(organization_id=org_id, cell=contacts[1].cell, source="import"))
    with db.session() as s:
        user = s.get(User, tess.id)
        flagged = send_initial(s, user, contacts[0].id, now=NOON_NY)
        listed = send_initial(s, user, contacts[1].id, now=NOON_NY)
        card = next_initial(s, campaign, user, now=NOON_NY)
    assert (flagged.sent, flagged.code) == (False, "opted_out")
    assert (listed.sent, listed.code) == (False, "opted_out")
    assert card.contact_id == contacts[2].id and card.remaining == 1
    with db.read() as s:
        assert s.get(Contact, contacts[1].id).status == "needs_message"
        assert s.scalar(select(func.count(Message.id))) == 0


def test_draft_campaign_does_not_send(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id)
        campaign = make_campaign(s, org_id, status="draft")
        make_script(s, campaign)
        [contact] = add_contacts(s, campaign, 1, assigned_to=tess)
    with db.session() as s:
        result = send_initial(s, s.get(User, tess.id), contact.id, now=NOON_NY)
        assert next_initial(s, campaign, s.get(User, tess.id), now=NOON_NY) is None
    assert (result.sent, result.code) == (False, "not_launched")
    assert "has not launched" in result.reason


def test_expected_status_other_than_needs_message_is_refused(desk):
    db, _campaign, tess, contacts = desk
    with db.session() as s, pytest.raises(Refused, match="reply from the conversation"):
        send_initial(s, s.get(User, tess.id), contacts[0].id, expected_status="convo", now=NOON_NY)


def test_no_card_when_nothing_is_assigned(db, org_id):
    with db.session() as s:
        tess = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 2, texters=[tess])
        make_script(s, campaign)
        assert next_initial(s, campaign, tess, now=NOON_NY) is None


# --- texting hours, in the contact's own zone ------------------------------------------------------------


@pytest.fixture
def zones(db, org_id):
    """One assigned contact in each of New York, Phoenix and Denver."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        campaign = make_launched_campaign(s, org_id, 0, texters=[tess])
        make_script(s, campaign)
        contacts = add_contacts(
            s,
            campaign,
            3,
            timezones=["America/New_York", "America/Phoenix", "America/Denver"],
            assigned_to=tess,
        )
    return db, campaign, tess, dict(zip(["ny", "phx", "den"], contacts, strict=True))


def _send(db, user_id, contact_id, now):
    with db.session() as s:
        return send_initial(s, s.get(User, user_id), contact_id, now=now)


def test_new_york_at_859_is_refused_with_the_opening_and_at_900_sent(zones):
    db, _campaign, tess, c = zones
    early = _send(db, tess.id, c["ny"].id, at(2024, 7, 15, 8, 59, "America/New_York"))
    assert (early.sent, early.code) == (False, "outside_hours")
    assert early.opens_at == at(2024, 7, 15, 9, 0, "America/New_York")
    assert "opens at 09:00" in early.reason
    assert _send(db, tess.id, c["ny"].id, at(2024, 7, 15, 9, 0, "America/New_York")).sent


def test_end_of_window_2059_sends_and_2100_waits_for_tomorrow(zones):
    db, _campaign, tess, c = zones
    den = c["den"]
    late = _send(db, tess.id, den.id, at(2024, 7, 15, 21, 0, "America/Denver"))
    assert (late.sent, late.code) == (False, "outside_hours")
    assert late.opens_at == at(2024, 7, 16, 9, 0, "America/Denver")
    last = _send(db, tess.id, den.id, at(2024, 7, 15, 20, 59, "America/Denver"))
    assert last.sent
    with db.read() as s:
        [message] = _outbound(s, den.id)
        assert message.send_before == at(2024, 7, 15, 21, 0, "America/Denver")


def test_phoenix_in_july_keeps_standard_time(zones):
    """15:30 UTC in July: 11:30 in New York, 9:30 in Denver (daylight time), 8:30 in Phoenix (none)."""
    db, campaign, tess, c = zones
    now = at(2024, 7, 15, 15, 30)
    with db.read() as s:
        card = next_initial(s, campaign, s.get(User, tess.id), now=now)
    assert card.contact_id == c["ny"].id and card.remaining == 2  # New York and Denver, not Phoenix
    phoenix = _send(db, tess.id, c["phx"].id, now)
    assert (phoenix.sent, phoenix.code) == (False, "outside_hours")
    assert phoenix.opens_at == at(2024, 7, 15, 16, 0)
    assert _send(db, tess.id, c["phx"].id, at(2024, 7, 15, 16, 0)).sent


# --- a double click, with real concurrency ---------------------------------------------------------------


def test_concurrent_sends_of_one_contact_send_once(db_url):
    threads = 12
    db, tess, campaign, contacts = race_desk(db_url, 5, threads, name="Tess")
    barrier = threading.Barrier(threads)

    def click(i: int):
        contact = contacts[i % len(contacts)]
        barrier.wait()
        with db.session() as s:
            return contact.id, send_initial(s, s.get(User, tess.id), contact.id, now=NOON_NY)

    try:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(click, range(threads)))
        for contact in contacts:
            mine = [r for cid, r in results if cid == contact.id]
            assert sum(r.sent for r in mine) == 1
            assert all(r.code == "already_sent" for r in mine if not r.sent)
        with db.read() as s:
            for contact in contacts:
                assert len(_outbound(s, contact.id)) == 1
                assert s.get(Contact, contact.id).status == "messaged"
    finally:
        db.dispose()

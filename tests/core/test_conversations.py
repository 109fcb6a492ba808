"""The texter's reply flow: nested survey questions, replies and their idempotency, the thread's menu,
and who may act on a conversation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from core import conversations as conv
from core.assignment import request_replies
from core.campaigns import CannedSpec, TagSpec, set_canned_responses, set_tags
from core.errors import Forbidden, NotFound, Refused
from core.inbound import receive_inbound
from core.orgs import default_organization
from core.scripts import StepSpec, replace_tree
from core.sending import send_initial
from storage import Database
from storage.models import Campaign, Contact, ContactTag, Message, Notice, OptOut, QuestionResponse, User
from tests.core.factories import (
    add_contacts,
    add_team_member,
    add_texter,
    at,
    make_admin,
    make_campaign,
    make_tag,
    make_team,
    make_texter,
)

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
LATER = at(2024, 7, 15, 12, 30, "America/New_York")

TREE = StepSpec(
    script="Hi {firstName}, this is {texterName}. Will you vote on Tuesday?",
    question="Will they vote?",
    answers=[
        StepSpec(
            answer="Yes",
            script="Great, {firstName}! Do you need a ride to the polls?",
            question="Needs a ride?",
            answers=[
                StepSpec(answer="Yes", script="We will call you to set it up."),
                StepSpec(answer="No", script="Perfect, see you there."),
            ],
        ),
        StepSpec(answer="No", script="Thanks for your time, {firstName}."),
    ],
)


def _world(db, org_id, n=2):
    """A launched campaign with the nested script; Tess texted n contacts and each replied."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        campaign = make_campaign(s, org_id, status="draft")
        replace_tree(s, campaign, TREE)
        campaign.status = "launched"
        add_texter(s, campaign, tess)
        contacts = add_contacts(s, campaign, n, assigned_to=tess)
        for i, contact in enumerate(contacts):
            assert send_initial(s, tess, contact.id, now=NOON_NY).sent
            receive_inbound(
                s, from_cell=contact.cell, to="+1", body="hello", provider_sid=f"SMw{i}", now=NOON_NY
            )
    return tess, campaign, contacts


@pytest.fixture
def world(db, org_id):
    tess, campaign, contacts = _world(db, org_id)
    return db, campaign, tess, contacts


def _view(db, user_id, contact_id):
    with db.read() as s:
        return conv.conversation_view(s, s.get(User, user_id), contact_id)


def _choose(db, user_id, contact_id, step_id, answer_id):
    with db.session() as s:
        return conv.choose_answer(s, s.get(User, user_id), contact_id, step_id, answer_id)


def _reply(db, user_id, contact_id, body, expected, now=LATER, last_seen=None):
    with db.session() as s:
        return conv.send_reply(
            s, s.get(User, user_id), contact_id, body, expected, now, last_seen_message_id=last_seen
        )


# --- the survey ----------------------------------------------------------------------------------------


def test_nested_questions_follow_the_answers(world):
    db, campaign, tess, contacts = world
    cid = contacts[0].id
    view = _view(db, tess.id, cid)
    assert view.question.question == "Will they vote?"
    assert [o.answer for o in view.question.options] == ["Yes", "No"]
    assert view.question.options[1].response == "Thanks for your time, First0."
    assert view.question.chosen_step_id is None
    assert (view.status, view.can_reply, view.campaign_title) == ("needs_response", True, campaign.title)
    assert [m.direction for m in view.messages] == ["out", "in"]
    assert view.cell != contacts[0].cell and view.cell.endswith(contacts[0].cell[-4:])

    yes = view.question.options[0]
    assert _choose(db, tess.id, cid, view.question.step_id, yes.step_id) == (
        "Great, First0! Do you need a ride to the polls?"
    )
    nested = _view(db, tess.id, cid)
    assert nested.question.question == "Needs a ride?" and nested.question.step_id == yes.step_id
    assert nested.answers == [("Will they vote?", "Yes")]
    ride = nested.question.options[0]
    assert _choose(db, tess.id, cid, yes.step_id, ride.step_id) == "We will call you to set it up."
    # The last question stays current (showing its answer) once the path has no further question.
    done = _view(db, tess.id, cid)
    assert done.question.step_id == yes.step_id and done.question.chosen_step_id == ride.step_id
    assert done.answers == [("Will they vote?", "Yes"), ("Needs a ride?", "Yes")]


def test_changing_an_answer_replaces_it_and_drops_the_answers_below(world):
    db, _campaign, tess, contacts = world
    cid = contacts[0].id
    root = _view(db, tess.id, cid).question
    yes, no = root.options
    _choose(db, tess.id, cid, root.step_id, yes.step_id)
    ride = _view(db, tess.id, cid).question
    _choose(db, tess.id, cid, ride.step_id, ride.options[1].step_id)
    assert _choose(db, tess.id, cid, root.step_id, no.step_id) == "Thanks for your time, First0."
    view = _view(db, tess.id, cid)
    assert view.question.step_id == root.step_id and view.question.chosen_step_id == no.step_id
    assert view.answers == [("Will they vote?", "No")]
    with db.read() as s:
        values = s.scalars(select(QuestionResponse.value).where(QuestionResponse.contact_id == cid)).all()
    assert values == ["No"]


def test_answers_off_the_path_or_to_another_question_are_refused(world):
    db, _campaign, tess, contacts = world
    cid = contacts[0].id
    root = _view(db, tess.id, cid).question
    yes = root.options[0]
    with db.read() as s:
        from storage.models import InteractionStep

        ride_yes = s.scalars(
            select(InteractionStep.id).where(InteractionStep.parent_id == yes.step_id)
        ).first()
    with pytest.raises(Refused, match="answer the earlier question first"):
        _choose(db, tess.id, cid, yes.step_id, ride_yes)
    with pytest.raises(Refused, match="is not an answer to the question"):
        _choose(db, tess.id, cid, root.step_id, ride_yes)
    with pytest.raises(Refused, match="is not a question"):
        _choose(db, tess.id, cid, ride_yes, ride_yes)


# --- replies ----------------------------------------------------------------------------------------------


def test_reply_queues_and_moves_to_convo(world):
    db, _campaign, tess, contacts = world
    cid = contacts[0].id
    view = _view(db, tess.id, cid)
    result = _reply(
        db, tess.id, cid, "  Great, see you Tuesday!  ", "needs_response", last_seen=view.last_message_id
    )
    assert result.sent and result.message_id
    with db.read() as s:
        contact = s.get(Contact, cid)
        assert (contact.status, contact.last_message_at) == ("convo", LATER)
        message = s.get(Message, result.message_id)
        assert (message.direction, message.status, message.body) == (
            "out",
            "queued",
            "Great, see you Tuesday!",
        )
        assert message.user_id == tess.id
    # A follow-up in the conversation with the new token goes too.
    view = _view(db, tess.id, cid)
    assert view.status == "convo"
    assert _reply(db, tess.id, cid, "One more thing", "convo", last_seen=view.last_message_id).sent


def test_retried_reply_sends_nothing_twice(world):
    db, _campaign, tess, contacts = world
    cid = contacts[0].id
    seen = _view(db, tess.id, cid).last_message_id
    assert _reply(db, tess.id, cid, "Thanks!", "needs_response", last_seen=seen).sent
    retry = _reply(db, tess.id, cid, "Thanks!", "needs_response", last_seen=seen)
    assert (retry.sent, retry.code) == (False, "already_sent")
    # A stale click in a convo (same expected status) is caught by the token alone.
    seen = _view(db, tess.id, cid).last_message_id
    assert _reply(db, tess.id, cid, "Bye", "convo", last_seen=seen).sent
    assert _reply(db, tess.id, cid, "Bye", "convo", last_seen=seen).code == "already_sent"
    # Without a token the expected status still catches a needs_response double click.
    assert _reply(db, tess.id, contacts[1].id, "Hi", "needs_response").sent
    assert _reply(db, tess.id, contacts[1].id, "Hi", "needs_response").code == "stale"
    with db.read() as s:
        bodies = s.scalars(select(Message.body).where(Message.contact_id == cid, Message.direction == "out"))
        assert sorted(bodies) == sorted(
            ["Bye", "Thanks!", "Hi First0, this is Tess. Will you vote on Tuesday?"]
        )


def test_a_new_text_from_the_contact_makes_the_reply_stale(world):
    db, _campaign, tess, contacts = world
    cid = contacts[0].id
    seen = _view(db, tess.id, cid).last_message_id
    with db.session() as s:
        receive_inbound(s, from_cell=contacts[0].cell, to="+1", body="Wait, which day?", provider_sid="SMn")
    stale = _reply(db, tess.id, cid, "Great!", "needs_response", last_seen=seen)
    assert (stale.sent, stale.code) == (False, "stale") and "newer messages" in stale.reason


def test_reply_refusals(world):
    db, _campaign, tess, contacts = world
    cid = contacts[0].id
    with pytest.raises(Refused, match="empty"):
        _reply(db, tess.id, cid, "   ", "needs_response")
    with pytest.raises(Refused, match="initials card"):
        _reply(db, tess.id, cid, "Hi", "needs_message")
    late = _reply(db, tess.id, cid, "Hi", "needs_response", now=at(2024, 7, 15, 21, 0, "America/New_York"))
    assert (late.sent, late.code) == (False, "outside_hours")
    assert late.opens_at == at(2024, 7, 16, 9, 0, "America/New_York")
    with db.session() as s:
        s.get(Contact, cid).status = "messaged"
    waiting = _reply(db, tess.id, cid, "Hi", "needs_response")
    assert (waiting.sent, waiting.code) == (False, "not_replyable")
    with db.read() as s:
        assert (
            s.scalar(select(func.count()).where(Message.contact_id == cid, Message.direction == "out")) == 1
        )


def test_concurrent_reply_clicks_send_once(db_url):
    threads = 10
    setup = Database(db_url)
    with setup.session() as s:
        org_id = default_organization(s).id
    tess, _campaign, [contact] = _world(setup, org_id, n=1)
    with setup.read() as s:
        seen = conv.conversation_view(s, s.get(User, tess.id), contact.id).last_message_id
    setup.dispose()
    db = Database(db_url) if db_url.startswith("sqlite") else Database(db_url, pool_size=threads)
    barrier = threading.Barrier(threads)

    def click(_i: int):
        barrier.wait()
        with db.session() as s:
            return conv.send_reply(
                s, s.get(User, tess.id), contact.id, "See you!", "convo", LATER, last_seen_message_id=seen
            )

    try:
        with db.session() as s:
            s.get(Contact, contact.id).status = "convo"  # the case the status alone cannot guard
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(click, range(threads)))
        assert sum(r.sent for r in results) == 1
        assert {r.code for r in results if not r.sent} == {"already_sent"}
        with db.read() as s:
            assert s.scalar(select(func.count()).where(Message.body == "See you!")) == 1
    finally:
        db.dispose()


# --- who may act ------------------------------------------------------------------------------------------


def test_another_texters_conversation_is_refused(world, org_id):
    db, _campaign, _tess, contacts = world
    cid = contacts[0].id
    with db.session() as s:
        otto = make_texter(s, org_id, "Otto")
        admin = make_admin(s, org_id, "Ada")
    for call in (
        lambda s, u: conv.conversation_view(s, u, cid),
        lambda s, u: conv.canned_responses(s, u, cid),
        lambda s, u: conv.close(s, u, cid),
        lambda s, u: conv.escalate(s, u, cid),
        lambda s, u: conv.opt_out_contact(s, u, cid),
    ):
        for user in (otto, admin):  # an admin too: the conversation is not escalated
            with db.session() as s, pytest.raises(Forbidden, match="assigned to another texter"):
                call(s, s.get(User, user.id))
    refused = _reply(db, otto.id, cid, "Hi", "needs_response")
    assert (refused.sent, refused.code) == (False, "not_yours")
    with db.session() as s, pytest.raises(NotFound):
        conv.conversation_view(s, s.get(User, otto.id), 999_999)
    with db.read() as s:
        contact = s.get(Contact, cid)
        assert (contact.status, contact.opted_out, contact.escalated) == ("needs_response", False, False)


# --- the thread's menu ------------------------------------------------------------------------------------


def test_canned_responses_are_rendered(world):
    db, campaign, tess, contacts = world
    with db.session() as s:
        campaign = s.get(Campaign, campaign.id)
        set_canned_responses(s, campaign, [CannedSpec("Wrong number", "Sorry {firstName}, wrong number!")])
    with db.read() as s:
        [canned] = conv.canned_responses(s, s.get(User, tess.id), contacts[0].id)
    assert (canned.title, canned.text) == ("Wrong number", "Sorry First0, wrong number!")
    assert _view(db, tess.id, contacts[0].id).canned_responses == [canned]


def test_tags_and_escalation_to_a_team(world, org_id):
    db, campaign, tess, contacts = world
    cid = contacts[0].id
    with db.session() as s:
        team = make_team(s, org_id, "Legal")
        lawyer = make_texter(s, org_id, "Lee")
        add_team_member(s, team, lawyer)
        make_admin(s, org_id, "Ada")
        campaign = s.get(Campaign, campaign.id)
        set_tags(
            s,
            campaign,
            [TagSpec(name="Volunteer"), TagSpec(name="Legal question", escalate=True, team="Legal")],
        )
        campaign.dynamic_replies = True
    view = _view(db, tess.id, cid)
    volunteer, legal = view.tags
    with db.session() as s:
        assert conv.add_tag(s, s.get(User, tess.id), cid, volunteer.id) is False
        assert conv.add_tag(s, s.get(User, tess.id), cid, volunteer.id) is False  # twice is harmless
    assert [t.applied for t in _view(db, tess.id, cid).tags] == [True, False]
    with db.session() as s:
        assert conv.add_tag(s, s.get(User, tess.id), cid, legal.id) is True
    with db.read() as s:
        contact = s.get(Contact, cid)
        assert (contact.escalated, contact.escalated_team_id, contact.assigned_user_id) == (
            True,
            team.id,
            None,
        )
        notices = s.scalars(select(Notice).where(Notice.kind == "escalated")).all()
        assert [n.user_id for n in notices] == [lawyer.id]
        assert notices[0].payload["team"] == "Legal"
    # Out of Tess's hands, out of the pools, in the team's.
    with pytest.raises(Forbidden, match="escalated"):
        _view(db, tess.id, cid)
    with db.session() as s:
        claimed = request_replies(s, s.get(Campaign, campaign.id), s.get(User, tess.id), now=LATER)
        assert cid not in claimed.contact_ids
    assert _view(db, lawyer.id, cid).escalated
    seen = _view(db, lawyer.id, cid).last_message_id
    assert _reply(db, lawyer.id, cid, "Our lawyer says yes.", "needs_response", last_seen=seen).sent
    # Removing the escalation tag hands it back to the unassigned pool.
    with db.session() as s:
        conv.remove_tag(s, s.get(User, lawyer.id), cid, legal.id)
    with db.read() as s:
        contact = s.get(Contact, cid)
        assert (contact.escalated, contact.assigned_user_id) == (False, None)
        assert s.scalar(select(func.count()).where(ContactTag.contact_id == cid)) == 1


def test_escalate_to_admins_and_unknown_team(world, org_id):
    db, _campaign, tess, contacts = world
    with db.session() as s:
        ada = make_admin(s, org_id, "Ada")
        with pytest.raises(NotFound, match="no team"):
            conv.escalate(s, s.get(User, tess.id), contacts[1].id, team_id=424242)
    with db.session() as s:
        conv.escalate(s, s.get(User, tess.id), contacts[0].id)
    with db.read() as s:
        assert [n.user_id for n in s.scalars(select(Notice).where(Notice.kind == "escalated"))] == [ada.id]
    assert _view(db, ada.id, contacts[0].id).cell == contacts[0].cell  # admins see the whole number


def test_an_answer_to_an_escalated_conversation_is_told_to_its_other_holders(world, org_id):
    db, _campaign, tess, contacts = world
    with db.session() as s:
        ada, olive = make_admin(s, org_id, "Ada"), make_admin(s, org_id, "Olive")
        conv.escalate(s, s.get(User, tess.id), contacts[0].id)
    with db.session() as s:
        sent = conv.send_reply(
            s, s.get(User, ada.id), contacts[0].id, "We'll call you", "needs_response", LATER
        )
        assert sent.sent
    with db.read() as s:
        told = s.execute(select(Notice.user_id, Notice.contact_id).where(Notice.kind == "answered")).all()
    assert [tuple(row) for row in told] == [(olive.id, contacts[0].id)]  # not Ada, not Tess
    with db.session() as s:  # an ordinary conversation has one holder: nobody else to tell
        assert conv.send_reply(
            s, s.get(User, tess.id), contacts[1].id, "Thanks!", "needs_response", LATER
        ).sent
    with db.read() as s:
        assert s.scalar(select(func.count()).where(Notice.kind == "answered")) == 1


def test_tag_of_another_organization_is_not_found(world):
    db, _campaign, tess, contacts = world
    with db.session() as s:
        from tests.core.factories import make_org

        foreign = make_tag(s, make_org(s), "theirs")
    with db.session() as s, pytest.raises(NotFound):
        conv.add_tag(s, s.get(User, tess.id), contacts[0].id, foreign.id)


def test_opt_out_with_a_goodbye_queues_it_first(world, org_id):
    db, _campaign, tess, contacts = world
    with db.session() as s:
        result = conv.opt_out_contact(s, s.get(User, tess.id), contacts[0].id, "Sorry to bother you!", LATER)
    assert result.message_id and result.note is None
    with db.read() as s:
        contact = s.get(Contact, contacts[0].id)
        assert (contact.status, contact.opted_out) == ("closed", True)
        optout = s.scalars(select(OptOut)).one()
        assert (optout.cell, optout.source, optout.user_id) == (contacts[0].cell, "texter", tess.id)
        assert s.get(Message, result.message_id).body == "Sorry to bother you!"
    after = _reply(db, tess.id, contacts[0].id, "Hello?", "needs_response")
    assert (after.sent, after.code) == (False, "opted_out")


def test_opt_out_outside_hours_skips_the_goodbye_but_opts_out(world):
    db, _campaign, tess, contacts = world
    night = at(2024, 7, 15, 23, 0, "America/New_York")
    with db.session() as s:
        result = conv.opt_out_contact(s, s.get(User, tess.id), contacts[0].id, "Bye", night)
    assert result.message_id is None and "outside texting hours" in result.note
    with db.read() as s:
        assert s.get(Contact, contacts[0].id).opted_out
        assert s.scalar(select(func.count()).where(Message.body == "Bye")) == 0


def test_close_and_reopen(world):
    db, _campaign, tess, contacts = world
    with db.session() as s:
        conv.close(s, s.get(User, tess.id), contacts[0].id)
    view = _view(db, tess.id, contacts[0].id)
    assert (view.status, view.can_reply) == ("closed", False)
    with db.session() as s:
        receive_inbound(s, from_cell=contacts[0].cell, to="+1", body="one more thing", provider_sid="SMre")
    assert _view(db, tess.id, contacts[0].id).status == "needs_response"

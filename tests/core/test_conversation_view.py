"""The whole ConversationView pinned, field by field, for conversations that use every part of it: a script
tree with answers, tags offered and applied (one applied tag no longer offered), canned responses, messages
both ways, a number on the opt-out list. Also views of several conversations in one transaction (as the
Slack relay runs them) and a view after a change made earlier in the same transaction."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from core import conversations as conv
from core.campaigns import CannedSpec, TagSpec, set_canned_responses, set_tags
from core.conversations import (
    AnswerOption,
    CannedReply,
    ConversationView,
    MessageView,
    QuestionView,
    TagView,
)
from core.errors import Forbidden
from core.inbound import receive_inbound
from core.optouts import opt_out
from core.scripts import StepSpec, replace_tree
from core.sending import send_initial
from storage.models import Campaign, InteractionStep, Message, OptOut, Tag, User
from tests.core.factories import add_contacts, add_texter, at, make_admin, make_campaign, make_texter

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
LATER = at(2024, 7, 15, 12, 30, "America/New_York")

TREE = StepSpec(
    script="Hi {firstName}, this is {texterName}. Will you vote on Tuesday?",
    question="Will {firstName} vote?",
    answers=[
        StepSpec(
            answer="Yes",
            script="Great, {firstName}! Do you need a ride to the polls?",
            question="Needs a ride?",
            answers=[
                StepSpec(answer="Yes", script="We will call you, {firstName}."),
                StepSpec(answer="No", script="Perfect, see you there."),
            ],
        ),
        StepSpec(answer="No", script="Thanks for your time, {firstName}."),
    ],
)


def _world(db, org_id):
    """Three contacts of Tess's who replied; the first answered Yes, got a reply and is tagged; the second's
    number is on the opt-out list (its contact row not yet marked); the third opted out by keyword."""
    with db.session() as s:
        tess = make_texter(s, org_id, "Tess")
        ada = make_admin(s, org_id, "Ada")
        campaign = make_campaign(s, org_id, status="draft", title="GOTV")
        replace_tree(s, campaign, TREE)
        set_tags(s, campaign, [TagSpec(name="Old"), TagSpec(name="Volunteer")])
        campaign.status = "launched"
        add_texter(s, campaign, tess)
        contacts = add_contacts(s, campaign, 3, assigned_to=tess)
        for i, contact in enumerate(contacts):
            assert send_initial(s, tess, contact.id, now=NOON_NY).sent
            receive_inbound(
                s, from_cell=contact.cell, to="+1", body=f"hello {i}", provider_sid=f"SMv{i}", now=NOON_NY
            )
    first, second, third = (c.id for c in contacts)
    with db.session() as s:
        user = s.get(User, tess.id)
        root = next(st for st in s.scalars(select(InteractionStep)) if st.parent_id is None)
        yes = next(
            st
            for st in s.scalars(select(InteractionStep))
            if st.parent_id == root.id and st.answer_option == "Yes"
        )
        conv.choose_answer(s, user, first, root.id, yes.id)
        old = s.scalars(select(Tag).where(Tag.name == "Old")).one()
        volunteer = s.scalars(select(Tag).where(Tag.name == "Volunteer")).one()
        conv.add_tag(s, user, first, old.id)
        conv.add_tag(s, user, first, volunteer.id)
        campaign = s.get(Campaign, campaign.id)
        # "Old" stays applied to the first contact but is no longer offered.
        set_tags(
            s,
            campaign,
            [TagSpec(name="Volunteer"), TagSpec(name="Legal", escalate=True)],
        )
        set_canned_responses(
            s,
            campaign,
            [
                CannedSpec("Wrong number", "Sorry {firstName}, wrong number!"),
                CannedSpec("Signed", "{texterName} here, thanks"),
            ],
        )
        seen = conv.conversation_view(s, user, first).last_message_id
        assert conv.send_reply(
            s, user, first, "Glad to hear it", "needs_response", LATER, last_seen_message_id=seen
        ).sent
        s.add(OptOut(organization_id=org_id, cell=contacts[1].cell, source="import"))
        s.flush()
    with db.session() as s:
        receive_inbound(s, from_cell=contacts[2].cell, to="+1", body="STOP", provider_sid="SMstop", now=LATER)
    return tess, ada, campaign, contacts, root, yes


def _ids(db, contact_id):
    with db.read() as s:
        return [
            m.id
            for m in s.scalars(select(Message).where(Message.contact_id == contact_id).order_by(Message.id))
        ]


def _tag_id(db, name):
    with db.read() as s:
        return s.scalars(select(Tag.id).where(Tag.name == name)).one()


def _steps(db):
    with db.read() as s:
        return {(st.parent_id, st.answer_option): st.id for st in s.scalars(select(InteractionStep))}


def _out(mid, body, user_id, created_at, status="queued", error=None):
    return MessageView(mid, "out", body, [], status, created_at, user_id, error)


def _in(mid, body, created_at):
    return MessageView(mid, "in", body, [], "received", created_at, None, None)


def _expected(db, tess, ada_view, campaign, contacts, root, yes):
    """The three views, written out by hand."""
    first, second, third = contacts
    steps = _steps(db)
    ride_yes, ride_no = steps[(yes.id, "Yes")], steps[(yes.id, "No")]
    vote_no = steps[(root.id, "No")]
    old, volunteer, legal = _tag_id(db, "Old"), _tag_id(db, "Volunteer"), _tag_id(db, "Legal")
    canned = lambda name: [  # noqa: E731
        CannedReply(_canned_id(db, "Wrong number"), "Wrong number", f"Sorry {name}, wrong number!"),
        CannedReply(_canned_id(db, "Signed"), "Signed", "Tess here, thanks"),
    ]
    m1 = _ids(db, first.id)
    m2 = _ids(db, second.id)
    m3 = _ids(db, third.id)
    initial = "Hi {}, this is Tess. Will you vote on Tuesday?"
    a = ConversationView(
        contact_id=first.id,
        campaign_id=campaign.id,
        campaign_title="GOTV",
        contact_name=f"{first.first_name} {first.last_name}".strip(),
        cell=ada_view(first.cell),
        status="convo",
        opted_out=False,
        escalated=False,
        messages=[
            _out(m1[0], initial.format(first.first_name), tess.id, NOON_NY),
            _in(m1[1], "hello 0", NOON_NY),
            _out(m1[2], "Glad to hear it", tess.id, LATER),
        ],
        question=QuestionView(
            step_id=yes.id,
            question="Needs a ride?",
            options=[
                AnswerOption(ride_yes, "Yes", f"We will call you, {first.first_name}."),
                AnswerOption(ride_no, "No", "Perfect, see you there."),
            ],
            chosen_step_id=None,
        ),
        answers=[(f"Will {first.first_name} vote?", "Yes")],
        tags=[
            TagView(volunteer, "Volunteer", False, True),
            TagView(legal, "Legal", True, False),
            TagView(old, "Old", False, True),
        ],
        canned_responses=canned(first.first_name),
        last_message_id=m1[2],
        can_reply=True,
        notes=[],
    )

    def root_view(contact):
        return QuestionView(
            step_id=root.id,
            question=f"Will {contact.first_name} vote?",
            options=[
                AnswerOption(yes.id, "Yes", f"Great, {contact.first_name}! Do you need a ride to the polls?"),
                AnswerOption(vote_no, "No", f"Thanks for your time, {contact.first_name}."),
            ],
            chosen_step_id=None,
        )

    offered = [TagView(volunteer, "Volunteer", False, False), TagView(legal, "Legal", True, False)]
    b = ConversationView(
        contact_id=second.id,
        campaign_id=campaign.id,
        campaign_title="GOTV",
        contact_name=f"{second.first_name} {second.last_name}".strip(),
        cell=ada_view(second.cell),
        status="needs_response",
        opted_out=True,
        escalated=False,
        messages=[
            _out(m2[0], initial.format(second.first_name), tess.id, NOON_NY),
            _in(m2[1], "hello 1", NOON_NY),
        ],
        question=root_view(second),
        answers=[],
        tags=offered,
        canned_responses=canned(second.first_name),
        last_message_id=m2[1],
        can_reply=False,
        notes=["this number opted out: it is never texted again"],
    )
    c = ConversationView(
        contact_id=third.id,
        campaign_id=campaign.id,
        campaign_title="GOTV",
        contact_name=f"{third.first_name} {third.last_name}".strip(),
        cell=ada_view(third.cell),
        status="closed",
        opted_out=True,
        escalated=False,
        messages=[
            _out(
                m3[0],
                initial.format(third.first_name),
                tess.id,
                NOON_NY,
                "failed",
                "not sent: the number opted out before the text went out",
            ),
            _in(m3[1], "hello 2", NOON_NY),
            _in(m3[2], "STOP", LATER),
        ],
        question=root_view(third),
        answers=[],
        tags=offered,
        canned_responses=canned(third.first_name),
        last_message_id=m3[2],
        can_reply=False,
        notes=["this number opted out: it is never texted again"],
    )
    return [a, b, c]


def _canned_id(db, title):
    from storage.models import CannedResponse

    with db.read() as s:
        return s.scalars(select(CannedResponse.id).where(CannedResponse.title == title)).one()


def test_the_whole_view_is_pinned(db, org_id):
    tess, ada, campaign, contacts, root, yes = _world(db, org_id)
    from core.phones import mask

    expected = _expected(db, tess, mask, campaign, contacts, root, yes)
    # Each alone, in its own transaction.
    for contact, want in zip(contacts, expected, strict=True):
        with db.read() as s:
            assert conv.conversation_view(s, s.get(User, tess.id), contact.id) == want
    # All in one transaction, twice over (as the Slack relay runs a batch of them).
    with db.read() as s:
        user = s.get(User, tess.id)
        got = [conv.conversation_view(s, user, c.id) for c in [*contacts, *contacts]]
    assert got == [*expected, *expected]
    # Not an admin's to see while it is assigned to Tess and not escalated.
    with db.read() as s, pytest.raises(Forbidden, match="assigned to another texter"):
        conv.conversation_view(s, s.get(User, ada.id), contacts[0].id)
    # Escalated to the admins: an admin sees it, with the whole number.
    with db.session() as s:
        conv.escalate(s, s.get(User, tess.id), contacts[1].id)
    with db.read() as s:
        got = conv.conversation_view(s, s.get(User, ada.id), contacts[1].id)
    signed = dataclasses.replace(expected[1].canned_responses[1], text="Ada here, thanks")
    want = dataclasses.replace(
        expected[1],
        cell=contacts[1].cell,
        escalated=True,
        canned_responses=[expected[1].canned_responses[0], signed],
    )
    assert got == want


def test_a_change_earlier_in_the_transaction_shows_in_the_view(db, org_id):
    tess, _ada, campaign, contacts, root, yes = _world(db, org_id)
    first = contacts[0].id
    with db.session() as s:
        user = s.get(User, tess.id)
        before = conv.conversation_view(s, user, first)
        assert before.question.step_id == yes.id
        assert [c.title for c in before.canned_responses] == ["Wrong number", "Signed"]
        camp = s.get(Campaign, campaign.id)
        set_canned_responses(s, camp, [CannedSpec("Only", "Just {firstName}")])
        assert [(c.title, c.text) for c in conv.conversation_view(s, user, first).canned_responses] == [
            ("Only", f"Just {contacts[0].first_name}")
        ]
        conv.remove_tag(s, user, first, _tag_id(db, "Old"))
        vote_no = _steps(db)[(root.id, "No")]
        conv.choose_answer(s, user, first, root.id, vote_no)
        s.add(OptOut(organization_id=org_id, cell=contacts[0].cell, source="import"))
        s.flush()
        after = conv.conversation_view(s, user, first)
        assert [(c.title, c.text) for c in after.canned_responses] == [
            ("Only", f"Just {contacts[0].first_name}")
        ]
        assert (after.question.step_id, after.question.chosen_step_id) == (root.id, vote_no)
        assert after.answers == [(f"Will {contacts[0].first_name} vote?", "No")]
        assert [t.name for t in after.tags] == ["Volunteer", "Legal"]
        assert (after.opted_out, after.can_reply) == (True, False)
        opt_out(s, org_id, contacts[1].cell, source="texter", reason="test", actor=tess)
        assert conv.conversation_view(s, user, contacts[1].id).status == "closed"

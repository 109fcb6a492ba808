"""Reply drafts: one row per conversation and texter, checked like any send, sent once, never another's."""

from __future__ import annotations

import pytest
import time_machine
from sqlalchemy import func, select

from core import drafts
from core.errors import Forbidden, NotFound, Refused
from core.inbound import receive_inbound
from core.optouts import opt_out
from core.sending import send_initial
from storage import Database
from storage.models import Message, ReplyDraft, User
from tests.core.factories import (
    add_contacts,
    add_texter,
    at,
    make_campaign,
    make_org,
    make_script,
    make_texter,
)

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")


@pytest.fixture
def replied(db: Database) -> tuple[int, int, int, int]:
    """Tess texted a contact who replied; Theo is another texter. (tess id, theo id, contact id, org id)"""
    with db.session() as s:
        org = make_org(s)
        tess, theo = make_texter(s, org, "Tess"), make_texter(s, org, "Theo")
        campaign = make_campaign(s, org, status="launched")
        make_script(s, campaign)
        add_texter(s, campaign, tess)
        [contact] = add_contacts(s, campaign, 1, assigned_to=tess)
        assert send_initial(s, tess, contact.id, now=NOON_NY).sent
        receive_inbound(s, from_cell=contact.cell, to="+1", body="hi", provider_sid="SMd1", now=NOON_NY)
        return tess.id, theo.id, contact.id, org.id


@time_machine.travel(NOON_NY, tick=True)  # the reply goes inside texting hours
def test_a_draft_is_one_row_per_conversation_and_is_sent_once(db: Database, replied) -> None:
    tess_id, _theo, contact_id, _org = replied
    with db.session() as s:
        tess = s.get(User, tess_id)
        drafts.set_draft(s, tess, contact_id, "  first  ")
        drafts.set_draft(s, tess, contact_id, "Thanks!")
        assert drafts.get_draft(s, tess_id, contact_id) == "Thanks!"
        assert s.scalar(select(func.count()).select_from(ReplyDraft)) == 1
    with db.session() as s:
        last = s.scalar(select(func.max(Message.id)))
        result = drafts.send_draft(s, s.get(User, tess_id), contact_id, "needs_response", last)
        assert result.sent
    with db.session() as s:
        assert drafts.get_draft(s, tess_id, contact_id) == ""
        with pytest.raises(Refused, match="no reply to send"):
            drafts.send_draft(s, s.get(User, tess_id), contact_id, "convo", last)


def test_drafts_are_checked_like_sends(db: Database, replied) -> None:
    tess_id, theo_id, contact_id, org_id = replied
    with db.session() as s:
        with pytest.raises(Refused, match="1601 characters"):
            drafts.set_draft(s, s.get(User, tess_id), contact_id, "x" * 1601)
        with pytest.raises(Refused, match="empty"):
            drafts.set_draft(s, s.get(User, tess_id), contact_id, "   ")
        with pytest.raises((Forbidden, NotFound, Refused)):
            drafts.set_draft(s, s.get(User, theo_id), contact_id, "not my conversation")


def test_an_adhoc_draft_checks_the_number_and_the_opt_out_list(db: Database, replied) -> None:
    tess_id, theo_id, _contact, org_id = replied
    with db.session() as s:
        with pytest.raises(Refused):
            drafts.set_adhoc_draft(s, s.get(User, tess_id), "555", "Hi")
        opt_out(s, org_id, "+12125550142", source="carrier", reason="test")
        with pytest.raises(Refused, match="opted out"):
            drafts.set_adhoc_draft(s, s.get(User, tess_id), "(212) 555-0142", "Hi")
        draft_id, masked = drafts.set_adhoc_draft(s, s.get(User, tess_id), "(212) 555-0143", "Hi")
        assert masked.endswith("0143") and "212555" not in masked
        with pytest.raises(NotFound):
            drafts.take_adhoc_draft(s, s.get(User, theo_id), draft_id)
        assert drafts.take_adhoc_draft(s, s.get(User, tess_id), draft_id) == ("+12125550143", "Hi")
        with pytest.raises(NotFound):
            drafts.take_adhoc_draft(s, s.get(User, tess_id), draft_id)

"""core.export: the contacts CSV an admin downloads (answers, tags, custom fields, streamed in batches)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from core.errors import Forbidden
from core.export import FIXED_COLUMNS, export_contacts_csv
from storage import Database
from storage.models import Campaign, ContactTag, InteractionStep, QuestionResponse, User
from tests.core.factories import (
    add_contacts,
    make_admin,
    make_campaign,
    make_org,
    make_script,
    make_tag,
    make_texter,
)


def export(db: Database, actor_id: int, campaign_id: int, **kwargs: Any) -> tuple[int, list[list[str]]]:
    out = io.StringIO()
    with db.read() as session:
        actor = session.get(User, actor_id)
        campaign = session.get(Campaign, campaign_id)
        assert actor is not None and campaign is not None
        count = export_contacts_csv(session, actor, campaign, out, **kwargs)
    return count, list(csv.reader(io.StringIO(out.getvalue())))


def add_child_question(session: Any, root: InteractionStep, option: str, question: str) -> InteractionStep:
    """Give the child step reached by ``option`` a follow-up question with answers Yes and No."""
    child = next(
        s for s in session.query(InteractionStep).filter_by(parent_id=root.id) if s.answer_option == option
    )
    child.question = question
    for position, answer in enumerate(("Yes", "No")):
        session.add(
            InteractionStep(
                campaign_id=root.campaign_id,
                parent_id=child.id,
                answer_option=answer,
                script="ok",
                question="",
                position=position,
            )
        )
    session.flush()
    return child


def test_rows_hold_answers_tags_custom_fields_and_whole_numbers(db: Database) -> None:
    with db.session() as session:
        org = make_org(session)
        admin = make_admin(session, org)
        texter = make_texter(session, org, "Tess Texter")
        campaign = make_campaign(session, org, custom_fields=["ward", "precinct"])
        root = make_script(session, campaign)
        ride = add_child_question(session, root, "Yes", "Need a ride?")
        ann, bob, cat = add_contacts(session, campaign, 3, assigned_to=None)
        ann.custom_fields = {"ward": "7", "precinct": "12b"}
        ann.assigned_user_id = texter.id
        ann.status = "convo"
        ann.last_message_at = datetime(2024, 11, 2, 15, 30, tzinfo=UTC)
        bob.custom_fields = {"ward": "3"}
        cat.opted_out = True
        cat.timezone = "America/Phoenix"
        session.add_all(
            [
                QuestionResponse(contact_id=ann.id, interaction_step_id=root.id, value="Yes"),
                QuestionResponse(contact_id=ann.id, interaction_step_id=ride.id, value="No"),
                QuestionResponse(contact_id=bob.id, interaction_step_id=root.id, value="No"),
            ]
        )
        for tag in (make_tag(session, org, "volunteer"), make_tag(session, org, "callback")):
            session.add(ContactTag(contact_id=ann.id, tag_id=tag.id))
        session.flush()
        ids = (admin.id, campaign.id, ann.id, bob.id, cat.id, ann.cell)
    admin_id, campaign_id, ann_id, bob_id, cat_id, ann_cell = ids

    count, rows = export(db, admin_id, campaign_id)

    assert count == 3
    assert rows[0] == [
        *FIXED_COLUMNS,
        "ward",
        "precinct",
        "Will they vote?",
        "Need a ride?",
        "tags",
        "last message at",
    ]
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert [row[0] for row in rows[1:]] == [str(ann_id), str(bob_id), str(cat_id)]
    a, b, c = by_id[str(ann_id)], by_id[str(bob_id)], by_id[str(cat_id)]
    assert a["cell"] == ann_cell and a["texter name"] == "Tess Texter" and a["status"] == "convo"
    assert (a["ward"], a["precinct"], a["Will they vote?"], a["Need a ride?"]) == ("7", "12b", "Yes", "No")
    assert a["tags"] == "callback;volunteer"
    assert datetime.fromisoformat(a["last message at"]) == datetime(2024, 11, 2, 15, 30, tzinfo=UTC)
    assert (b["ward"], b["precinct"], b["Will they vote?"], b["Need a ride?"], b["tags"]) == (
        "3",
        "",
        "No",
        "",
        "",
    )
    assert b["time zone"] == "America/New_York"  # none of its own: the campaign's
    assert (c["opted out"], c["time zone"], c["texter name"]) == ("yes", "America/Phoenix", "")
    assert a["opted out"] == "no" and c["last message at"] == ""


def test_a_texter_or_another_organizations_admin_is_refused_and_nothing_is_written(db: Database) -> None:
    with db.session() as session:
        org, other = make_org(session), make_org(session)
        texter, stranger = make_texter(session, org), make_admin(session, other)
        campaign = make_campaign(session, org)
        add_contacts(session, campaign, 2)
        ids = texter.id, stranger.id, campaign.id
    for actor_id in ids[:2]:
        out = io.StringIO()
        with db.read() as session, pytest.raises(Forbidden):
            actor, campaign_row = session.get(User, actor_id), session.get(Campaign, ids[2])
            assert actor is not None and campaign_row is not None
            export_contacts_csv(session, actor, campaign_row, out)
        assert out.getvalue() == ""


def test_repeated_question_texts_get_distinct_headers(db: Database) -> None:
    with db.session() as session:
        org = make_org(session)
        admin = make_admin(session, org)
        campaign = make_campaign(session, org, custom_fields=["tags"])
        root = make_script(session, campaign, question="Will you volunteer?")
        add_child_question(session, root, "No", "Will you volunteer?")
        ids = admin.id, campaign.id
    count, rows = export(db, *ids)
    assert count == 0
    assert rows[0][len(FIXED_COLUMNS) :] == [
        "tags",
        "Will you volunteer?",
        "Will you volunteer? (2)",
        "tags (2)",
        "last message at",
    ]


def test_a_big_campaign_is_read_in_batches_and_written_as_it_goes(db: Database) -> None:
    n, batch = 2500, 300
    with db.session() as session:
        org = make_org(session)
        admin = make_admin(session, org)
        campaign = make_campaign(session, org)
        make_script(session, campaign)
        add_contacts(session, campaign, n)
        other = make_campaign(session, org)  # its contacts must not appear
        add_contacts(session, other, 10, first=n)
        ids = admin.id, campaign.id

    out = io.StringIO()
    lines_at_each_batch: list[int] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT CONTACTS.ID, CONTACTS.FIRST_NAME"):
            lines_at_each_batch.append(out.getvalue().count("\n"))

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        with db.read() as session:
            actor, campaign_row = session.get(User, ids[0]), session.get(Campaign, ids[1])
            assert actor is not None and campaign_row is not None
            count = export_contacts_csv(session, actor, campaign_row, out, batch_size=batch)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)

    assert count == n
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    contact_ids = [int(row[0]) for row in rows]
    assert len(contact_ids) == n and contact_ids == sorted(contact_ids)
    # One query per batch plus the empty one that ends it, each after the previous batch was written.
    assert len(lines_at_each_batch) == -(-n // batch) + 1
    assert lines_at_each_batch == [1 + batch * i for i in range(len(lines_at_each_batch) - 1)] + [1 + n]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tx", "'\tx"),
        ("+12125550123", "+12125550123"),
        ("+1 (212) 555-0123", "+1 (212) 555-0123"),
        ("-5", "-5"),
        ("Ann", "Ann"),
        ("", ""),
    ],
)
def test_cells_that_start_like_a_formula_are_written_as_text(value: str, written: str) -> None:
    from core.export import spreadsheet_safe

    assert spreadsheet_safe(value) == written


def test_imported_text_cannot_become_a_spreadsheet_formula(db: Database) -> None:
    with db.session() as session:
        org = make_org(session)
        admin = make_admin(session, org)
        campaign = make_campaign(session, org, custom_fields=["=note"])
        (ann,) = add_contacts(session, campaign, 1, assigned_to=None)
        ann.first_name = '=HYPERLINK("http://evil.example","Ann")'
        ann.custom_fields = {"=note": "@SUM(1)"}
        session.add(ContactTag(contact_id=ann.id, tag_id=make_tag(session, org, "+tag").id))
        session.flush()
        ids = (admin.id, campaign.id, ann.cell)
    admin_id, campaign_id, cell = ids

    _count, rows = export(db, admin_id, campaign_id)

    row = dict(zip(rows[0], rows[1], strict=True))
    assert "'=note" in rows[0]
    assert row["first name"] == '\'=HYPERLINK("http://evil.example","Ann")'
    assert row["'=note"] == "'@SUM(1)" and row["tags"] == "'+tag"
    assert row["cell"] == cell and cell.startswith("+")  # a number stays a number

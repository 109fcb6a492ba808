from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from core.campaigns import create_campaign
from core.contacts_import import ImportRefused, import_contacts
from core.errors import Refused
from core.optouts import add_optout, count_optouts, import_optouts, is_opted_out, list_optouts, opt_out
from storage import Database
from storage.models import Contact, OptOut, Organization
from tests.core.factories import org_admin


def seed_campaign(db: Database, org_id: int, title: str, cells: list[str]) -> int:
    with db.session() as session:
        campaign_id = create_campaign(session, org_id, actor=org_admin(session, org_id), title=title).id
    data = "first_name,cell\n" + "".join(f"P{i},{cell}\n" for i, cell in enumerate(cells))
    import_contacts(db, campaign_id, io.BytesIO(data.encode()))
    return campaign_id


def states(db: Database, cell: str) -> dict[int, tuple[bool, str]]:
    """campaign id -> (opted_out, status) of the contact with that cell."""
    with db.read() as session:
        rows = session.execute(
            select(Contact.campaign_id, Contact.opted_out, Contact.status).where(Contact.cell == cell)
        )
        return {campaign_id: (out, status) for campaign_id, out, status in rows}


@pytest.fixture
def other_org(db: Database) -> int:
    with db.session() as session:
        org = Organization(name="other org", optout_phrases=[])
        session.add(org)
        session.flush()
        return org.id


def test_add_marks_the_number_out_in_every_campaign_of_the_org_only(
    db: Database, org_id: int, other_org: int
) -> None:
    first = seed_campaign(db, org_id, "One", ["2125550001", "2125550002"])
    second = seed_campaign(db, org_id, "Two", ["2125550001"])
    foreign = seed_campaign(db, other_org, "Theirs", ["2125550001"])
    with db.session() as session:
        cell, added = add_optout(
            session, org_id, "(212) 555-0001", actor=org_admin(session, org_id), reason="asked by phone"
        )
    assert (cell, added) == ("+12125550001", True)
    assert states(db, "+12125550001") == {
        first: (True, "closed"),
        second: (True, "closed"),
        foreign: (False, "needs_message"),
    }
    assert states(db, "+12125550002") == {first: (False, "needs_message")}
    with db.session() as session:
        assert is_opted_out(session, org_id, "+12125550001")
        assert not is_opted_out(session, other_org, "+12125550001")
        assert add_optout(session, org_id, "212-555-0001", actor=org_admin(session, org_id)) == (
            "+12125550001",
            False,
        )
        [row] = list_optouts(session, org_id, actor=org_admin(session, org_id))
        assert (row.cell, row.source, row.reason) == ("+12125550001", "admin", "asked by phone")


def test_add_refuses_a_bad_number(db: Database, org_id: int) -> None:
    with pytest.raises(Refused, match="not a valid phone number"), db.session() as session:
        add_optout(session, org_id, "555-0100", actor=org_admin(session, org_id))
    with db.read() as session:
        assert count_optouts(session, org_id, actor=org_admin(session, org_id)) == 0


def test_opted_out_numbers_are_skipped_by_later_contact_imports(db: Database, org_id: int) -> None:
    with db.session() as session:
        opt_out(session, org_id, "+13125550009", source="keyword")
    with db.session() as session:
        campaign_id = create_campaign(session, org_id, actor=org_admin(session, org_id), title="Later").id
    summary = import_contacts(db, campaign_id, io.BytesIO(b"first_name,cell\nA,3125550009\nB,3125550010\n"))
    assert summary.imported == 1 and summary.skipped["opted_out"] == 1


def test_import_optouts(db: Database, org_id: int, other_org: int) -> None:
    campaign = seed_campaign(db, org_id, "One", ["2125550001", "2125550002", "2125550003"])
    foreign = seed_campaign(db, other_org, "Theirs", ["2125550001"])
    with db.session() as session:
        opt_out(session, org_id, "+12125550003", source="keyword")
    data = (
        "Phone Number,Name,date\n"
        "212-555-0001,Ana,2026-01-02\n"
        "(212) 555-0002,Bo,\n"
        "2125550001,Ana again,\n"
        "not a number,,\n"
        "+1 212 555 0003,Cy,\n"
        "4155550100,Di,\n"
    )
    summary = import_optouts(db, org_id, io.BytesIO(data.encode()), "US")
    assert (summary.added, summary.already, summary.invalid_cell, summary.duplicate_in_file) == (3, 1, 1, 1)
    assert summary.rows == 6
    assert summary.contacts_closed == 2
    assert states(db, "+12125550001") == {campaign: (True, "closed"), foreign: (False, "needs_message")}
    assert states(db, "+12125550002") == {campaign: (True, "closed")}
    with db.read() as session:
        query = select(OptOut.cell, OptOut.source).where(OptOut.organization_id == org_id)
        sources = {cell: source for cell, source in session.execute(query)}
        assert sources == {
            "+12125550001": "import",
            "+12125550002": "import",
            "+12125550003": "keyword",
            "+14155550100": "import",
        }
    # Idempotent: the same file again adds nothing and closes nothing more.
    again = import_optouts(db, org_id, io.BytesIO(data.encode()), "US")
    assert (again.added, again.already, again.contacts_closed) == (0, 4, 0)
    with db.read() as session:
        assert count_optouts(session, org_id, actor=org_admin(session, org_id)) == 4
        assert count_optouts(session, other_org, actor=org_admin(session, other_org)) == 0


def test_import_optouts_refuses_malformed_files_and_writes_nothing(db: Database, org_id: int) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_optouts(db, org_id, io.BytesIO(b"name,email\nAna,a@example.org\n"), "US")
    assert refused.value.line == 1 and "no cell column" in str(refused.value)
    with pytest.raises(ImportRefused) as refused:
        import_optouts(db, org_id, io.BytesIO(b"cell,name\n2125550001,Ana\n2125550002\n"), "US")
    assert refused.value.line == 3
    with pytest.raises(ImportRefused) as refused:
        import_optouts(db, org_id, io.BytesIO("cell,name\n2125550001,Zoë\n".encode("latin-1")), "US")
    assert refused.value.line == 2
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(OptOut)) == 0


def test_list_optouts_pages_newest_first(db: Database, org_id: int) -> None:
    with db.session() as session:
        for n in range(5):
            opt_out(session, org_id, f"+1212555000{n}", source="admin", actor=org_admin(session, org_id))
    with db.read() as session:
        page = list_optouts(session, org_id, actor=org_admin(session, org_id), limit=2, offset=0)
        rest = list_optouts(session, org_id, actor=org_admin(session, org_id), limit=10, offset=2)
        assert len(page) == 2 and len(rest) == 3
        assert {r.cell for r in page + rest} == {f"+1212555000{n}" for n in range(5)}
        assert count_optouts(session, org_id, actor=org_admin(session, org_id)) == 5
        with pytest.raises(Refused):
            list_optouts(session, org_id, actor=org_admin(session, org_id), limit=0)


def queued_text(db: Database, campaign_id: int, cell: str, body: str) -> int:
    from storage.models import Message

    with db.session() as session:
        contact = session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id, Contact.cell == cell)
        ).one()
        message = Message(
            contact_id=contact.id,
            campaign_id=campaign_id,
            direction="out",
            body=body,
            cell=cell,
            status="queued",
        )
        session.add(message)
        session.flush()
        return message.id


def message_states(db: Database, ids: list[int]) -> list[tuple[str, str | None]]:
    from storage.models import Message

    with db.read() as session:
        return [(m.status, m.error_message) for m in (session.get(Message, i) for i in ids)]


def test_opting_out_cancels_the_numbers_queued_texts_but_spares_the_goodbye(
    db: Database, org_id: int
) -> None:
    cell, other = "+12125550101", "+12125550102"
    first = seed_campaign(db, org_id, "First", [cell, other])
    second = seed_campaign(db, org_id, "Second", [cell])
    waiting = queued_text(db, first, cell, "hello")
    elsewhere = queued_text(db, second, cell, "hi again")
    goodbye = queued_text(db, first, cell, "sorry to bother you, bye")
    untouched = queued_text(db, first, other, "hello other")
    with db.session() as session:
        opt_out(session, org_id, cell, source="keyword", spare_message_ids=[goodbye])
    states_after = message_states(db, [waiting, elsewhere, goodbye, untouched])
    assert [s for s, _ in states_after] == ["failed", "failed", "queued", "queued"]
    assert "opted out" in states_after[0][1]


def test_an_opt_out_import_cancels_queued_texts(db: Database, org_id: int) -> None:
    cell = "+12125550103"
    campaign = seed_campaign(db, org_id, "Import cancels", [cell])
    waiting = queued_text(db, campaign, cell, "hello")
    import_optouts(db, org_id, io.BytesIO(f"cell\n{cell}\n".encode()))
    assert message_states(db, [waiting])[0][0] == "failed"


def test_optout_page_pages_newest_first_for_admins_only(db: Database, org_id: int) -> None:
    from core.errors import Forbidden, Refused
    from core.optouts import optout_page
    from tests.core.factories import make_texter

    with db.session() as session:
        admin = org_admin(session, org_id)
        for n in range(5):
            opt_out(session, org_id, f"+1212555010{n}", source="admin", actor=admin)
        first = optout_page(session, admin, page=1, per_page=2)
        assert (first.total, first.pages, first.has_next, first.first_number) == (5, 3, True, 1)
        last = optout_page(session, admin, page=3, per_page=2)
        assert [row.cell for row in last.items] == ["+12125550100"] and not last.has_next
        assert last.first_number == 5
        with pytest.raises(Refused, match="there is no page 4: the opt-out list has 3 pages"):
            optout_page(session, admin, page=4, per_page=2)
        with pytest.raises(Forbidden):
            optout_page(session, make_texter(session, org_id))
        other = Organization(name="elsewhere", optout_phrases=[])
        session.add(other)
        session.flush()
        empty = optout_page(session, org_admin(session, other.id))  # always the actor's own list
        assert (empty.items, empty.total, empty.pages, empty.first_number) == ([], 0, 1, 0)

from __future__ import annotations

import io
import random
import threading

import pytest
from sqlalchemy import func, select, text

from core import contacts_import
from core.campaigns import archive_campaign, create_campaign
from core.contacts_import import (
    CellNormalizer,
    ImportRefused,
    ImportSummary,
    import_contacts,
    nanpa_prefix_depths,
)
from core.errors import NotFound, Refused
from core.optouts import opt_out
from core.phones import normalize, zone_for_number
from storage import Database
from storage.models import Campaign, Contact, Organization
from tests.core.factories import org_admin


def make_campaign(
    db: Database, org_id: int, title: str = "Spring canvass", tz: str = "America/New_York"
) -> int:
    with db.session() as session:
        return create_campaign(session, org_id, actor=org_admin(session, org_id), title=title, timezone=tz).id


def csv_bytes(text: str, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO(text.encode(encoding))


def contacts(db: Database, campaign_id: int) -> list[Contact]:
    with db.read() as session:
        rows = list(
            session.scalars(select(Contact).where(Contact.campaign_id == campaign_id).order_by(Contact.id))
        )
        session.expunge_all()  # keep them loaded past the read transaction's rollback
        return rows


def contact_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Contact))


@pytest.fixture
def campaign_id(db: Database, org_id: int) -> int:
    return make_campaign(db, org_id)


def test_header_aliases_and_custom_fields(db: Database, campaign_id: int) -> None:
    data = (
        "First, LAST_NAME ,Cell Phone,Postal Code,VAN ID,Polling Place,shift\n"
        "Ana,Garcia,(212) 555-0123,10001,V1,Lincoln High Gym,am\n"
    )
    summary = import_contacts(db, campaign_id, csv_bytes(data))
    assert summary.imported == 1 and summary.rows == 1
    assert summary.custom_fields == ["Polling Place", "shift"]
    [contact] = contacts(db, campaign_id)
    assert (contact.first_name, contact.last_name, contact.cell) == ("Ana", "Garcia", "+12125550123")
    assert (contact.zip, contact.external_id) == ("10001", "V1")
    assert contact.custom_fields == {"Polling Place": "Lincoln High Gym", "shift": "am"}
    assert contact.status == "needs_message" and contact.opted_out is False
    with db.read() as session:
        assert session.get(Campaign, campaign_id).custom_fields == ["Polling Place", "shift"]


@pytest.mark.parametrize(
    "header",
    [
        "firstName,lastName,phone",
        "first_name,last_name,mobile",
        "First Name,Last Name,Number",
        "FIRST,LAST,cell",
    ],
)
def test_header_spellings(db: Database, campaign_id: int, header: str) -> None:
    summary = import_contacts(db, campaign_id, csv_bytes(f"{header}\nBo,Lee,3125550100\n"))
    assert summary.imported == 1
    assert contacts(db, campaign_id)[0].first_name == "Bo"


def test_cells_become_e164(db: Database, campaign_id: int) -> None:
    shapes = [
        "2125550101",
        "(212) 555-0102",
        "1-212-555-0103",
        "+1 212 555 0104",
        "212.555.0105",
        "+12125550106",
    ]
    data = "first_name,cell\n" + "".join(f"P{i},{cell}\n" for i, cell in enumerate(shapes))
    summary = import_contacts(db, campaign_id, csv_bytes(data))
    assert summary.imported == len(shapes)
    assert [c.cell for c in contacts(db, campaign_id)] == [f"+1212555010{i}" for i in range(1, 7)]


def test_region_option(db: Database, campaign_id: int) -> None:
    summary = import_contacts(db, campaign_id, csv_bytes("first_name,cell\nJo,020 7946 0958\n"), region="GB")
    assert summary.imported == 1
    assert contacts(db, campaign_id)[0].cell == "+442079460958"


@pytest.mark.parametrize("overlap", [True, False], ids=["copied", "staged"])
def test_text_comes_back_as_written(
    db: Database, campaign_id: int, overlap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The COPY path spells each row in COPY's text format itself: backslashes, tabs, line breaks and a
    # literal \N must come back unchanged, in a row needing escapes and beside rows that do not.
    monkeypatch.setattr(contacts_import, "_COPY_LINES", 2)
    odd = ["back\\slash", "tab\there", "two\nlines", "carriage\rreturn", "\\N", "\\.", "Zoë 🌵"]
    rows = [
        (first, f"L{i}\\", f"100{i:02d}", f"V\t{i}", f'say "hi" \\ {first}')
        for i, first in enumerate(["Plain", *odd, "Plain too"])
    ]

    def quoted(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    data = "first_name,last_name,zip,external_id,cell,note\n" + "".join(
        ",".join([*map(quoted, row[:4]), f"21255501{i:02d}", quoted(row[4])]) + "\n"
        for i, row in enumerate(rows)
    )
    summary = import_contacts(db, campaign_id, csv_bytes(data), overlap=overlap)
    assert summary.imported == len(rows)
    stored = contacts(db, campaign_id)
    assert [(c.first_name, c.last_name, c.zip, c.external_id, c.custom_fields) for c in stored] == [
        (first, last, zip_code, external, {"note": note}) for first, last, zip_code, external, note in rows
    ]
    assert [c.cell for c in stored] == [f"+121255501{i:02d}" for i in range(len(rows))]
    assert {(c.status, c.opted_out, c.escalated) for c in stored} == {("needs_message", False, False)}


@pytest.mark.parametrize("overlap", [True, False], ids=["copied", "staged"])
@pytest.mark.parametrize("batch_rows", [25_000, 2])
def test_skips_are_counted_by_reason(
    db: Database,
    org_id: int,
    campaign_id: int,
    batch_rows: int,
    overlap: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The counts are the same whether the file is checked in one batch or many, and whether the rows
    # are chosen while they are COPYed (PostgreSQL's default) or in SQL from a staging table.
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", batch_rows)
    import_contacts(db, campaign_id, csv_bytes("first_name,cell\nOld,2125550001\n"))
    with db.session() as session:
        opt_out(session, org_id, "+12125550002", source="admin", actor=org_admin(session, org_id))
    data = (
        "first_name,cell\n"
        "Ana,2125550000\n"
        "Bad,555-0100\n"  # no area code
        "Empty,\n"
        "Out,212-555-0002\n"  # opted out
        "Again,(212) 555-0000\n"  # duplicate of line 2
        "Old,2125550001\n"  # already in the campaign
        "New,2125550003\n"
    )
    summary = import_contacts(db, campaign_id, csv_bytes(data), overlap=overlap)
    assert summary.imported == 2
    assert summary.skipped == {
        "invalid_cell": 2,
        "duplicate_in_file": 1,
        "opted_out": 1,
        "already_in_campaign": 1,
    }
    assert summary.rows == 7
    assert [c.first_name for c in contacts(db, campaign_id)] == ["Old", "Ana", "New"]


@pytest.mark.parametrize("overlap", [True, False], ids=["copied", "staged"])
def test_duplicates_across_batches_count_as_duplicates(
    db: Database, campaign_id: int, overlap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 3)
    numbers = [f"312555{n:04d}" for n in range(10)]
    rows = numbers + numbers[::3]  # 4 repeats, all in later batches
    data = "first_name,cell\n" + "".join(f"N{i},{cell}\n" for i, cell in enumerate(rows))
    summary = import_contacts(db, campaign_id, csv_bytes(data), overlap=overlap)
    assert summary.imported == 10
    assert summary.skipped["duplicate_in_file"] == 4
    assert summary.skipped["already_in_campaign"] == 0
    # File order is kept: ids follow the lines.
    assert [c.first_name for c in contacts(db, campaign_id)] == [f"N{i}" for i in range(10)]


def test_a_filter_that_cannot_tell_numbers_apart_changes_nothing(
    db: Database, org_id: int, campaign_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With 8 bits the COPY path's filter calls almost every number "maybe seen": each is looked up.
    monkeypatch.setattr(contacts_import._NumberFilter, "MASK", 7)
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 4)
    import_contacts(db, campaign_id, csv_bytes("first_name,cell\nOld,3125550100\n"))
    with db.session() as session:
        opt_out(session, org_id, "+13125550101", source="admin", actor=org_admin(session, org_id))
    numbers = [f"312555{n:04d}" for n in range(90, 110)]
    rows = numbers + numbers[::4]
    data = "first_name,cell\n" + "".join(f"N{i},{cell}\n" for i, cell in enumerate(rows))
    summary = import_contacts(db, campaign_id, csv_bytes(data))
    assert summary.imported == 18
    assert summary.skipped == {
        "invalid_cell": 0,
        "duplicate_in_file": 5,
        "opted_out": 1,
        "already_in_campaign": 1,
    }
    names = [c.first_name for c in contacts(db, campaign_id)]
    assert names == ["Old"] + [f"N{i}" for i in range(20) if i not in (10, 11)]


def test_opted_out_in_another_org_is_imported(db: Database, campaign_id: int) -> None:
    with db.session() as session:
        other = Organization(name="other", optout_phrases=[])
        session.add(other)
        session.flush()
        opt_out(session, other.id, "+12125550009", source="admin", actor=org_admin(session, other.id))
    summary = import_contacts(db, campaign_id, csv_bytes("first_name,cell\nAna,2125550009\n"))
    assert summary.imported == 1 and summary.skipped["opted_out"] == 0


def test_time_zones(db: Database, org_id: int) -> None:
    campaign_id = make_campaign(db, org_id, tz="America/Denver")
    data = (
        "first_name,cell,zip\n"
        "Az,2125550001,85001\n"  # New York number, Arizona zip: the zip wins
        "Ny,6025550002,10001\n"
        "Chi,3125550003,\n"  # no zip: area code 312
        "Free,8005550004,\n"  # toll-free, no zip: campaign zone
        "Bos,6175550005,2108\n"  # leading zero lost
    )
    import_contacts(db, campaign_id, csv_bytes(data))
    zones = {c.first_name: c.timezone for c in contacts(db, campaign_id)}
    assert zones == {
        "Az": "America/Phoenix",
        "Ny": "America/New_York",
        "Chi": "America/Chicago",
        "Free": "America/Denver",
        "Bos": "America/New_York",
    }


def test_utf8_bom_is_accepted(db: Database, campaign_id: int) -> None:
    summary = import_contacts(db, campaign_id, csv_bytes("\ufefffirst_name,cell\nChloé,2125550111\n"))
    assert summary.imported == 1
    assert contacts(db, campaign_id)[0].first_name == "Chloé"


def test_latin1_is_refused_with_the_line(db: Database, campaign_id: int) -> None:
    data = "first_name,cell\nAna,2125550001\nBo,2125550002\nChloé,2125550003\n"
    with pytest.raises(ImportRefused) as refused:
        import_contacts(db, campaign_id, csv_bytes(data, "latin-1"))
    assert refused.value.line == 4
    assert "UTF-8" in str(refused.value) and "line 4" in str(refused.value)
    assert contact_count(db) == 0


def test_a_nul_character_is_refused_with_the_line(db: Database, campaign_id: int) -> None:
    # PostgreSQL text cannot hold NUL: it used to end the import in a DataError traceback there.
    data = "first_name,cell,ward\nAna,2125550001,1\nBo,2125550002,\x00\n"
    with pytest.raises(ImportRefused) as refused:
        import_contacts(db, campaign_id, csv_bytes(data))
    assert refused.value.line == 3 and "NUL character" in str(refused.value)
    assert contact_count(db) == 0


@pytest.mark.parametrize("overlap", [True, False], ids=["copied", "staged"])
def test_ragged_row_refused_and_nothing_written_even_after_batches(
    db: Database, campaign_id: int, overlap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the first 40 rows are already COPYed into contacts when line 42 is refused.
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 5)
    good = "".join(f"P{i},312555{i:04d},x\n" for i in range(40))
    data = "first_name,cell,note\n" + good + "Late,3125559999\n"
    with pytest.raises(ImportRefused) as refused:
        import_contacts(db, campaign_id, csv_bytes(data), overlap=overlap)
    assert refused.value.line == 42
    assert "expected 3 columns" in str(refused.value) and "found 2" in str(refused.value)
    assert contact_count(db) == 0
    with db.read() as session:
        assert session.get(Campaign, campaign_id).custom_fields == []


def test_line_numbers_count_quoted_newlines(db: Database, campaign_id: int) -> None:
    data = 'first_name,cell,note\nAna,2125550001,"two\nlines"\nBo,2125550002\n'
    with pytest.raises(ImportRefused) as refused:
        import_contacts(db, campaign_id, csv_bytes(data))
    assert refused.value.line == 4


def test_missing_cell_column_names_the_aliases(db: Database, campaign_id: int) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_contacts(db, campaign_id, csv_bytes("first_name,last_name\nAna,Garcia\n"))
    assert refused.value.line == 1
    assert "no cell column" in str(refused.value) and "phone" in str(refused.value)
    with pytest.raises(ImportRefused, match="no first name column"):
        import_contacts(db, campaign_id, csv_bytes("cell\n2125550001\n"))
    assert contact_count(db) == 0


@pytest.mark.parametrize("data", ["", "\n\n", "\ufeff"])
def test_empty_file_refused(db: Database, campaign_id: int, data: str) -> None:
    with pytest.raises(ImportRefused, match="empty"):
        import_contacts(db, campaign_id, csv_bytes(data))


def test_duplicate_header_refused(db: Database, campaign_id: int) -> None:
    with pytest.raises(ImportRefused, match="twice"):
        import_contacts(db, campaign_id, csv_bytes("first_name,cell,note,note\nA,2125550001,1,2\n"))


def test_blank_lines_are_ignored(db: Database, campaign_id: int) -> None:
    data = "first_name,cell\r\nAna,2125550001\r\n\r\n,\r\nBo,2125550002\r\n"
    summary = import_contacts(db, campaign_id, csv_bytes(data))
    assert summary.imported == 2 and summary.rows == 3  # the "," row counts as a row with no cell
    assert summary.skipped["invalid_cell"] == 1


def test_archived_campaign_refused(db: Database, org_id: int, campaign_id: int) -> None:
    with db.session() as session:
        archive_campaign(session, session.get(Campaign, campaign_id), actor=org_admin(session, org_id))
    with pytest.raises(ImportRefused, match="archived"):
        import_contacts(db, campaign_id, csv_bytes("first_name,cell\nAna,2125550001\n"))
    assert contact_count(db) == 0


def test_reads_a_path_and_reports_progress(db: Database, campaign_id: int, tmp_path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "first_name,cell\n" + "".join(f"P{i},312555{i:04d}\n" for i in range(50)), encoding="utf-8"
    )
    seen: list[tuple[int, int]] = []
    summary = import_contacts(
        db, campaign_id, str(path), progress=lambda done, total: seen.append((done, total))
    )
    assert summary.imported == 50
    size = path.stat().st_size
    assert seen[-1] == (size, size)
    assert all(total == size and done <= size for done, total in seen)


def test_fast_cell_path_agrees_with_phonenumbers() -> None:
    assert nanpa_prefix_depths() is not None, "the prefix cache should apply to this phonenumbers release"
    rnd = random.Random(20)
    normalizer = CellNormalizer("US")
    shapes = ["{}{}{}", "({}) {}-{}", "1{}{}{}", "+1{}{}{}", "1-{}-{}-{}", "{}.{}.{}", "+1 ({}) {}-{}"]
    area_codes = ["212", "246", "876", "602", "800", "900", "011", "123", "441", "684", "939", "670"]
    for n in range(30_000):
        npa = rnd.choice(area_codes) if n % 2 else f"{rnd.randrange(1000):03d}"
        raw = rnd.choice(shapes).format(npa, f"{rnd.randrange(1000):03d}", f"{rnd.randrange(10000):04d}")
        cell = normalize(raw, "US")
        expected = (cell, zone_for_number(cell)) if cell else None
        assert normalizer(raw) == expected, raw


def test_two_imports_into_one_campaign_at_once(db: Database, campaign_id: int) -> None:
    """Overlapping files imported concurrently: each number lands once and the counts add up."""
    first = "first_name,cell\n" + "".join(f"A{i},312555{i:04d}\n" for i in range(0, 3000))
    second = "first_name,cell\n" + "".join(f"B{i},312555{i:04d}\n" for i in range(2000, 5000))
    results: dict[str, object] = {}

    def run(name: str, data: str) -> None:
        try:
            results[name] = import_contacts(db, campaign_id, csv_bytes(data))
        except Exception as exc:  # surfaced by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=run, args=(n, d)) for n, d in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    a, b = results["a"], results["b"]
    assert isinstance(a, ImportSummary) and isinstance(b, ImportSummary), results
    assert a.imported + b.imported == 5000
    assert a.skipped["already_in_campaign"] + b.skipped["already_in_campaign"] == 1000
    assert contact_count(db) == 5000


def test_numbers_opted_out_during_the_import_are_left_out(
    db: Database, org_id: int, campaign_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An opt-out committed while the file loads counts as the staging table's INSERT would count it."""
    if not db.is_postgres:
        pytest.skip("PostgreSQL's COPY path; SQLite reads the opt-outs once the whole file is staged")
    import_contacts(db, campaign_id, csv_bytes("first_name,cell\nOld,3125550050\n"))
    monkeypatch.setattr(contacts_import, "CHUNK_BYTES", 64)
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 5)
    rows = "".join(f"P{i},312555{i:04d}\n" for i in range(100))
    data = "first_name,cell\n" + rows
    middle = len(data) // 2
    opted: list[int] = []

    def progress(done: int, total: int) -> None:
        if done >= middle and not opted:  # line ~50 of 101: rows before it are COPYed already
            with db.session() as session:
                for cell in ("+13125550003", "+13125550090", "+13125550050", "+13125559999"):
                    opt_out(session, org_id, cell, source="admin", actor=org_admin(session, org_id))
            opted.append(done)

    summary = import_contacts(db, campaign_id, csv_bytes(data), progress=progress)
    assert opted
    # 0003 was COPYed before the opt-out, 0090 after; 0050 was in the campaign; 9999 is not in the file.
    assert summary.imported == 97
    assert summary.skipped["opted_out"] == 3
    assert summary.skipped["already_in_campaign"] == 0
    cells = {c.cell for c in contacts(db, campaign_id)}
    assert "+13125550003" not in cells and "+13125550090" not in cells
    assert "+13125550050" in cells and len(cells) == 98


def test_overlong_name_refused(db: Database, campaign_id: int) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_contacts(
            db, campaign_id, csv_bytes(f"first_name,cell\nAna,2125550001\n{'x' * 201},2125550002\n")
        )
    assert refused.value.line == 3 and "first name is longer than 200" in str(refused.value)
    assert contact_count(db) == 0


def test_unknown_region_refused(db: Database, campaign_id: int) -> None:
    with pytest.raises(Refused, match="unknown region"):
        import_contacts(db, campaign_id, csv_bytes("first_name,cell\nAna,2125550001\n"), region="XX")


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        ("first_name,cell\rAna,2125550001\r", 1, "carriage return"),
        ('first_name,cell\nAna,2125550001\nBo,"2125550002\n', 3, "not valid CSV"),
        ('first_name,cell\n"An"a,2125550001\n', 2, "not valid CSV"),
    ],
)
def test_broken_csv_refused_with_the_line(
    db: Database, campaign_id: int, data: str, line: int, words: str
) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_contacts(db, campaign_id, csv_bytes(data))
    assert refused.value.line == line and words in str(refused.value)
    assert contact_count(db) == 0


def test_adhoc_home_is_not_an_import_target(db: Database, org_id: int) -> None:
    with db.session() as session:
        home = Campaign(organization_id=org_id, title="ad hoc", kind="adhoc", custom_fields=[])
        session.add(home)
        session.flush()
        home_id = home.id
    with pytest.raises(NotFound):
        import_contacts(db, home_id, csv_bytes("first_name,cell\nAna,2125550001\n"))


def test_a_large_import_on_postgresql_refreshes_the_planner_statistics(
    db: Database, campaign_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db.is_postgres:
        pytest.skip("planner statistics are PostgreSQL's (SQLite plans without them)")

    def last_analyzed() -> object:
        with db.read() as session:
            return session.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relid = 'contacts'::regclass")
            ).scalar()

    monkeypatch.setattr(contacts_import, "ANALYZE_AFTER", 3)
    before = last_analyzed()  # another test in this schema may have analyzed it already
    import_contacts(db, campaign_id, csv_bytes("first_name,cell\nA,2125550101\nB,2125550102\n"))
    assert last_analyzed() == before  # two contacts: left to autovacuum
    import_contacts(db, campaign_id, csv_bytes("first_name,cell\nC,2125550103\nD,2125550104\nE,2125550105\n"))
    after = last_analyzed()
    assert after is not None and after != before

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app
from storage import Database
from storage.models import Contact, OptOut

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    """Output with table borders dropped and whitespace collapsed, so a row reads "label value"."""
    return " ".join(text.translate(str.maketrans("", "", "│┃")).split())


def count(url: str, model: type) -> int:
    db = Database(url)
    try:
        with db.read() as session:
            return session.scalar(select(func.count()).select_from(model))
    finally:
        db.dispose()


def make_campaign(title: str = "Spring canvass") -> None:
    result = run("campaign", "create", title)
    assert result.exit_code == 0, result.output


def test_help() -> None:
    for args in (("contacts", "import"), ("optout", "add"), ("optout", "import"), ("optout", "list")):
        result = run(*args, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_import_example_by_title(cli_db_url: str) -> None:
    make_campaign()
    result = run("contacts", "import", "Spring canvass", str(EXAMPLES / "contacts.csv"))
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "imported 23" in out
    assert "skipped: invalid cell 1" in out
    assert "skipped: duplicate in the file 1" in out
    assert "rows read 25" in out
    assert "{pollingPlace}" in out
    assert count(cli_db_url, Contact) == 23


def test_import_by_id_twice_counts_already_in_campaign(cli_db_url: str) -> None:
    make_campaign()
    assert run("contacts", "import", "1", str(EXAMPLES / "contacts.csv")).exit_code == 0
    result = run("contacts", "import", "1", str(EXAMPLES / "contacts.csv"))
    assert result.exit_code == 0, result.output
    assert "skipped: already in the campaign 23" in flat(result.stdout)
    assert count(cli_db_url, Contact) == 23


def test_refused_file_exits_1_with_the_line(cli_db_url: str, tmp_path: Path) -> None:
    make_campaign()
    bad = tmp_path / "bad.csv"
    bad.write_text("first_name,cell\nAna,2125550001\nBo,2125550002,extra\n", encoding="utf-8")
    result = run("contacts", "import", "Spring canvass", str(bad))
    assert result.exit_code == 1
    assert "line 3" in result.stderr and "expected 2 columns" in flat(result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    assert count(cli_db_url, Contact) == 0


def test_unknown_campaign_and_missing_file(cli_db_url: str, tmp_path: Path) -> None:
    result = run("contacts", "import", "Nope", str(EXAMPLES / "contacts.csv"))
    assert result.exit_code == 1 and "campaign" in result.stderr
    make_campaign()
    result = run("contacts", "import", "1", str(tmp_path / "missing.csv"))
    assert result.exit_code == 1 and "no file" in result.stderr


def test_optout_add_list_and_import(cli_db_url: str, tmp_path: Path) -> None:
    make_campaign()
    assert run("contacts", "import", "1", str(EXAMPLES / "contacts.csv")).exit_code == 0

    result = run("optout", "add", "(602) 555-0134", "--reason", "asked on the phone")
    assert result.exit_code == 0, result.output
    assert "opted out +16025550134" in flat(result.stdout)
    result = run("optout", "add", "602-555-0134")
    assert result.exit_code == 0 and "already opted out" in result.stdout

    result = run("optout", "add", "12345")
    assert result.exit_code == 1 and "not a valid phone number" in result.stderr

    sheet = tmp_path / "stops.csv"
    sheet.write_text("Phone,Note\n212-555-0101,STOP\n+1 415 555 0117,\nnope,\n", encoding="utf-8")
    result = run("optout", "import", str(sheet))
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "added 2" in out and "skipped: invalid cell 1" in out and "contacts closed in campaigns 2" in out

    result = run("optout", "list")
    assert result.exit_code == 0
    out = flat(result.stdout)
    assert (
        "+16025550134" in out and "+12125550101" in out and "+14155550117" in out
    )  # admins see whole numbers
    assert "asked on the phone" in out and "of 3" in out
    assert count(cli_db_url, OptOut) == 3

    db = Database(cli_db_url)
    with db.read() as session:
        closed = session.scalar(select(func.count()).select_from(Contact).where(Contact.opted_out.is_(True)))
    db.dispose()
    assert closed == 3


def test_optout_list_empty(cli_db_url: str) -> None:
    result = run("optout", "list")
    assert result.exit_code == 0 and "no opt-outs" in result.stdout

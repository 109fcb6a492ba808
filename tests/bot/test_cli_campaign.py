from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from core.campaigns import get_campaign
from core.orgs import default_organization
from storage import Database
from storage.models import Campaign, Contact
from tests.core.factories import add_contacts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result


def flat(text: str) -> str:
    """Rich wraps long lines to the terminal width: compare with whitespace collapsed."""
    return " ".join(text.split())


def test_every_command_has_help() -> None:
    for command in ("create", "list", "show", "apply", "export", "launch", "archive"):
        result = run("campaign", command, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_apply_list_show_export_round_trip(cli_db_url: str, tmp_path: Path) -> None:
    result = run("campaign", "apply", str(EXAMPLES / "campaign.yaml"))
    assert result.exit_code == 0, result.output
    assert "created draft campaign GOTV November (id 1)" in flat(result.stdout)

    result = run("campaign", "list")
    assert result.exit_code == 0
    assert "GOTV" in result.stdout and "draft" in result.stdout

    result = run("campaign", "show", "GOTV November")
    assert result.exit_code == 0, result.output
    shown = flat(result.stdout)
    for expected in (
        "09:00 to 21:00",
        "Q: Will they vote?",
        "Maybe →",
        "Q: Will they volunteer?",
        "Wrong number",
        "voter-protection",
        "Voter Protection",
        "needs_message",
        "{pollingPlace}",
    ):
        assert expected in shown, expected

    exported = run("campaign", "export", "1")
    assert exported.exit_code == 0
    assert exported.stdout.startswith("title: GOTV November\n")
    out = tmp_path / "out.yaml"
    result = run("campaign", "export", "GOTV November", "-o", str(out))
    assert result.exit_code == 0 and out.read_text(encoding="utf-8") == exported.stdout

    result = run("campaign", "apply", str(out))
    assert result.exit_code == 0 and "updated campaign GOTV November (id 1)" in flat(result.stdout)
    assert run("campaign", "export", "1").stdout == exported.stdout


def test_create_launch_archive_and_their_refusals(cli_db_url: str) -> None:
    result = run("campaign", "create", "Spring", "--initial", "Hi {firstName}", "--start", "10:00")
    assert result.exit_code == 0, result.output
    assert "created draft campaign Spring (id 1)" in flat(result.stdout)

    result = run("campaign", "create", "Spring")
    assert result.exit_code == 1
    assert "already exists" in flat(result.stderr)

    result = run("campaign", "create", "Other", "--end", "9pm")
    assert result.exit_code == 1 and "--end: bad time '9pm'" in flat(result.stderr)

    result = run("campaign", "create", "Other", "--initial", "Hi {frstName}")
    assert result.exit_code == 1 and "did you mean {firstName}?" in flat(result.stderr)

    result = run("campaign", "launch", "Spring")
    assert result.exit_code == 1
    assert "cannot launch 'Spring': it has no contacts" in flat(result.stderr)

    db = Database(cli_db_url)
    with db.session() as session:
        org_id = default_organization(session).id
        add_contacts(session, get_campaign(session, org_id, "Spring"), 3)
    db.dispose()

    result = run("campaign", "launch", "1")
    assert result.exit_code == 0 and "launched Spring" in result.stdout
    result = run("campaign", "launch", "1")
    assert result.exit_code == 1 and "already launched" in flat(result.stderr)

    result = run("campaign", "list")
    assert "│ Spring │ launched │        3 │       3 │" in result.stdout

    result = run("campaign", "archive", "Spring")
    assert result.exit_code == 0 and "archived Spring" in result.stdout
    result = run("campaign", "archive", "1")
    assert result.exit_code == 1 and "is archived" in flat(result.stderr)

    db = Database(cli_db_url)
    with db.read() as session:
        campaign = session.get(Campaign, 1)
        assert campaign.status == "archived" and campaign.hours_start == 600
        assert session.query(Contact).count() == 3
    db.dispose()


def test_unknown_campaign_is_refused_with_the_fix(cli_db_url: str) -> None:
    for command in ("show", "export", "launch", "archive"):
        result = run("campaign", command, "Nope")
        assert result.exit_code == 1
        assert "no campaign 'Nope': see `textbank campaign list`" in flat(result.stderr)


def test_bad_yaml_lists_every_problem_and_writes_nothing(cli_db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "title: X\nhours: {start: '25:00'}\nscript:\n  initial: '[bold]{nope}'\n", encoding="utf-8"
    )
    result = run("campaign", "apply", str(bad))
    assert result.exit_code == 1
    errors = flat(result.stderr)
    assert "bad.yaml line 2, hours.start: bad time '25:00'" in errors
    assert "bad.yaml line 4, script.initial: unknown placeholder {nope}" in errors
    result = run("campaign", "list")
    assert "no campaigns yet" in flat(result.stdout)


def test_unreadable_files_are_refused(cli_db_url: str, tmp_path: Path) -> None:
    result = run("campaign", "apply", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1 and "no file" in flat(result.stderr)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("title: Caf\xe9\n".encode("latin-1"))
    result = run("campaign", "apply", str(latin))
    assert result.exit_code == 1 and "is not UTF-8 text" in flat(result.stderr)


CONTACTS = (
    "first name,last name,cell,zip,pollingPlace\n"
    "Ana,Lopez,212-555-0101,10001,Main St Library\n"
    "Bo,Li,(602) 555-0102,85004,Central High\n"
    "Cy,Ray,not a phone,,Town Hall\n"
)


def test_demo_sets_up_a_campaign_and_can_run_again(cli_db_url: str, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(CONTACTS, encoding="utf-8")
    result = run("demo", "--contacts", str(contacts))
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "created draft campaign GOTV November (id 1)" in out
    assert "imported 2 of 3 contacts; skipped 1 invalid cell" in out
    assert "Q: Will they vote?" in out and "Contacts: 2" in out
    assert "textbank campaign launch 1" in out

    again = run("demo", "--contacts", str(contacts))
    assert again.exit_code == 0, again.output
    out = flat(again.stdout)
    assert "updated campaign GOTV November (id 1)" in out
    assert "imported 0 of 3 contacts; skipped 1 invalid cell, 2 already in the campaign" in out
    db = Database(cli_db_url)
    with db.read() as session:
        assert session.query(Campaign).count() == 1
        cells = sorted(c.cell for c in session.query(Contact))
        assert cells == ["+12125550101", "+16025550102"]
        assert session.get(Campaign, 1).custom_fields == ["pollingPlace"]
    db.dispose()


def test_demo_without_a_contacts_file_says_so(cli_db_url: str, tmp_path: Path) -> None:
    result = run("demo", "--contacts", str(tmp_path / "none.csv"))
    assert result.exit_code == 1
    assert "no contacts file" in flat(result.stderr) and "--contacts FILE.csv" in flat(result.stderr)


def test_demo_with_the_shipped_examples(cli_db_url: str) -> None:
    import re

    first = run("demo")
    assert first.exit_code == 0, first.output
    imported = int(re.search(r"imported (\d+) of (\d+) contacts", flat(first.stdout)).group(1))
    assert imported > 0
    second = run("demo")
    assert second.exit_code == 0, second.output
    assert "imported 0 of" in flat(second.stdout)
    assert f"{imported} already in the campaign" in flat(second.stdout)
    db = Database(cli_db_url)
    with db.read() as session:
        assert session.query(Contact).count() == imported
        campaign = session.get(Campaign, 1)
        # The script's {pollingPlace} is a column of the example CSV: every contact carries it.
        assert "pollingPlace" in campaign.custom_fields
        assert all(c.custom_fields.get("pollingPlace") for c in session.query(Contact))
    db.dispose()


def test_ids_and_numbers_past_every_bound_get_the_usual_answer(cli_db_url: str) -> None:
    assert run("campaign", "create", "Small").exit_code == 0
    for args in (
        ("campaign", "show", "99999999999999999999999"),
        ("campaign", "launch", "9223372036854775808"),
        ("campaign", "export", "²"),
        ("contacts", "export", "99999999999999999999999"),
    ):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert f"error: no campaign '{args[2]}'" in flat(result.output)
    result = run("optout", "list", "--limit", "99999999999999999999999")
    assert result.exit_code == 1
    assert "the limit must be a whole number from 1 to 10,000 (got 99999999999999999999999)" in flat(
        result.output
    )

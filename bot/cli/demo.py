"""``textbank demo``: a demo campaign from the example YAML and CSV, shown at once."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from bot.cli.campaign import apply_file, database, show_campaign
from bot.cli.common import console, fail, refusals, settings
from core.contacts_import import ImportSummary, import_contacts


def examples_dir() -> Path:
    """``examples/`` of the checkout textbank runs from, else of the current directory."""
    packaged = Path(__file__).resolve().parents[2] / "examples"
    return packaged if packaged.is_dir() else Path.cwd() / "examples"


SKIP_LABELS = {
    "invalid_cell": "invalid cell",
    "duplicate_in_file": "duplicate in the file",
    "opted_out": "opted out",
    "already_in_campaign": "already in the campaign",
}


def describe_import(summary: ImportSummary) -> str:
    skipped = ", ".join(
        f"{count} {SKIP_LABELS.get(reason, reason.replace('_', ' '))}"
        for reason, count in summary.skipped.items()
        if count
    )
    text = f"imported {summary.imported} of {summary.rows} contacts"
    return f"{text}; skipped {skipped}" if skipped else text


def demo(
    campaign_file: Path | None = typer.Option(
        None, "--campaign", help="Campaign YAML to apply (default examples/campaign.yaml)."
    ),
    contacts_file: Path | None = typer.Option(
        None, "--contacts", help="Contacts CSV to import (default examples/contacts.csv)."
    ),
) -> None:
    """Set up a demo: upgrade the database, apply the example campaign, import its contacts, show it.

    Safe to run again: the campaign is updated in place and contacts already in it are skipped.
    """
    campaign_file = campaign_file or examples_dir() / "campaign.yaml"
    contacts_file = contacts_file or examples_dir() / "contacts.csv"
    if not contacts_file.is_file():
        fail(f"no contacts file {escape(str(contacts_file))}: give one with --contacts FILE.csv")
    with database() as db:
        campaign_id, title, created = apply_file(db, campaign_file)
        verb = "created draft campaign" if created else "updated campaign"
        console.print(f"{verb} [bold]{escape(title)}[/] (id {campaign_id}) from {escape(str(campaign_file))}")

        with Progress(
            TextColumn("importing contacts"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("import", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total or None)

            with refusals():
                summary = import_contacts(
                    db, campaign_id, contacts_file, region=settings().default_region, progress=report
                )
        console.print(f"{describe_import(summary)} from {escape(str(contacts_file))}")

        with refusals(), db.read() as session:
            show_campaign(session, str(campaign_id))
    console.print(
        f"\nnext: [bold]textbank campaign launch {campaign_id}[/], then [bold]textbank run[/] "
        "with Slack configured (see README)"
    )

"""``textbank contacts``: import a CSV of contacts into a campaign."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from bot.cli.common import console, fail, open_database, refusals, settings
from core.campaigns import get_campaign
from core.contacts_import import SKIP_REASONS, ImportSummary, import_contacts
from core.orgs import default_organization

app = typer.Typer(help="Contacts: import a CSV into a campaign.", no_args_is_help=True)

REASON_LABELS = {
    "invalid_cell": "invalid cell",
    "duplicate_in_file": "duplicate in the file",
    "opted_out": "opted out",
    "already_in_campaign": "already in the campaign",
}


def summary_table(summary: ImportSummary, title: str) -> Table:
    table = Table(title=title, show_header=True)
    table.add_column("contacts")
    table.add_column("count", justify="right")
    table.add_row("[bold green]imported[/]", f"{summary.imported:,}")
    for reason in SKIP_REASONS:
        table.add_row(f"skipped: {REASON_LABELS[reason]}", f"{summary.skipped[reason]:,}")
    table.add_row("rows read", f"{summary.rows:,}", end_section=True)
    return table


@app.command("import")
def import_cmd(
    campaign: str = typer.Argument(..., metavar="CAMPAIGN", help="The campaign's id or exact title."),
    file: Path = typer.Argument(..., metavar="FILE.csv", help="UTF-8 CSV with a header line."),
    region: str | None = typer.Option(
        None,
        "--region",
        help="Country for numbers written without +country code (default TEXTBANK_DEFAULT_REGION or US).",
    ),
) -> None:
    """Import contacts: needs a first name and a cell column; every other column becomes a custom field.

    Invalid cells, numbers repeated in the file, opted-out numbers and numbers already in the campaign
    are skipped and counted. A malformed file is refused with its line number and nothing is imported.
    """
    if not file.is_file():
        fail(f"no file at {escape(str(file))}: give the path of a .csv file")
    db = open_database()
    try:
        with refusals():
            with db.session() as session:
                org_id = default_organization(session, settings().organization_name).id
                found = get_campaign(session, org_id, campaign)
                campaign_id, title = found.id, found.title
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("import", total=file.stat().st_size or None)

                def report(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total or None)

                summary = import_contacts(
                    db, campaign_id, file, region=region or settings().default_region, progress=report
                )
    finally:
        db.dispose()
    console.print(summary_table(summary, f"{escape(file.name)} → {escape(title)} (campaign {campaign_id})"))
    if summary.custom_fields:
        names = ", ".join("{" + name + "}" for name in summary.custom_fields)
        console.print(f"custom fields scripts can use: {escape(names)}", highlight=False)

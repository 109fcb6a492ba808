"""``textbank optout``: the organization's opt-out list (permanent: there is no remove)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import cli_actor, console, fail, open_database, refusals, settings
from core.optouts import add_optout, count_optouts, import_optouts, list_optouts
from core.orgs import default_organization

app = typer.Typer(
    help="Opt-outs: numbers no campaign of the organization will text again (permanent).",
    no_args_is_help=True,
)


@app.command("add")
def add_cmd(
    number: str = typer.Argument(..., metavar="NUMBER", help="The phone number, e.g. +12125550123."),
    reason: str = typer.Option("", "--reason", help="Why (kept with the opt-out)."),
) -> None:
    """Opt a number out: it is closed in every campaign and never texted again."""
    db = open_database()
    try:
        with refusals(), db.session() as session:
            actor = cli_actor(session)
            cell, added = add_optout(
                session,
                actor.organization_id,
                number,
                actor=actor,
                reason=reason,
                region=settings().default_region,
            )
    finally:
        db.dispose()
    if added:
        console.print(f"opted out [bold]{cell}[/] in every campaign", highlight=False)
    else:
        console.print(f"[bold]{cell}[/] was already opted out (its contacts are closed)", highlight=False)


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., metavar="FILE.csv", help="UTF-8 CSV with a cell/phone column."),
    reason: str = typer.Option("", "--reason", help="Why (kept with each new opt-out)."),
    region: str | None = typer.Option(
        None, "--region", help="Country for numbers written without +country code (default US)."
    ),
) -> None:
    """Opt out every number of a CSV (all or nothing; importing the same file again adds nothing)."""
    if not file.is_file():
        fail(f"no file at {escape(str(file))}: give the path of a .csv file")
    db = open_database()
    try:
        with refusals():
            with db.session() as session:
                org_id = default_organization(session, settings().organization_name).id
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                DownloadColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("import", total=file.stat().st_size or None)
                summary = import_optouts(
                    db,
                    org_id,
                    file,
                    region or settings().default_region,
                    reason=reason,
                    progress=lambda done, total: bar.update(task, completed=done, total=total or None),
                )
    finally:
        db.dispose()
    table = Table(title=f"opt-outs from {escape(file.name)}")
    table.add_column("numbers")
    table.add_column("count", justify="right")
    table.add_row("[bold green]added[/]", f"{summary.added:,}")
    table.add_row("already opted out", f"{summary.already:,}")
    table.add_row("skipped: invalid cell", f"{summary.invalid_cell:,}")
    table.add_row("skipped: duplicate in the file", f"{summary.duplicate_in_file:,}")
    table.add_row("rows read", f"{summary.rows:,}", end_section=True)
    table.add_row("contacts closed in campaigns", f"{summary.contacts_closed:,}")
    console.print(table)


@app.command("list")
def list_cmd(
    limit: int = typer.Option(50, "--limit", min=1, help="How many to show."),
    offset: int = typer.Option(0, "--offset", min=0, help="How many of the newest to skip."),
) -> None:
    """The opt-out list, newest first (whole numbers: the CLI is for admins)."""
    db = open_database()
    try:
        with refusals(), db.session() as session:
            actor = cli_actor(session)
            rows = list_optouts(session, actor.organization_id, actor=actor, limit=limit, offset=offset)
            total = count_optouts(session, actor.organization_id, actor=actor)
    finally:
        db.dispose()
    if not rows:
        console.print("no opt-outs" if total == 0 else f"no opt-outs past the first {total}")
        return
    table = Table(title=f"opt-outs {offset + 1}-{offset + len(rows)} of {total}")
    for name in ("number", "source", "reason", "when (UTC)"):
        table.add_column(name)
    for row in rows:
        table.add_row(row.cell, row.source, escape(row.reason or ""), f"{row.created_at:%Y-%m-%d %H:%M}")
    console.print(table)

"""``textbank contacts export CAMPAIGN [-o FILE]``: the campaign's contacts as CSV (answers, tags, fields).

Registered on the ``contacts`` typer app in ``bot/cli/__init__.py``. The person at the command line acts
as the organization's command-line owner (core.orgs.command_line_user, named after their login).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.markup import escape

from bot.cli.common import cli_actor, console, fail, open_database, refusals
from core.campaigns import get_campaign
from core.export import export_contacts_csv
from core.orgs import get_user


def export(
    campaign: str = typer.Argument(..., metavar="CAMPAIGN", help="The campaign's id or exact title."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Write a campaign's contacts as CSV: their fields, status, texter, answers per question and tags.

    Numbers are written whole (this is an admin's export). With -o the file appears only once complete.
    """
    db = open_database()
    try:
        with refusals():
            with db.session() as session:
                cli = cli_actor(session)
                actor_id, org_id = cli.id, cli.organization_id
                campaign_id = get_campaign(session, org_id, campaign).id
            with db.read() as session:
                actor = get_user(session, actor_id)
                found = get_campaign(session, org_id, str(campaign_id))
                if output is None:
                    count = export_contacts_csv(session, actor, found, sys.stdout)
                    sys.stdout.flush()
                    return
                part = output.with_name(output.name + ".part")
                try:
                    with part.open("w", encoding="utf-8", newline="") as out:
                        count = export_contacts_csv(session, actor, found, out)
                    os.replace(part, output)
                except OSError as exc:
                    part.unlink(missing_ok=True)
                    fail(f"cannot write {escape(str(output))}: {escape(exc.strerror or str(exc))}")
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
    finally:
        db.dispose()
    console.print(f"wrote {count:,} contacts of [bold]{escape(found.title)}[/] to {escape(str(output))}")

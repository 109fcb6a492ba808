"""``textbank db``: the schema."""

from __future__ import annotations

import typer

from bot.cli.common import console, open_database, settings
from storage.migrate import current_revision

app = typer.Typer(help="Database schema: apply migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Apply every pending migration to TEXTBANK_DATABASE_URL (safe to run again)."""
    db = open_database(migrate=True)
    db.dispose()
    console.print(f"database at revision [bold]{current_revision(settings().database_url)}[/]")

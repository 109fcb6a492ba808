"""The ``textbank`` command line (typer + rich)."""

from __future__ import annotations

import typer

from bot.cli import campaign, contacts, contacts_export, db, demo, optout, run, sms

app = typer.Typer(
    help="textbank: peer-to-peer texting for campaigns, run from Slack and Discord.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(campaign.app, name="campaign")
app.add_typer(contacts.app, name="contacts")
contacts.app.command("export")(contacts_export.export)
app.add_typer(optout.app, name="optout")
app.command("demo")(demo.demo)
app.command("run")(run.run)
app.add_typer(sms.app, name="sms")


def main() -> None:
    app()

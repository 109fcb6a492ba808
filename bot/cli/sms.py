"""``textbank sms``: try the texting loop without a Twilio account (the console gateway)."""

from __future__ import annotations

import typer
from rich.markup import escape

from bot.cli.common import console, open_database, refusals, settings
from bot.twilio.console import local_sid
from core.inbound import InboundResult, receive_inbound
from core.optouts import normalize_or_refuse

app = typer.Typer(help="SMS without Twilio: feed inbound texts to the console gateway.", no_args_is_help=True)


@app.command("receive")
def receive(
    text: str = typer.Argument(..., help="The text the contact sends."),
    from_: str = typer.Option(..., "--from", help="The contact's number, e.g. +12125550123."),
    to: str | None = typer.Option(
        None, "--to", help="Our number it was sent to (default: the configured one)."
    ),
) -> None:
    """Feed an inbound text through the same path as Twilio's webhook, and say what happened."""
    cfg = settings()
    service = cfg.twilio_messaging_service_sid or None
    ours = to or cfg.twilio_from_number or service or "console"
    with refusals():
        cell = normalize_or_refuse(from_, cfg.default_region)
    db = open_database()
    try:
        with refusals(), db.session() as session:
            result = receive_inbound(
                session,
                from_cell=cell,
                to=ours,
                body=text,
                provider_sid=local_sid("SMinbound"),
                messaging_service_sid=service if to is None else None,
            )
    finally:
        db.dispose()
    console.print(describe(result, cell), highlight=False)


def describe(result: InboundResult, cell: str) -> str:
    """Where the text went, naming the campaign as `textbank campaign list` shows it."""
    where = (
        f"campaign {result.campaign_title!r} (id {result.campaign_id}), contact {result.contact_id}, "
        f"message {result.message_id}"
    )
    if not result.stored:
        return escape(f"already stored: {where}")
    line = f"received from {cell} -> {where}"
    if result.opted_out:
        line += "; the number is opted out (no campaign will text it again)"
    elif result.unclaimed and result.campaign_kind == "adhoc":
        title = result.campaign_title
        line += (
            f"; nobody holds the conversation: it waits in the replies pool of {title!r} "
            "(the organization's ad-hoc texts; the admins were told), where a texter who joined it takes "
            f'it with Send Replies: post its join message with `/textbank link replies "{title}"`'
        )
    elif result.unclaimed:
        line += f"; nobody holds the conversation: it waits unassigned in {result.campaign_title!r}"
    return escape(line)

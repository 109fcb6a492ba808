"""TEXTBANK_SMS=console: texts printed and marked sent; `textbank sms receive` feeds a reply in."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from bot.config import get_settings
from bot.twilio.console import ConsoleGateway
from bot.twilio.sender import OutboxSender, SenderOptions
from storage.models import Message
from tests.bot.twilio import helpers as h


async def test_console_gateway_prints_and_marks_sent(db, org_id) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    cell = h.contact(db, contacts[0]).cell
    message_id = h.queue_text(db, contacts[0], user_id, "Hi from the console")
    out = io.StringIO()
    sender = OutboxSender(db, ConsoleGateway(Console(file=out, width=120)), SenderOptions(poll_interval=0.05))
    await sender.start()
    try:
        await sender.drain(60)
    finally:
        await sender.stop()
    row = h.message(db, message_id)
    assert row.status == "sent" and row.provider_sid.startswith("SMconsole") and len(row.provider_sid) == 34
    printed = out.getvalue()
    assert "Hi from the console" in printed and cell in printed and row.provider_sid in printed


@pytest.fixture
def cli_env(db_url, monkeypatch):
    monkeypatch.setenv("TEXTBANK_DATABASE_URL", db_url)
    monkeypatch.setenv("TEXTBANK_SMS", "console")
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_MESSAGING_SERVICE_SID",
        "TWILIO_FROM_NUMBER",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_sms_receive_feeds_a_reply_and_a_stop(db, org_id, cli_env) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    with db.session() as session:
        session.get(Message, message_id).status = "sent"
    cell = h.contact(db, contacts[0]).cell
    runner = CliRunner()
    result = runner.invoke(app, ["sms", "receive", "--from", cell, "Who is this?"])
    assert result.exit_code == 0, result.output
    assert f"contact {contacts[0]}" in result.output
    assert h.contact(db, contacts[0]).status == "needs_response"
    result = runner.invoke(app, ["sms", "receive", "--from", cell, "STOP"])
    assert result.exit_code == 0 and "opted out" in result.output
    assert h.contact(db, contacts[0]).opted_out
    with db.read() as session:
        bodies = list(
            session.scalars(select(Message.body).where(Message.direction == "in").order_by(Message.id))
        )
    assert bodies == ["Who is this?", "STOP"]


def test_sms_receive_refuses_a_bad_number(db, cli_env) -> None:
    result = CliRunner().invoke(app, ["sms", "receive", "--from", "12", "hi"])
    assert result.exit_code == 1
    assert "not a valid phone number" in result.output
    with db.read() as session:
        assert session.scalar(select(Message.id)) is None


def test_sms_receive_from_an_unknown_number_says_where_it_waits_by_a_listed_name(
    db, org_id, cli_env, monkeypatch
) -> None:
    from bot.cli.common import console

    monkeypatch.setattr(console, "width", 200)  # the list's title cell is not folded or cut
    runner = CliRunner()
    result = runner.invoke(app, ["sms", "receive", "--from", "+13125550166", "Who is this?"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "-> campaign 'ad-hoc texts' (id " in said
    assert "waits in the replies pool of 'ad-hoc texts'" in said and "the admins were told" in said
    assert '/textbank link replies "ad-hoc texts"' in said
    listed = runner.invoke(app, ["campaign", "list"])
    assert listed.exit_code == 0, listed.output
    assert "ad-hoc texts" in listed.output

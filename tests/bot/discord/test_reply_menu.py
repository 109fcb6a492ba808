"""A conversation thread's control message on Discord: the menu (canned response, tag, escalate, opt out,
close) and the Edit modal, each redrawing the control message in place with what happened."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.discord.component import DiscordComponent
from core.inbound import receive_inbound
from storage import Database
from storage.models import Contact, ContactTag, OptOut, ReplyDraft
from storage.models import Message as Text
from tests.bot.discord.conftest import TEXTER
from tests.bot.discord.standin import CHANNEL_ID, OWNER_ID, DiscordStandIn
from tests.bot.discord.test_conversations import control_select
from tests.bot.discord.test_end_to_end import button, labels, posted_after, thread_ready
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_texting import ask, click
from tests.bot.slack.test_admin import CAMPAIGN_YAML

ANN = "+12125550101"
MENU_YAML = (
    CAMPAIGN_YAML
    + """\
canned_responses:
  - title: Polling place
    text: "Find your polling place at vote.example.org, {firstName}."
tags:
  - name: Volunteer
"""
)


@dataclass
class Conversation:
    contact_id: int
    thread: str
    control: dict[str, Any]


async def conversation(db: Database, api: DiscordStandIn, tmp_path: Path) -> Conversation:
    """Tess texted Ann and Ann replied: her private thread with its control message."""
    await launched(db, api, tmp_path, MENU_YAML)
    await ask(api, OWNER_ID, "threads", "channel")
    await ask(api, OWNER_ID, "link", "initials", options={"campaign": "Test Drive"})
    join = api.message(api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    await click(api, TEXTER, join, "Join")
    card = api.message(api.find("POST", rf"/channels/{TEXTER + 1}/messages")[-1])
    assert "Sent to Ann" in (await click(api, TEXTER, card, "Send")).text
    with db.session() as session:
        session.execute(update(Text).values(status="sent"))
        received = receive_inbound(
            session, from_cell=ANN, to="+15005550006", body="Yes I will!", provider_sid="SM-in-1"
        )
    thread = await thread_ready(api, "Ann")
    control = api.message(api.find("POST", rf"/channels/{thread}/messages")[-1])
    assert "Edit" in labels(control)
    return Conversation(received.contact_id, thread, control)


async def pick(api: DiscordStandIn, user: int, control: dict[str, Any], option: str) -> dict[str, Any]:
    """Choose ``option`` in the control message's menu; the control message as redrawn in place."""
    menu = control_select(control, "more")
    chosen = next((o for o in menu["options"] if o["label"] == option), None)
    assert chosen is not None, [o["label"] for o in menu["options"]]
    before = len(api.calls)
    await api.click(user, control, menu["custom_id"], values=[chosen["value"]])
    call = await api.wait_call(
        "PATCH", rf"/channels/{control['channel_id']}/messages/{control['id']}", before
    )
    return api.message(call)


def said(message: dict[str, Any]) -> str:
    return (message["content"] or "") + json.dumps(message["embeds"], ensure_ascii=False)


def selects(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"] if c["type"] == 3]


async def test_a_canned_response_becomes_the_reply_and_send_texts_it(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    c = await conversation(db, discord_api, tmp_path)
    menu = control_select(c.control, "more")
    assert any(o["label"] == "Polling place" and o.get("description") for o in menu["options"])
    redrawn = await pick(discord_api, TEXTER, c.control, "Polling place")
    assert "Canned response: Polling place" in said(redrawn)
    assert "Find your polling place at vote.example.org, Ann." in said(redrawn)
    before = len(discord_api.calls)
    await discord_api.click(TEXTER, redrawn, button(redrawn, "Send")["custom_id"])
    await discord_api.wait_for(lambda s: posted_after(s, before, c.thread, "vote.example.org"))
    with db.read() as session:
        outs = list(session.scalars(select(Text.body).where(Text.direction == "out").order_by(Text.id)))
    assert outs[-1] == "Find your polling place at vote.example.org, Ann."


@pytest.mark.parametrize(
    ("option", "note", "stays_open"),
    [
        ("Volunteer", "Tagged **Ann**", True),
        ("Escalate to an admin", "Escalated **Ann**", False),
        ("Opt out", "Opted out **Ann**", False),
        ("Close", "Closed the conversation with **Ann**", False),
    ],
)
async def test_each_menu_action_runs_in_core_and_says_what_happened_in_place(
    bot: DiscordComponent,
    discord_api: DiscordStandIn,
    db: Database,
    tmp_path: Path,
    option: str,
    note: str,
    stays_open: bool,
) -> None:
    c = await conversation(db, discord_api, tmp_path)
    redrawn = await pick(discord_api, TEXTER, c.control, option)
    text = said(redrawn)
    assert note in text and "Test Drive" in text, text
    assert ANN not in text and "0101" in text  # the texter sees the number masked
    has_answer = any(s.startswith("tb_sel|tb_answer") for s in selects(redrawn))
    assert has_answer is stays_open and ("Edit" in labels(redrawn)) is stays_open
    with db.read() as session:
        contact = session.get(Contact, c.contact_id)
        assert contact is not None
        tagged = session.scalar(select(func.count()).select_from(ContactTag))
        opted = session.scalar(select(func.count()).select_from(OptOut).where(OptOut.cell == ANN))
        state = (contact.status, contact.escalated, contact.opted_out, contact.assigned_user_id is None)
    expected = {
        "Volunteer": ("needs_response", False, False, False),
        "Escalate to an admin": ("needs_response", True, False, True),
        "Opt out": ("closed", False, True, False),
        "Close": ("closed", False, False, False),
    }[option]
    assert state == expected
    assert tagged == (1 if option == "Volunteer" else 0) and opted == (1 if option == "Opt out" else 0)
    if option == "Volunteer":  # applied once: shown, and no longer offered
        assert "Tags: Volunteer" in text
        assert "Volunteer" not in [o["label"] for o in control_select(redrawn, "more")["options"]]


async def edit_modal(api: DiscordStandIn, user: int, control: dict[str, Any]) -> dict[str, Any]:
    """Click Edit: the modal Discord was asked to open (callback type 9)."""
    before = len(api.calls)
    await api.click(user, control, button(control, "Edit")["custom_id"])
    modal = await api.wait_call("POST", r"/interactions/\d+/.+/callback", before)
    assert modal.body["type"] == 9
    return modal.body["data"]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [("   ", "the text is empty"), ("x" * 1601, "the text is 1601 characters: keep it to 1600")],
)
async def test_the_edit_modal_refuses_an_empty_or_too_long_text_with_the_reason(
    bot: DiscordComponent,
    discord_api: DiscordStandIn,
    db: Database,
    tmp_path: Path,
    typed: str,
    reason: str,
) -> None:
    c = await conversation(db, discord_api, tmp_path)
    modal = await edit_modal(discord_api, TEXTER, c.control)
    assert len(modal["title"]) <= 45
    (field,) = modal["components"][0]["components"]
    # Discord's client holds the text to these already; a forged submission is refused below.
    assert field["required"] is True and field["max_length"] == 1600 and field["style"] == 2
    before = len(discord_api.calls)
    await discord_api.submit(TEXTER, modal["custom_id"], {field["custom_id"]: typed}, message=c.control)
    patched = await discord_api.wait_call(
        "PATCH", rf"/channels/{c.thread}/messages/{c.control['id']}", before
    )
    redrawn = discord_api.message(patched)
    assert reason in said(redrawn), said(redrawn)
    assert "Send" not in labels(redrawn) and "Edit" in labels(redrawn)  # still nothing to send
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ReplyDraft)) == 0


async def test_an_edit_replaces_the_prepared_reply_and_a_second_edit_starts_from_it(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    c = await conversation(db, discord_api, tmp_path)
    answers = control_select(c.control, "answer")
    yes = next(o for o in answers["options"] if o["label"] == "Yes")
    before = len(discord_api.calls)
    await discord_api.click(TEXTER, c.control, answers["custom_id"], values=[yes["value"]])
    filled = discord_api.message(
        await discord_api.wait_call("PATCH", rf"/channels/{c.thread}/messages/{c.control['id']}", before)
    )
    modal = await edit_modal(discord_api, TEXTER, filled)
    (field,) = modal["components"][0]["components"]
    assert field["value"] == "Great, thanks Ann!"
    before = len(discord_api.calls)
    await discord_api.submit(
        TEXTER, modal["custom_id"], {field["custom_id"]: "  Thank you, Ann!  "}, message=filled
    )
    edited = discord_api.message(
        await discord_api.wait_call("PATCH", rf"/channels/{c.thread}/messages/{c.control['id']}", before)
    )
    assert "Thank you, Ann!" in said(edited) and "Great, thanks Ann!" not in said(edited)
    again = await edit_modal(discord_api, TEXTER, edited)
    assert again["components"][0]["components"][0]["value"] == "Thank you, Ann!"  # stripped, kept
    with db.read() as session:
        assert session.scalar(select(ReplyDraft.body)) == "Thank you, Ann!"

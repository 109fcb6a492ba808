"""Authorization on Discord, as on Slack: a texter is refused every admin command, and another texter's
buttons (a card's Send, a conversation's answer, Send, Edit and menu) change nothing and say why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discord import AppCommandOptionType, app_commands
from sqlalchemy import select

from bot.discord.component import DiscordComponent
from storage import Database
from storage.models import Base
from storage.models import Message as Text
from tests.bot.discord.conftest import TEXTER, TEXTER2
from tests.bot.discord.standin import APP_ID, CHANNEL_ID, OWNER_ID, DiscordStandIn
from tests.bot.discord.test_conversations import control_select
from tests.bot.discord.test_end_to_end import button, posted_after
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_reply_menu import conversation
from tests.bot.discord.test_texting import ask, click
from tests.bot.slack.test_admin import CAMPAIGN_YAML, CONTACTS_CSV

TEXTER_COMMANDS = {"help", "text", "dashboard", "done"}
# A value for every option a command has (optional ones too: each tries to change something).
VALUES: dict[str, Any] = {
    "campaign": "Test Drive",
    "team": "Blue",
    "number": "(212) 555-0199",
    "code": "ABCD-EFGH",
    "status": "all",
    "page": 1,
    "count": 1,
    "maximum": 1,
    "dynamic_initials": False,
    "initials_batch_size": 7,
    "replies_before_initials": True,
    "max_initials_per_texter": 3,
    "dynamic_replies": True,
    "replies_batch_size": 3,
    "release_unhandled_after_minutes": 5,
}


def admin_commands(bot: DiscordComponent) -> list[app_commands.Command[Any, ..., Any]]:
    """Every ``/textbank`` subcommand but the texter's own, read from the command tree itself."""
    (group,) = bot.bot.tree.get_commands()
    assert isinstance(group, app_commands.Group)
    return [
        c
        for c in group.walk_commands()
        if isinstance(c, app_commands.Command) and c.qualified_name.split()[-1] not in TEXTER_COMMANDS
    ]


def everything(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what a refused command must leave as it was."""
    with db.read() as session:
        return {
            table.name: sorted(map(tuple, session.execute(select(table)).all()), key=repr)
            for table in Base.metadata.sorted_tables
        }


async def test_a_texter_is_refused_every_admin_command_and_nothing_changes(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    api = discord_api
    await launched(db, api, tmp_path)
    await ask(api, TEXTER, "help")
    await ask(api, TEXTER2, "help")  # a member textbank knows, named in assign, max, admin add
    commands = admin_commands(bot)
    assert len(commands) >= 20, [c.qualified_name for c in commands]
    before_rows = everything(db)
    before = len(api.calls)
    asked = []
    for command in commands:
        path = command.qualified_name.split()[1:]
        options: dict[str, Any] = {}
        members: dict[str, int] = {}
        attachments: dict[str, dict[str, Any]] = {}
        for p in command.parameters:
            if p.type is AppCommandOptionType.user:
                members[p.name] = TEXTER2
            elif p.type is AppCommandOptionType.attachment:
                data = CAMPAIGN_YAML if path == ["campaign", "apply"] else CONTACTS_CSV
                attachments[p.name] = api.add_attachment(f"{'-'.join(path)}.txt", data.encode())
            else:
                options[p.name] = VALUES[p.name]
        variants = [options, {}] if path == ["connect"] else [options]  # enter a code, or ask for one
        for given in variants:
            answer = await ask(api, TEXTER, *path, options=given, members=members, attachments=attachments)
            asked.append(" ".join(path))
            assert "only an admin" in answer.text, (path, answer.text)
    assert len(asked) == len(commands) + 1
    after = api.calls[before:]
    # Refused before anything: no form opened, nothing posted in a channel, no file read or sent.
    assert not [c for c in after if (c.body or {}).get("type") == 9]
    assert not api.find("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert not [c for c in after if c.files]
    assert everything(db) == before_rows


async def test_another_texter_cannot_send_from_my_card(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    api = discord_api
    await launched(db, api, tmp_path)
    await ask(api, OWNER_ID, "link", "initials", options={"campaign": "Test Drive"})
    join = api.message(api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    await click(api, TEXTER, join, "Join")  # Tess holds both contacts
    await click(api, TEXTER2, join, "Join")  # Theo joins too, with nothing left
    card = api.message(api.find("POST", rf"/channels/{TEXTER + 1}/messages")[-1])
    rows = everything(db)
    # Theo presses Tess's Send (a forged or replayed click, from his own DM): nothing is sent or claimed.
    forged = {**card, "id": str(api.new_id()), "channel_id": str(TEXTER2 + 1)}
    answer = await click(api, TEXTER2, forged, "Send")
    assert "Not sent" in answer.text and "Ann" not in answer.text.replace("Not sent", "")
    assert everything(db) == rows
    sent = await click(api, TEXTER, card, "Send")  # Tess's own click still sends
    assert "Sent to Ann" in sent.text


async def test_another_texter_cannot_use_my_conversation_controls(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    api = discord_api
    c = await conversation(db, api, tmp_path)
    await ask(api, TEXTER2, "help")
    # Tess picks Yes: her draft is ready to send.
    answers = control_select(c.control, "answer")
    yes = next(o for o in answers["options"] if o["label"] == "Yes")
    before = len(api.calls)
    await api.click(TEXTER, c.control, answers["custom_id"], values=[yes["value"]])
    control = api.message(
        await api.wait_call("PATCH", rf"/channels/{c.thread}/messages/{c.control['id']}", before)
    )
    rows = everything(db)
    before = len(api.calls)

    # Theo (a forged client: the thread is private) clicks each of Tess's controls.
    tokens = [await api.click(TEXTER2, control, answers["custom_id"], values=[yes["value"]])]
    tokens.append(await api.click(TEXTER2, control, button(control, "Send")["custom_id"]))
    menu = control_select(control, "more")
    for option in menu["options"]:
        tokens.append(await api.click(TEXTER2, control, menu["custom_id"], values=[option["value"]]))
    edit = await api.click(TEXTER2, control, button(control, "Edit")["custom_id"])
    tokens.append(edit)
    edit_id = button(control, "Edit")["custom_id"]
    tokens.append(await api.submit(TEXTER2, edit_id, {"body": "hijacked"}, message=control))
    for token in tokens:
        told = await api.wait_for(lambda s, t=token: said_to(s, t, before))
        assert "not yours" in told.text and (told.body.get("data") or told.body)["flags"] == 64, told
    # Tess's thread is as it was: nothing posted, edited or deleted in it; nothing sent, nothing recorded,
    # and no form opened for Theo.
    assert not [x for x in api.calls[before:] if x.path.startswith(f"/channels/{c.thread}")]
    assert not [x for x in api.calls[before:] if (x.body or {}).get("type") == 9]
    assert everything(db) == rows
    # Her controls still work: her Send sends her reply.
    before = len(api.calls)
    await api.click(TEXTER, control, button(control, "Send")["custom_id"])
    await api.wait_for(lambda s: posted_after(s, before, c.thread, "Great, thanks Ann!"))
    with db.read() as session:
        outs = list(session.scalars(select(Text.body).where(Text.direction == "out")))
    assert outs.count("Great, thanks Ann!") == 1 and "hijacked" not in outs


def said_to(api: DiscordStandIn, token: str, after: int) -> Any:
    """What the clicker was told: an ephemeral message (follow-up, edit or callback) of that interaction."""
    for call in api.calls[after:]:
        if token in call.path and call.path.startswith((f"/webhooks/{APP_ID}/", "/interactions/")):
            body = call.body or {}
            data = body.get("data") if "type" in body else body
            if isinstance(data, dict) and (data.get("content") or data.get("embeds")):
                return call
    return None

"""Discord's limits and rules: autocomplete, 429s waited out, custom_id length, other texters' buttons."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.chat import actions as A
from bot.chat.actions import MAX_ENCODED, ActionTooLong, act
from bot.chat.texts import listing
from bot.chat.views import Button, Controls, Message, Option, OptionGroup, Select
from bot.discord.component import DiscordComponent
from bot.discord.render import render
from core import campaign_yaml, campaigns, orgs
from core.contacts_import import import_contacts
from storage import Database
from storage.models import Message as Text
from storage.models import User
from tests.bot.discord.conftest import ADMIN, TEXTER, TEXTER2
from tests.bot.discord.standin import CHANNEL_ID, OWNER_ID, DiscordStandIn
from tests.bot.discord.test_texting import ask, click
from tests.bot.slack.test_admin import CAMPAIGN_YAML


async def launched(db: Database, api: DiscordStandIn, tmp_path: Path, script: str = CAMPAIGN_YAML) -> None:
    """The owner enters first (owns the organization); a launched campaign with two contacts."""
    await ask(api, OWNER_ID, "help")
    with db.session() as session:
        org = orgs.default_organization(session)
        operator = orgs.command_line_user(session, org, "tests")
        campaign, _ = campaign_yaml.apply_campaign_yaml(session, org.id, script, actor=operator)
        campaign_id = campaign.id
    csv = tmp_path / "contacts.csv"
    csv.write_text("first name,cell\nAnn,+12125550101\nBob,+12125550102\n")
    assert import_contacts(db, campaign_id, csv).imported == 2
    with db.session() as session:
        org = orgs.default_organization(session)
        campaigns.launch_campaign(
            session,
            campaigns.get_campaign(session, org.id, str(campaign_id)),
            actor=orgs.command_line_user(session, org, "tests"),
        )


async def test_campaign_names_autocomplete_for_admins_only(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    await launched(db, discord_api, tmp_path)
    for user, expected in ((OWNER_ID, ["Test Drive"]), (TEXTER, [])):
        before = len(discord_api.calls)
        token = await discord_api.autocomplete(user, "launch", option="campaign", typed="test")
        call = await discord_api.answer(token, before)
        assert call.body["type"] == 8
        assert [c["name"] for c in call.body["data"]["choices"]] == expected


async def test_a_429_is_waited_out_and_the_post_goes_through(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    await launched(db, discord_api, tmp_path)
    discord_api.rate_limit(rf"/channels/{CHANNEL_ID}/messages", times=2, retry_after=0.05)
    answer = await ask(discord_api, OWNER_ID, "link", "initials", options={"campaign": "Test Drive"})
    assert "Posted the join message" in answer.text
    posts = [c.method for c in discord_api.calls if c.path == f"/channels/{CHANNEL_ID}/messages"]
    assert posts == ["429 POST", "429 POST", "POST"]


async def test_another_texter_cannot_send_a_texters_contact(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    await launched(db, discord_api, tmp_path)
    await ask(discord_api, OWNER_ID, "link", "initials", options={"campaign": "Test Drive"})
    join = discord_api.message(discord_api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    await click(discord_api, TEXTER, join, "Join")
    card = discord_api.message(discord_api.find("POST", rf"/channels/{TEXTER + 1}/messages")[-1])
    await ask(discord_api, TEXTER2, "help")  # Theo is a member textbank knows
    # Theo presses Tess's Send (a forged or replayed click): core judges the contact not his.
    answer = await click(discord_api, TEXTER2, {**card, "channel_id": str(TEXTER2 + 1)}, "Send")
    assert "Not sent" in answer.text
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Text)) == 0


def test_custom_ids_hold_ids_only_and_never_pass_100_characters() -> None:
    longest = act(A.SEND_INITIAL, c=10**12, s="needs_message", k=10**9)
    message = Message("card", "x", (Controls((Button("Send", longest),)),))
    (button,) = render(message).view.children
    assert button.custom_id == longest.encode() and len(longest.encode()) <= MAX_ENCODED
    with pytest.raises(ActionTooLong):
        act(A.SEND_INITIAL, c=1, t="x" * 100)


async def test_manage_server_makes_an_admin_and_the_owner_owns(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database
) -> None:
    await ask(discord_api, TEXTER, "help")  # a plain member first: still a texter (Discord issue, Roles)
    await ask(discord_api, ADMIN, "help")  # the first with Manage Server owns the organization
    await ask(discord_api, OWNER_ID, "help")  # the server's owner, after them: an admin
    await ask(discord_api, TEXTER2, "help")
    with db.read() as session:
        roles = {name: role for name, role in session.execute(select(User.name, User.role))}
    assert roles == {
        "Tess Texter": "texter",
        "Ada Admin": "owner",
        "Olive Owner": "admin",
        "Theo Texter": "texter",
    }


def test_a_long_list_stays_within_an_embed_and_says_how_many_more() -> None:
    message = listing("Review", [f"`+1212555{i:04d}` " + "x" * 300 for i in range(400)])
    (embed,) = render(message).embeds
    assert embed.description is not None and len(embed.description) <= 4096
    assert embed.description.endswith("more") and len(embed) <= 6000


def test_a_select_of_many_options_is_paged_in_rows_of_25_within_5_rows() -> None:
    options = tuple(Option(f"canned {i}", act(A.MENU, c=1, x="canned", i=i)) for i in range(60))
    select = Select("menu", "More", (OptionGroup("", options),))
    buttons = tuple(Button(str(i), act(A.REPLY_SEND, c=1, m=i)) for i in range(7))
    view = render(Message("control", "x", (Controls(buttons), Controls((select,))))).view
    rows: dict[int, list] = {}
    for item in view.children:
        rows.setdefault(item.row, []).append(item)
    assert len(rows) <= 5 and all(len(r) <= 5 for r in rows.values())
    menus = [i for i in view.children if hasattr(i, "options")]
    assert [len(m.options) for m in menus] == [25, 25, 10]
    assert menus[1].placeholder == "More (2/3)"
    assert all(len(o.value) <= 100 and len(o.label) <= 100 for m in menus for o in m.options)

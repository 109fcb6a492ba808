"""Discord's limits and rules: autocomplete, 429s waited out, custom_id length, other texters' buttons."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.discord.commands import lines_embed
from bot.discord.component import DiscordComponent
from bot.discord.components import MAX_CUSTOM_ID, CustomIdTooLong, custom_id
from core import campaign_yaml, campaigns, orgs
from core.contacts_import import import_contacts
from storage import Database
from storage.models import Message, User
from tests.bot.discord.conftest import ADMIN, TEXTER, TEXTER2
from tests.bot.discord.standin import CHANNEL_ID, OWNER_ID, DiscordStandIn
from tests.bot.discord.test_texting import ask, click
from tests.bot.slack.test_admin import CAMPAIGN_YAML


async def launched(db: Database, api: DiscordStandIn, tmp_path: Path) -> None:
    """The owner enters first (owns the organization); a launched campaign with two contacts."""
    await ask(api, OWNER_ID, "help")
    with db.session() as session:
        campaign, _ = campaign_yaml.apply_campaign_yaml(
            session, orgs.default_organization(session).id, CAMPAIGN_YAML
        )
        campaign_id = campaign.id
    csv = tmp_path / "contacts.csv"
    csv.write_text("first name,cell\nAnn,+12125550101\nBob,+12125550102\n")
    assert import_contacts(db, campaign_id, csv).imported == 2
    with db.session() as session:
        campaigns.launch_campaign(
            session, campaigns.get_campaign(session, orgs.default_organization(session).id, str(campaign_id))
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
    card = discord_api.message(await click(discord_api, TEXTER, card, "Request More"))
    # Theo presses Tess's Send (a forged or replayed click): core judges the contact not his.
    answer = await click(discord_api, TEXTER2, {**card, "channel_id": str(TEXTER2 + 1)}, "Send")
    assert "Not sent" in answer.text
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_custom_ids_hold_ids_only_and_never_pass_100_characters() -> None:
    guild = "9" * 20
    longest = custom_id("send_initial", c=10**12, s="needs_message", k=10**9, g=guild)
    assert len(longest) <= MAX_CUSTOM_ID
    with pytest.raises(CustomIdTooLong):
        custom_id("send_initial", c=1, note="x" * 100)


async def test_manage_server_makes_an_admin_and_the_owner_owns(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database
) -> None:
    await ask(discord_api, TEXTER, "help")  # a plain member first: no chat admin yet, so they own it
    await ask(discord_api, ADMIN, "help")  # Manage Server: an admin
    await ask(discord_api, OWNER_ID, "help")  # the server's owner: an admin too (nobody is demoted)
    await ask(discord_api, TEXTER2, "help")
    with db.read() as session:
        roles = {name: role for name, role in session.execute(select(User.name, User.role))}
    assert roles == {
        "Tess Texter": "owner",
        "Ada Admin": "admin",
        "Olive Owner": "admin",
        "Theo Texter": "texter",
    }


def test_a_long_list_stays_within_an_embed_and_says_how_many_more() -> None:
    embed = lines_embed("Review", [f"`+1212555{i:04d}` " + "x" * 300 for i in range(400)])
    assert embed.description is not None and len(embed.description) <= 4096
    assert embed.description.endswith("more") and len(embed) <= 6000

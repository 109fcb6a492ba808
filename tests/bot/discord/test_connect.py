"""The bot against the stand-in: login, the gateway from GET /gateway/bot, command sync, /textbank help."""

from __future__ import annotations

from bot.discord.component import DiscordComponent
from tests.bot.discord.conftest import TEXTER
from tests.bot.discord.standin import APP_ID, OWNER_ID, DiscordStandIn


async def test_connects_syncs_and_answers_help(bot: DiscordComponent, discord_api: DiscordStandIn) -> None:
    paths = [c.path for c in discord_api.calls]
    assert paths[:3] == ["/users/@me", "/oauth2/applications/@me", "/gateway/bot"] or "/gateway/bot" in paths
    sync = discord_api.find("PUT", rf"/applications/{APP_ID}/commands")[0]
    (group,) = sync.body
    assert group["name"] == "textbank"
    names = {o["name"] for o in group["options"]}
    assert {
        "help",
        "campaign",
        "contacts",
        "launch",
        "link",
        "stats",
        "review",
        "export",
        "optout",
        "done",
    } <= names

    before = len(discord_api.calls)
    token = await discord_api.slash(OWNER_ID, "help")
    answer = await discord_api.answer(token, before)
    assert "/textbank launch" in answer.text and "/textbank done" in answer.text

    before = len(discord_api.calls)
    token = await discord_api.slash(TEXTER, "help")
    answer = await discord_api.answer(token, before)
    assert "/textbank done" in answer.text and "/textbank launch" not in answer.text


def descriptions(option: dict) -> list[str]:
    """The descriptions of a command and of all its options, nested."""
    return [option["description"], *(d for o in option.get("options", []) for d in descriptions(o))]


async def test_connect_gives_a_code_and_a_second_server_cannot_use_it_twice(
    bot: DiscordComponent, discord_api: DiscordStandIn
) -> None:
    from tests.bot.discord.test_texting import ask

    await ask(discord_api, OWNER_ID, "help")
    issued = await ask(discord_api, OWNER_ID, "connect")
    assert "Connect code for" in issued.text and "single use" in issued.text
    refused = await ask(discord_api, TEXTER, "connect")  # a texter gets no code
    assert "🚫" in refused.text
    wrong = await ask(discord_api, OWNER_ID, "connect", options={"code": "AAAA-BBBB-CCCC"})
    assert "that connect code is wrong" in wrong.text

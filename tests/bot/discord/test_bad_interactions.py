"""Arbitrary interactions over the gateway: any command text, any button or select id, any form values.

Whatever a member (or a forged client) sends, the bot answers or ignores it: never an unhandled exception
in the log, and a slash command always gets an answer.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.discord.component import DiscordComponent
from tests.bot.discord.conftest import ADMIN, TEXTER
from tests.bot.discord.standin import OWNER_ID, DiscordStandIn

PROPERTY = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
WORD = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["Test Drive", "0", "-1", "999999999999999999999999", "²", "none", '"', "\x00"]),
)
USER = st.sampled_from([OWNER_ID, ADMIN, TEXTER])
# Subcommands whose only required option is the campaign (a string Discord passes through as typed).
ON_CAMPAIGN = st.sampled_from([("stats",), ("launch",), ("archive",), ("texters",), ("export",)])


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@PROPERTY
@given(path=ON_CAMPAIGN, campaign=WORD, user=USER)
async def test_any_campaign_text_gets_an_answer_and_no_traceback(
    bot: DiscordComponent,
    discord_api: DiscordStandIn,
    caplog: pytest.LogCaptureFixture,
    path: tuple[str, ...],
    campaign: str,
    user: int,
) -> None:
    caplog.clear()
    before = len(discord_api.calls)
    token = await discord_api.slash(user, *path, options={"campaign": campaign})
    answer = await discord_api.answer(token, before)
    assert answer.text.strip()
    assert problems(caplog) == []


CUSTOM_ID = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda name, rest: f"tb_{name}|{rest}",
        st.sampled_from(["join", "send", "more", "done", "x", ""]),
        st.text(max_size=40),
    ),
    st.builds(lambda rest: "tb_" + rest, st.text(max_size=60)),
).filter(lambda s: 0 < len(s) <= 100)


@PROPERTY
@given(
    custom_id=CUSTOM_ID,
    values=st.one_of(st.none(), st.lists(st.text(max_size=20), max_size=3)),
    fields=st.dictionaries(st.sampled_from(["title", "body", "n", "x"]), st.text(max_size=20), max_size=2),
    user=USER,
)
async def test_any_component_or_form_gets_no_traceback(
    bot: DiscordComponent,
    discord_api: DiscordStandIn,
    caplog: pytest.LogCaptureFixture,
    custom_id: str,
    values: list[str] | None,
    fields: dict[str, str],
    user: int,
) -> None:
    caplog.clear()
    posted = discord_api.message_payload(int(discord_api.dm_channel(user)["id"]), {"content": "card"})
    await discord_api.click(user, posted, custom_id, values)
    await discord_api.submit(user, custom_id, fields)
    # The bot answers or ignores an id it never rendered; a later command answered means both ran.
    await bot_settled(discord_api)
    assert problems(caplog) == []


async def bot_settled(api: DiscordStandIn) -> None:
    """A round trip through the gateway: a later slash command answered means the earlier events ran."""
    before = len(api.calls)
    await api.answer(await api.slash(TEXTER, "help"), before)


async def test_a_nul_character_is_refused_before_core(
    bot: DiscordComponent, discord_api: DiscordStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(discord_api.calls)
    token = await discord_api.slash(OWNER_ID, "stats", options={"campaign": "Test\x00Drive"})
    assert "cannot keep the NUL character" in (await discord_api.answer(token, before)).text
    assert problems(caplog) == []

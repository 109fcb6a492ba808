"""Fixtures for the Discord adapter: the REST + gateway stand-in and the bot connected to it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.discord.component import DiscordComponent
from storage import Database
from tests.bot.discord.standin import BOT_TOKEN, DiscordStandIn

ADMIN = 900000000000000011
TEXTER = 900000000000000012
TEXTER2 = 900000000000000013
MEMBERS = {ADMIN: "Ada Admin", TEXTER: "Tess Texter", TEXTER2: "Theo Texter"}  # besides the guild's owner


@pytest.fixture
async def discord_api() -> AsyncIterator[DiscordStandIn]:
    standin = await DiscordStandIn().start()
    for user_id, name in MEMBERS.items():
        standin.add_member(user_id, name, admin=user_id == ADMIN)
    yield standin
    await standin.stop()


@pytest.fixture
def settings(db_url: str, discord_api: DiscordStandIn) -> Settings:
    return Settings(database_url=db_url, discord_token=BOT_TOKEN, discord_api_url=discord_api.base_url)


@pytest.fixture
def handler_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Errors discord.py only logs (a failing button callback): a test asserts there were none."""
    caplog.set_level(logging.ERROR, logger="discord")
    return caplog.records


@pytest.fixture
async def bot(
    db: Database, settings: Settings, discord_api: DiscordStandIn
) -> AsyncIterator[DiscordComponent]:
    component = DiscordComponent(db, settings)
    await component.start()
    yield component
    await component.stop()

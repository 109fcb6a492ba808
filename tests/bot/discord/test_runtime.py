"""``textbank run`` itself with DISCORD_TOKEN and DISCORD_API_URL at the stand-in, and a refused token."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.discord.component import DiscordComponent, runtime_parts
from core.errors import Refused
from storage import Database
from tests.bot.discord.conftest import TEXTER
from tests.bot.discord.standin import APP_ID, BOT_TOKEN, DiscordStandIn


async def test_textbank_run_connects_syncs_and_answers(
    db_url: str, discord_api: DiscordStandIn, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "TEXTBANK_DATABASE_URL": db_url,
        "TEXTBANK_PORT": "0",
        "TEXTBANK_SMS": "console",
        "DISCORD_TOKEN": BOT_TOKEN,
        "DISCORD_API_URL": discord_api.base_url,
    }
    env.pop("SLACK_BOT_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bot.cli import app; app()", "run",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await discord_api.connected(timeout=120)
        assert discord_api.find("GET", r"/gateway/bot")
        (sync,) = discord_api.find("PUT", rf"/applications/{APP_ID}/commands")
        assert [c["name"] for c in sync.body] == ["textbank"]
        before = len(discord_api.calls)
        answer = await discord_api.answer(await discord_api.slash(TEXTER, "help"), before)
        assert "/textbank done" in answer.text
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
    assert process.returncode == 0, output
    assert "discord: /textbank commands and buttons over the gateway" in output
    assert "discord stopped" in output


async def test_a_refused_token_stops_the_start_with_the_fix(db: Database, settings: Settings) -> None:
    component = DiscordComponent(db, dataclasses.replace(settings, discord_token="wrong"))
    with pytest.raises(Refused, match="Discord refused DISCORD_TOKEN"):
        await component.start()
    await component.stop()


def test_discord_runs_only_with_a_token(db: Database, settings: Settings) -> None:
    assert [c.name for c in runtime_parts(db, settings)] == ["discord"]
    assert runtime_parts(db, dataclasses.replace(settings, discord_token="")) == []


def test_discord_settings_come_from_the_environment() -> None:
    env = {"DISCORD_TOKEN": " token ", "DISCORD_API_URL": "http://127.0.0.1:9/api/v10/"}
    settings = load_settings(env, env_file=None)
    assert (settings.discord_token, settings.discord_api_url) == ("token", "http://127.0.0.1:9/api/v10")

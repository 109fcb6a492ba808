"""`textbank run`: a component refusing to start ends the command with one line and exit code 1."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli import run as run_module
from core.errors import Refused

runner = CliRunner()


class RefusingRuntime:
    async def run(self) -> None:
        raise Refused("Slack refused SLACK_APP_TOKEN (invalid_auth): give the app-level xapp- token")


def test_a_refusal_at_start_is_one_line_and_exit_code_1(
    cli_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build_runtime(*args: Any, **kwargs: Any) -> RefusingRuntime:
        return RefusingRuntime()

    monkeypatch.setattr(run_module, "build_runtime", build_runtime)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 1
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in result.output
    assert "Traceback" not in result.output


class StoppedRuntime:
    async def run(self) -> None:
        return None


def test_with_nothing_configured_run_says_what_is_off_and_why(
    cli_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "TWILIO_ACCOUNT_SID", "TEXTBANK_SMS"):
        monkeypatch.delenv(name, raising=False)
    built: dict[str, Any] = {}

    def build_runtime(*args: Any, **kwargs: Any) -> StoppedRuntime:
        built.update(kwargs)
        return StoppedRuntime()

    monkeypatch.setattr(run_module, "build_runtime", build_runtime)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "slack: off (SLACK_BOT_TOKEN is not set)" in result.output
    assert "discord: off (DISCORD_TOKEN is not set)" in result.output
    assert "sms: console (Twilio is not configured)" in result.output
    assert built["extra_components"] == [] and built["web_hooks"] == []

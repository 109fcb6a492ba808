"""Fixtures for the command-line tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import common
from bot.config import get_settings


@pytest.fixture
def cli_db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """TEXTBANK_DATABASE_URL at a fresh SQLite file; settings re-read for this test and the next."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("TEXTBANK_DATABASE_URL", url)
    # Wide enough that table cells and one-line refusals are not cut short.
    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.setattr(common.err_console, "width", 200)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()

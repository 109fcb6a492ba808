"""Numbers past every bound typed into Discord's options get core's usual answer (core/numbers.py checks
them once for every adapter): Discord itself lets an integer option reach 2**53."""

from __future__ import annotations

from pathlib import Path

from bot.discord.component import DiscordComponent
from storage import Database
from tests.bot.discord.conftest import TEXTER
from tests.bot.discord.standin import OWNER_ID, DiscordStandIn
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_texting import ask

DISCORD_MAX_INTEGER = 2**53


def shown(wire: str) -> str:
    """A recorded payload's text as Discord shows it: Markdown's backslash escapes (JSON-encoded) resolved."""
    return wire.replace("\\\\", "")


async def test_ids_and_numbers_past_every_bound_get_the_usual_answer(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    await launched(db, discord_api, tmp_path)
    for ref in ("999999999999999999999999", "9223372036854775808", "²"):
        stats = await ask(discord_api, OWNER_ID, "stats", options={"campaign": ref})
        assert f"no campaign {ref!r}" in stats.text, stats.text
    campaign = {"campaign": "Test Drive"}
    batch = await ask(
        discord_api, OWNER_ID, "settings", options={**campaign, "initials_batch_size": DISCORD_MAX_INTEGER}
    )
    assert "must be a whole number from 1 to 1,000,000 (got 9007199254740992)" in shown(batch.text), (
        batch.text
    )
    maximum = await ask(
        discord_api,
        OWNER_ID,
        "max",
        options={**campaign, "maximum": DISCORD_MAX_INTEGER},
        members={"texter": TEXTER},
    )
    assert "the maximum must be a whole number from 0 to 1,000,000" in shown(maximum.text), maximum.text

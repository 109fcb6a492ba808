"""Files over a limit are refused with a sentence before any byte moves: an attached campaign YAML over
what textbank takes is not downloaded, and an export over the server's upload limit (the interaction's
``attachment_size_limit``) is not uploaded (Discord would refuse it only after the whole file went up)."""

from __future__ import annotations

from pathlib import Path

from bot.discord.commands import MAX_YAML_BYTES
from bot.discord.component import DiscordComponent
from storage import Database
from tests.bot.discord.standin import OWNER_ID, DiscordStandIn
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_texting import ask


async def test_an_oversize_campaign_file_is_refused_before_it_is_downloaded(
    bot: DiscordComponent, discord_api: DiscordStandIn
) -> None:
    big = discord_api.add_attachment("big.yaml", b"#" * (2 * MAX_YAML_BYTES))
    refused = await ask(discord_api, OWNER_ID, "campaign", "apply", attachments={"file": big})
    assert "big.yaml is 2.0 MiB, larger than the 1.0 MiB textbank takes here: split it" in refused.text
    assert discord_api.downloaded == []

    small = discord_api.add_attachment("ok.yaml", b"title: [unclosed\n")
    await ask(discord_api, OWNER_ID, "campaign", "apply", attachments={"file": small})
    assert discord_api.downloaded == ["ok.yaml"]  # a file within the limit is fetched


async def test_an_export_over_the_servers_upload_limit_is_refused_and_not_uploaded(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    await launched(db, discord_api, tmp_path)
    discord_api.upload_limit = 100  # bytes: the two contacts' CSV is larger
    refused = await ask(discord_api, OWNER_ID, "export", options={"campaign": "Test Drive"})
    assert "test-drive-contacts.csv is" in refused.text and "over this server's upload limit" in refused.text
    assert "textbank contacts export" in refused.text
    assert not refused.files

    discord_api.upload_limit = 25 * 1024 * 1024
    exported = await ask(discord_api, OWNER_ID, "export", options={"campaign": "Test Drive"})
    assert list(exported.files) == ["test-drive-contacts.csv"]

"""Campaign set-up by attachments, a join message that outlives a restart, and the Send First Texts card."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.config import Settings
from bot.discord.component import DiscordComponent
from storage import Database
from storage.models import Contact, Message
from tests.bot.discord.conftest import TEXTER
from tests.bot.discord.standin import CHANNEL_ID, OWNER_ID, Call, DiscordStandIn
from tests.bot.slack.test_admin import CAMPAIGN_YAML, CONTACTS_CSV


async def ask(
    api: DiscordStandIn, user: int, *path: str, containing: str = "", timeout: float = 30.0, **kwargs: Any
) -> Call:
    before = len(api.calls)
    token = await api.slash(user, *path, **kwargs)
    return await api.answer(token, before, containing=containing, timeout=timeout)


async def click(api: DiscordStandIn, user: int, message: dict, label: str) -> Call:
    """Click the button labelled ``label`` in ``message``; returns the interaction's answer."""
    buttons = [c for row in message["components"] for c in row["components"] if c.get("label") == label]
    assert buttons, f"no {label!r} button in {message['components']}"
    before = len(api.calls)
    return await api.answer(await api.click(user, message, buttons[0]["custom_id"]), before)


async def set_up_campaign(
    api: DiscordStandIn, admin: int = OWNER_ID, contacts: str = CONTACTS_CSV, imported_count: int = 3
) -> dict:
    """An admin applies the YAML and the CSV (``imported_count`` good rows) as attachments, launches, and
    posts a join message."""
    yaml_file = api.add_attachment("campaign.yaml", CAMPAIGN_YAML.encode())
    applied = await ask(api, admin, "campaign", "apply", attachments={"file": yaml_file})
    assert "Created" in applied.text and "Test Drive" in applied.text
    imported = await ask(
        api,
        admin,
        "contacts",
        options={"campaign": "Test Drive"},
        attachments={"file": api.add_attachment("contacts.csv", contacts.encode())},
        containing="Imported",
        timeout=120.0,  # the first zip code looked up loads the zip code table
    )
    assert f"Imported **{imported_count}**" in imported.text, imported.text
    assert "is launched" in (await ask(api, admin, "launch", options={"campaign": "Test Drive"})).text
    before = len(api.calls)
    linked = await ask(api, admin, "link", "initials", options={"campaign": "Test Drive"})
    assert "Posted the join message" in linked.text
    (post,) = api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1:]
    assert api.calls.index(post) >= before and "Join" in post.text
    return api.message(post)


async def test_join_after_restart_then_send_first_texts(
    db: Database, settings: Settings, discord_api: DiscordStandIn, caplog
) -> None:
    caplog.set_level(logging.ERROR)
    first = DiscordComponent(db, settings)
    await first.start()
    try:
        join_message = await set_up_campaign(discord_api)
    finally:
        await first.stop()

    second = DiscordComponent(db, settings)  # a restart: the join button must still work
    await second.start()
    try:
        joined = await click(discord_api, TEXTER, join_message, "Join")
        assert "You joined **Test Drive**" in joined.text
        callback = discord_api.find("POST", r"/interactions/\d+/.+/callback")[-1]
        assert callback.body["type"] == 5 and callback.body["data"]["flags"] == 64  # deferred, ephemeral
        dm = discord_api.find("POST", r"/users/@me/channels")[-1]
        assert dm.body == {"recipient_id": TEXTER}
        card_post = discord_api.find("POST", rf"/channels/{TEXTER + 1}/messages")[-1]
        # Joining claims the first batch (2) at once: the card shows the first contact.
        assert "2 contacts are yours to text" in card_post.text and "Send First Texts" in card_post.text
        assert "+1212555" not in card_post.text  # the number is masked for a texter
        first_card = {**discord_api.message(card_post)}

        sent = await click(discord_api, TEXTER, discord_api.message(card_post), "Send")
        assert sent.method == "PATCH" and sent.path.endswith("/messages/@original")
        assert (
            discord_api.find("POST", r"/interactions/\d+/.+/callback")[-1].body["type"] == 6
        )  # deferred update
        assert "Sent to" in sent.text
        stale = await click(discord_api, TEXTER, first_card, "Send")  # the first card, clicked again
        assert "Not sent" in stale.text and "Send First Texts" in stale.text
        done = await click(discord_api, TEXTER, discord_api.message(stale), "Send")
        assert "Sent to" in done.text and "every text of your batch" in done.text
        assert "Request More" in done.text

        last = await click(discord_api, TEXTER, discord_api.message(done), "Request More")
        assert "1 more contact is yours" in last.text
        with db.read() as session:
            assert session.scalar(select(func.count()).select_from(Message)) == 2
            held = select(func.count()).select_from(Contact).where(Contact.assigned_user_id.is_not(None))
            assert session.scalar(held) == 3
    finally:
        await second.stop()
    assert not [r for r in caplog.records if r.name.startswith("discord")], caplog.records


async def test_a_texter_is_refused_admin_commands(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    from tests.bot.discord.test_limits import launched

    await launched(db, discord_api, tmp_path)  # the guild's owner comes first and owns the organization
    for path, options in (
        (("launch",), {"campaign": "Test Drive"}),
        (("stats",), {"campaign": "Test Drive"}),
        (("optout", "list"), {}),
        (("campaign", "list"), {}),
    ):
        answer = await ask(discord_api, TEXTER, *path, options=options)
        assert "🚫" in answer.text and "admin" in answer.text, (path, answer.text)

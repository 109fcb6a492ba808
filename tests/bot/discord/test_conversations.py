"""Conversations on Discord end to end: a signed Twilio reply lands in the texter's private thread, in the
channel an admin chose; the answer select and Send deliver exactly that text through the Twilio stand-in;
a text typed in the thread becomes the draft."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import time_machine
from sqlalchemy import select

from bot.discord.component import DiscordComponent
from bot.twilio.client import build_client
from bot.twilio.sender import OutboxSender, SenderOptions, TwilioGateway
from bot.twilio.webhooks import add_twilio_routes
from bot.web import WebServer, create_app
from storage import Database
from storage.models import Message as Text
from tests.bot.discord.conftest import TEXTER
from tests.bot.discord.standin import BOT_TOKEN, CHANNEL_ID, OWNER_ID, DiscordStandIn
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_texting import ask, click
from tests.bot.slack.test_end_to_end import World as SlackWorld
from tests.bot.twilio import helpers as h
from tests.bot.twilio.standin import TwilioStandIn

ANN = "+12125550101"


class World:
    http: aiohttp.ClientSession

    def __init__(
        self, api: DiscordStandIn, twilio: TwilioStandIn, web: WebServer, sender: OutboxSender
    ) -> None:
        self.api, self.twilio, self.web, self.sender = api, twilio, web, sender

    async def inbound(self, cell: str, body: str, sid: str) -> int:
        """A text from ``cell``, signed as Twilio signs it (the Slack end-to-end test's request)."""
        async with aiohttp.ClientSession() as self.http:
            return await SlackWorld.twilio_inbound(self, cell, body, sid)  # type: ignore[arg-type]

    def posted_in(self, channel: str) -> list[dict[str, Any]]:
        """The messages posted into ``channel``, oldest first, as they stand now."""
        calls = self.api.find("POST", rf"/channels/{channel}/messages")
        return [self.api.message(c) for c in calls]


@asynccontextmanager
async def running(
    db: Database, db_url: str, discord_api: DiscordStandIn, workers: int = 1
) -> AsyncIterator[World]:
    """The web server (Twilio webhooks), the Twilio sender and the Discord bot, run against the stand-ins."""
    twilio = TwilioStandIn().start()
    discord = {"discord_token": BOT_TOKEN, "discord_api_url": discord_api.base_url}
    settings = h.twilio_settings(twilio.url, service=False, database_url=db_url, **discord)
    web = WebServer(create_app(settings, db, hooks=[add_twilio_routes]), "127.0.0.1", 0)
    sender = OutboxSender(
        db,
        TwilioGateway(build_client(settings, timeout=30), settings),
        SenderOptions(workers=workers, rate=None, poll_interval=0.05),
    )
    bot = DiscordComponent(db, settings)
    for part in (web, sender, bot):
        await part.start()
    yield World(discord_api, twilio, web, sender)
    for part in (bot, sender, web):
        await part.stop()
    twilio.stop()


@pytest.fixture
async def world(db: Database, db_url: str, discord_api: DiscordStandIn) -> AsyncIterator[World]:
    async with running(db, db_url, discord_api) as w:
        yield w


def control_select(message: dict[str, Any], placeholder_word: str) -> dict[str, Any]:
    found = [
        c
        for row in message["components"]
        for c in row["components"]
        if c.get("type") == 3 and placeholder_word.lower() in (c.get("placeholder") or "").lower()
    ]
    assert found, f"no select like {placeholder_word!r} in {message['components']}"
    return found[0]


async def test_a_reply_lands_in_the_private_thread_and_send_texts_the_chosen_answer(
    world: World, db: Database, tmp_path: Path
) -> None:
    api = world.api
    await launched(db, api, tmp_path)
    chosen = await ask(api, OWNER_ID, "threads", "channel")
    assert "Conversation threads open here" in chosen.text
    await ask(api, OWNER_ID, "link", "initials", options={"campaign": "Test Drive"})
    join = api.message(api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    await click(api, TEXTER, join, "Join")
    card = api.message(api.find("POST", rf"/channels/{TEXTER + 1}/messages")[-1])
    assert "Ann" in json.dumps(card)
    await click(api, TEXTER, card, "Send")  # Ann's first text
    (first,) = await asyncio.to_thread(world.twilio.wait_for, 1)
    assert first.field("To") == ANN

    assert await world.inbound(ANN, "Yes, I will vote!", "SM" + "1" * 32) == 200
    created = await api.wait_call("POST", rf"/channels/{CHANNEL_ID}/threads")
    assert created.body["type"] == 12 and created.body["invitable"] is False  # a private thread
    thread = str(created.response["id"])
    added = await api.wait_call("PUT", rf"/channels/{thread}/thread-members/{TEXTER}")
    assert added is not None

    def control_posted(s: DiscordStandIn) -> dict[str, Any] | None:
        posted = world.posted_in(thread)
        return posted[-1] if posted and posted[-1]["components"] else None

    control = await api.wait_for(control_posted)
    texts = [m["content"] + json.dumps(m["embeds"]) for m in world.posted_in(thread)]
    sent_line = next(i for i, t in enumerate(texts) if "Will you vote?" in t)
    reply_line = next(i for i, t in enumerate(texts) if "Yes, I will vote!" in t)
    assert sent_line < reply_line < len(texts) - 1  # in order, each once, the controls below them
    assert sum("Yes, I will vote!" in t for t in texts) == 1

    answers = control_select(control, "answer")
    yes = next(o for o in answers["options"] if o["label"].startswith("Yes"))
    before = len(api.calls)
    await api.click(TEXTER, control, answers["custom_id"], values=[yes["value"]])
    redrawn = await api.wait_call("PATCH", rf"/channels/{thread}/messages/\d+", before)  # in place
    assert "Great, thanks Ann!" in redrawn.text

    controls = api.message(redrawn)
    labels = [c.get("label") for row in controls["components"] for c in row["components"]]
    assert "Send" in labels and "Edit" in labels
    menu = [o["label"] for o in control_select(controls, "more")["options"]]
    assert any("Opt out" in label for label in menu) and any("Close" in label for label in menu), menu
    send = next(c for row in controls["components"] for c in row["components"] if c.get("label") == "Send")
    await api.click(TEXTER, controls, send["custom_id"])
    _, reply = await asyncio.to_thread(world.twilio.wait_for, 2)
    assert reply.field("To") == ANN and reply.field("Body") == "Great, thanks Ann!"

    # A text typed in the thread becomes the draft: the controls are posted again showing it.
    before = len(api.calls)
    await api.typed(TEXTER, int(thread), "See you at the polls")
    await api.wait_for(
        lambda s: any(
            "See you at the polls" in c.text and c.method == "POST"
            for c in s.calls[before:]
            if thread in c.path
        )
    )


async def test_an_ad_hoc_text_goes_out_and_the_dashboard_lists_the_campaign(
    world: World, db: Database, tmp_path: Path
) -> None:
    api = world.api
    await launched(db, api, tmp_path)
    await ask(api, OWNER_ID, "link", "initials", options={"campaign": "Test Drive"})
    join = api.message(api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    await click(api, TEXTER, join, "Join")

    with time_machine.travel("2026-03-10 16:00:00+00:00", tick=True):  # noon in New York: texting hours
        await send_ad_hoc(world)
    with db.read() as session:  # queued for the sender, to that number, with that text
        (queued,) = session.scalars(select(Text).where(Text.direction == "out")).all()
        assert (queued.cell, queued.body) == ("+12125550142", "Hi from Tess")

    dashboard = await ask(api, TEXTER, "dashboard")
    assert "Test Drive" in dashboard.text and "Send First Texts" in dashboard.text


async def send_ad_hoc(world: World) -> None:
    api = world.api
    choices = await ask(api, TEXTER, "text", options={"number": "(212) 555-0142", "message": "Hi from Tess"})
    assert "Hi from Tess" in choices.text and "+12125550142" not in choices.text  # masked for a texter
    sent = await click(api, TEXTER, api.message(choices), "Send; replies come to me")
    assert "replies come to you" in sent.text

"""The whole campaign over real HTTP: Slack requests and Twilio webhooks into one web server, the Twilio
sender and the Slack relay running, Slack and Twilio stand-ins on the other side."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.slack.app import SlackComponent, build_app, make_client
from bot.twilio.client import build_client
from bot.twilio.sender import OutboxSender, SenderOptions, TwilioGateway
from bot.twilio.webhooks import add_twilio_routes
from bot.web import WebServer, create_app
from storage import Database
from storage.models import Contact, Message, PlatformIdentity
from tests.bot.slack.conftest import ADMIN, TEXTER, TEXTER2
from tests.bot.slack.standin import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackStandIn,
    block_actions_body,
    signed_headers,
    slash_body,
    view_submission_body,
)
from tests.bot.slack.test_admin import CAMPAIGN_YAML
from tests.bot.twilio import helpers as h
from tests.bot.twilio.standin import AUTH_TOKEN, TwilioStandIn

CONTACTS = "first name,last name,cell\n" + "\n".join(
    f"{name},Voter,+1212555{index:04d}"
    for index, name in enumerate(["Ann", "Bob", "Cat", "Dan", "Eve", "Fay"], 201)
)


class World:
    sender: OutboxSender

    def __init__(self, db: Database, slack: SlackStandIn, twilio: TwilioStandIn, web: WebServer) -> None:
        self.db, self.slack, self.twilio, self.web = db, slack, twilio, web
        self.http = aiohttp.ClientSession()

    async def slack_post(self, body: str) -> int:
        async with self.http.post(
            self.web.url + "/slack/events", data=body.encode(), headers=signed_headers(body)
        ) as response:
            await response.read()
            return response.status

    async def command(self, user: str, text: str, channel: str = "C0CHAN") -> None:
        assert (
            await self.slack_post(
                slash_body(text, user_id=user, channel_id=channel, response_url=self.slack.response_url(user))
            )
            == 200
        )

    async def click(self, user: str, action: dict[str, Any], **kwargs: Any) -> None:
        kwargs.setdefault("response_url", self.slack.response_url(user))
        assert await self.slack_post(block_actions_body(action, user_id=user, **kwargs)) == 200

    async def submit_file(self, user: str, name: str, content: bytes) -> None:
        view = self.slack.of("views.open")[-1].view
        file = self.slack.add_file(name, content)
        assert (
            await self.slack_post(
                view_submission_body(
                    view, {"file": {"v": {"type": "file_input", "files": [file]}}}, user_id=user
                )
            )
            == 200
        )

    async def launch(self, admin: str, title: str, campaign_yaml: str, contacts_csv: str, count: int) -> None:
        """The admin applies the campaign file and uploads the contacts (Slack modals), then launches."""
        views = len(self.slack.of("views.open"))
        await self.command(admin, "campaign apply")
        await self.slack.wait_count("views.open", views + 1)
        await self.submit_file(admin, "campaign.yaml", campaign_yaml.encode())
        await self.slack.wait_for("chat.postMessage", lambda c: "Created" in c.text_dump())
        await self.command(admin, f'contacts "{title}"')
        await self.slack.wait_count("views.open", views + 2)
        await self.submit_file(admin, "contacts.csv", contacts_csv.encode())
        imported = f"Imported *{count}*"
        await self.slack.wait_for("chat.update", lambda c: imported in c.text_dump(), timeout=120)
        await self.command(admin, f'launch "{title}"')
        await self.slack.wait_for("respond", lambda c: "is launched" in c.text_dump())

    async def twilio_inbound(self, cell: str, body: str, sid: str) -> int:
        fields = {
            "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": cell,
            "To": h.FROM_NUMBER,
            "Body": body,
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(h.PUBLIC_URL + "/twilio/sms", fields)
        async with self.http.post(
            self.web.url + "/twilio/sms", data=fields, headers={"X-Twilio-Signature": signature}
        ) as response:
            return response.status

    def updates_in(self, channel: str) -> list[Any]:
        return [c for c in self.slack.of("chat.update") if c.body.get("channel") == channel]

    async def next_update(self, channel: str, seen: int, timeout: float = 60.0) -> Any:
        for _ in range(int(timeout / 0.02)):
            updates = self.updates_in(channel)
            if len(updates) > seen:
                return updates[seen]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no update {seen + 1} in {channel}")


@pytest.fixture
async def world(db: Database, db_url: str) -> AsyncIterator[World]:
    slack = await SlackStandIn().start()
    for user, name in ((ADMIN, "Ada Admin"), (TEXTER, "Tess Texter"), (TEXTER2, "Theo Texter")):
        slack.add_user(user, name)
    twilio = TwilioStandIn().start()
    settings = h.twilio_settings(
        twilio.url,
        service=False,
        database_url=db_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
    )
    component = SlackComponent(
        db, settings, app=build_app(db, settings, client=make_client(BOT_TOKEN, slack.base_url))
    )
    web = WebServer(create_app(settings, db, hooks=[add_twilio_routes, component.add_routes]), "127.0.0.1", 0)
    sender = OutboxSender(
        db,
        TwilioGateway(build_client(settings, timeout=30), settings),
        SenderOptions(workers=2, rate=None, poll_interval=0.05),
    )
    for part in (web, sender, component):
        await part.start()
    w = World(db, slack, twilio, web)
    w.sender = sender
    yield w
    await w.http.close()
    for part in (component, sender, web):
        await part.stop()
    twilio.stop()
    await slack.stop()


def element(blocks: list[dict], action_id: str) -> dict | None:
    for block in blocks:
        for el in [*block.get("elements", []), block.get("accessory") or {}]:
            if el.get("action_id") == action_id:
                return el
    return None


async def text_until_done(w: World, user: str, card_ts: str) -> int:
    """Click Request More / Send on the texter's card until nothing is left; returns the sends clicked."""
    channel = "D" + user
    seen = len(w.updates_in(channel))
    await w.click(
        user,
        {"action_id": "tb_request_more", "value": json.dumps({"k": 1})},
        channel_id=channel,
        message_ts=card_ts,
    )
    sends = 0
    while True:
        card = await w.next_update(channel, seen)
        seen += 1
        send = element(card.blocks, "tb_send_initial")
        more = element(card.blocks, "tb_request_more")
        if send is not None:
            sends += 1
            await w.click(
                user,
                {"action_id": "tb_send_initial", "value": send["value"]},
                channel_id=channel,
                message_ts=card_ts,
            )
        elif more is not None:
            await w.click(
                user,
                {"action_id": "tb_request_more", "value": more["value"]},
                channel_id=channel,
                message_ts=card_ts,
            )
        else:
            assert "Request More is unavailable" in card.text_dump() or "No more texts" in card.text_dump()
            return sends


async def test_a_campaign_from_yaml_to_replies(world: World) -> None:
    w = world
    await w.launch(ADMIN, "Test Drive", CAMPAIGN_YAML, CONTACTS, 6)
    await w.command(ADMIN, 'link initials "Test Drive"', channel="C0VOL")
    join = await w.slack.wait_for("chat.postMessage", lambda c: c.body.get("channel") == "C0VOL")
    token_value = join.blocks[1]["elements"][0]["value"]

    for user in (TEXTER, TEXTER2):
        await w.click(user, {"action_id": "tb_join", "value": token_value}, channel_id="C0VOL")
    for user in (TEXTER, TEXTER2):
        await w.slack.wait_for("chat.postMessage", lambda c, u=user: c.body.get("channel") == "D" + u)
    sends = await asyncio.gather(*(text_until_done(w, user, f"card-{user}") for user in (TEXTER, TEXTER2)))
    assert sum(sends) == 6
    await asyncio.to_thread(w.twilio.wait_for, 6)
    with w.db.read() as session:
        rows = session.execute(
            select(Message.contact_id, Message.user_id).where(Message.direction == "out")
        ).all()
        slack_ids = dict(
            session.execute(select(PlatformIdentity.user_id, PlatformIdentity.platform_user_id)).all()
        )
    assert (
        len(rows) == 6 and len({r.contact_id for r in rows}) == 6
    )  # every contact texted once, by one texter
    assert {slack_ids[r.user_id] for r in rows} == {TEXTER, TEXTER2}  # both texters got work

    ann, bob = "+12125550201", "+12125550202"
    assert await w.twilio_inbound(ann, "Yes, I'll vote", "SM" + "a" * 32) == 200
    assert await w.twilio_inbound(bob, "Who is this?", "SM" + "b" * 32) == 200
    with w.db.read() as session:
        holder = dict(session.execute(select(Contact.cell, Contact.assigned_user_id)).all())
    ann_texter, bob_texter = slack_ids[holder[ann]], slack_ids[holder[bob]]
    reply = await w.slack.wait_for(
        "chat.postMessage", lambda c: c.body.get("text") == "*Ann Voter*: Yes, I'll vote"
    )
    assert reply.body["channel"] == "D" + ann_texter and reply.body.get("thread_ts")
    control = await w.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.body.get("thread_ts") == reply.body["thread_ts"] and element(c.blocks, "tb_answer") is not None
        ),
    )
    yes = next(o for o in element(control.blocks, "tb_answer")["options"] if o["text"]["text"] == "Yes")
    await w.click(
        ann_texter,
        {"action_id": "tb_answer", "type": "static_select", "selected_option": yes},
        channel_id="D" + ann_texter,
        message_ts="ctl-1",
    )
    filled = await w.slack.wait_for(
        "chat.update",
        lambda c: c.body.get("ts") == "ctl-1" and element(c.blocks, "tb_reply_send") is not None,
    )
    send_value = element(filled.blocks, "tb_reply_send")["value"]
    await w.click(
        ann_texter,
        {"action_id": "tb_reply_send", "value": send_value},
        channel_id="D" + ann_texter,
        message_ts="ctl-1",
    )
    sent = await asyncio.to_thread(w.twilio.wait_for, 7)
    assert sent[-1].field("Body") == "Great, thanks Ann!" and sent[-1].field("To") == ann

    await w.command(bob_texter, "done")
    await w.slack.wait_for("respond", lambda c: "1 unhandled reply went back" in c.text_dump())
    with w.db.read() as session:
        bob_row = session.execute(
            select(Contact.status, Contact.assigned_user_id).where(Contact.cell == bob)
        ).one()
    assert tuple(bob_row) == ("needs_response", None)
    await w.sender.drain()  # whatever is in the outbox has gone out
    assert len(w.twilio.messages()) == 7  # nothing sent twice, nothing extra

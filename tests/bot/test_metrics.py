"""``GET /metrics``: the backlog read from the shared tables, and this process's counters and histograms."""

from __future__ import annotations

import aiohttp
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import func, select, update

from bot.chat import actions as A
from bot.chat.actions import Action, act
from bot.config import Settings
from bot.dbwork import DbWork
from bot.discord.component import DiscordComponent
from bot.metrics import metrics_route
from bot.slack.app import build_app, make_client
from bot.twilio.webhooks import add_twilio_routes
from bot.web import WebServer, create_app
from core import outbox
from storage import Database
from storage.models import Message, Notice, PlatformIdentity, User
from tests.bot.discord.standin import BOT_TOKEN as DISCORD_TOKEN
from tests.bot.discord.standin import CHANNEL_ID, DiscordStandIn
from tests.bot.slack.standin import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackStandIn,
    block_actions_body,
    signed_headers,
)
from tests.bot.twilio import helpers as h
from tests.bot.twilio.test_webhooks import SIGNER, inbound_fields, texted_contact
from tests.core.factories import add_contacts, at, make_launched_campaign, make_script

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
SLACK_TEXTER = "U0TEXTER"
DISCORD_TEXTER = 900000000000000012

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: WebServer) -> Samples:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def post_sms(server: WebServer, fields: dict[str, str], signature: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.url + "/twilio/sms", data=fields, headers={"X-Twilio-Signature": signature}
        ) as response:
            return response.status


def notice(platform: str, user_id: int, status: str = "pending") -> Notice:
    return Notice(platform=platform, user_id=user_id, kind="reply", payload={}, status=status)


async def test_metrics_report_the_backlog_and_this_process(db: Database, org_id: int) -> None:
    server = WebServer(
        create_app(h.twilio_settings(""), db, hooks=[add_twilio_routes, metrics_route(db)]), "127.0.0.1", 0
    )
    await server.start()
    try:
        before = await scrape(server)
        assert value(before, "textbank_database_up") == 1
        for status in ("queued", "sending", "unknown"):
            assert value(before, "textbank_outbox_texts", status=status) == 0
        assert value(before, "textbank_notices_waiting", platform="slack") == 0

        user_id, contact_id, cell, _ = texted_contact(db, org_id)  # one text sent (not by the sender)
        queued = [h.queue_text(db, contact_id, user_id, f"text {i}") for i in range(4)]
        with db.session() as session:
            outbox.claim_queued(session, 1)  # the oldest of the four is now being sent
            session.execute(update(Message).where(Message.id == queued[1]).values(status="unknown"))
            session.add_all(
                [notice("slack", user_id), notice("slack", user_id), notice("discord", user_id)]
                + [notice("slack", user_id, "posted")]
            )

        fields = inbound_fields(cell, "yes, count me in")
        assert await post_sms(server, fields, "forged") == 403
        signature = SIGNER.compute_signature(h.PUBLIC_URL + "/twilio/sms", fields)
        assert await post_sms(server, fields, signature) == 200
        assert await post_sms(server, fields, signature) == 200  # Twilio's retry: stored once, counted once

        claims = await DbWork(db).serial(lambda session: None)
        assert claims is None

        after = await scrape(server)
    finally:
        await server.stop()

    assert value(after, "textbank_outbox_texts", status="queued") == 2
    assert value(after, "textbank_outbox_texts", status="sending") == 1
    assert value(after, "textbank_outbox_texts", status="unknown") == 1
    # Two inserted, and the reply's notice for its texter (a Slack user); the posted one is not waiting.
    assert value(after, "textbank_notices_waiting", platform="slack") == 3
    assert value(after, "textbank_notices_waiting", platform="discord") == 1

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("textbank_texts_received_total") == 1
    assert delta("textbank_webhook_refusals_total", webhook="twilio_sms", reason="bad_signature") == 1
    assert delta("textbank_claim_seconds_count") == 1
    assert value(after, "textbank_claim_seconds_bucket", le="+Inf") >= 1


async def test_metrics_still_answer_when_the_database_is_unreachable() -> None:
    unreachable = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    server = WebServer(
        create_app(h.twilio_settings(""), unreachable, hooks=[metrics_route(unreachable)]), "127.0.0.1", 0
    )
    await server.start()
    try:
        samples = await scrape(server)
    finally:
        await server.stop()
        unreachable.dispose()
    assert value(samples, "textbank_database_up") == 0
    assert ("textbank_outbox_texts", (("status", "queued"),)) not in samples
    assert any(name == "textbank_texts_sent_total" for name, _ in samples)


# --- card clicks, timed where they enter the chat layer, on both platforms ---------------------------------


def texter_holding(
    db: Database, platform: str, platform_user_id: str, contacts: int
) -> tuple[int, list[int]]:
    """A launched campaign whose ``contacts`` are held by the textbank user behind the platform user
    (entered by a click before): (campaign id, contact ids)."""
    with db.session() as session:
        user_id = session.scalar(
            select(PlatformIdentity.user_id).where(
                PlatformIdentity.platform == platform, PlatformIdentity.platform_user_id == platform_user_id
            )
        )
        user = session.get(User, user_id)
        assert user is not None
        campaign = make_launched_campaign(session, user.organization_id, 0, texters=[user])
        make_script(session, campaign)
        ids = [c.id for c in add_contacts(session, campaign, contacts, assigned_to=user)]
        return campaign.id, ids


def send_action(campaign_id: int, contact_id: int) -> Action:
    return act(A.SEND_INITIAL, c=contact_id, s="needs_message", k=campaign_id)


def queued(db: Database, contact_ids: list[int]) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count()).select_from(Message).where(Message.contact_id.in_(contact_ids))
        )


async def metrics_server(db: Database) -> WebServer:
    server = WebServer(create_app(h.twilio_settings(""), db, hooks=[metrics_route(db)]), "127.0.0.1", 0)
    await server.start()
    return server


@time_machine.travel(NOON_NY, tick=True)
async def test_a_slack_card_click_is_timed(db: Database, db_url: str) -> None:
    slack = await SlackStandIn().start()
    slack.add_user(SLACK_TEXTER, "Tess Texter")
    settings = Settings(
        database_url=db_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
    )
    app = build_app(db, settings, client=make_client(BOT_TOKEN, slack.base_url), process_before_response=True)
    server = await metrics_server(db)

    async def click(action: Action) -> None:
        body = block_actions_body(
            {"action_id": action.name, "value": action.value()}, user_id=SLACK_TEXTER, channel_id="D0DM"
        )
        response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=signed_headers(body)))
        assert response.status == 200

    try:
        before = await scrape(server)
        await click(send_action(10**9, 1))  # no such campaign: refused on the card, timed all the same
        campaign_id, contacts = texter_holding(db, "slack", SLACK_TEXTER, 2)
        await click(send_action(campaign_id, contacts[0]))
        after = await scrape(server)
    finally:
        await server.stop()
        await slack.stop()
    assert queued(db, contacts) == 1
    updates = [call.text_dump() for call in slack.of("chat.update")]
    assert "Sent to" in updates[-1] and "First1" in updates[-1]  # the next card, in place of the clicked one
    labels = {"platform": "slack", "action": "send_initial"}
    assert (
        value(after, "textbank_click_seconds_count", **labels)
        - value(before, "textbank_click_seconds_count", **labels)
        == 2
    )
    assert value(after, "textbank_click_seconds_count", platform="discord", action="send_initial") == value(
        before, "textbank_click_seconds_count", platform="discord", action="send_initial"
    )


@time_machine.travel(NOON_NY, tick=True)
async def test_a_discord_card_click_is_timed(db: Database, db_url: str) -> None:
    api = await DiscordStandIn().start()
    api.add_member(DISCORD_TEXTER, "Tess Texter")
    bot = DiscordComponent(
        db, Settings(database_url=db_url, discord_token=DISCORD_TOKEN, discord_api_url=api.base_url)
    )
    await bot.start()
    server = await metrics_server(db)

    async def click(action: Action) -> str:
        button = {"type": 2, "style": 1, "label": "Send", "custom_id": action.encode()}
        card = api.message_payload(
            CHANNEL_ID, {"content": "card", "components": [{"type": 1, "components": [button]}]}
        )
        before = len(api.calls)
        answer = await api.answer(await api.click(DISCORD_TEXTER, card, action.encode()), before)
        return answer.text

    try:
        before = await scrape(server)
        assert "Sent to" not in await click(send_action(10**9, 1))  # no such campaign: refused, timed
        campaign_id, contacts = texter_holding(db, "discord", str(DISCORD_TEXTER), 2)
        answer = await click(send_action(campaign_id, contacts[0]))
        after = await scrape(server)
    finally:
        await server.stop()
        await bot.stop()
        await api.stop()
    assert "Sent to" in answer and "First1" in answer
    assert queued(db, contacts) == 1
    labels = {"platform": "discord", "action": "send_initial"}
    assert (
        value(after, "textbank_click_seconds_count", **labels)
        - value(before, "textbank_click_seconds_count", **labels)
        == 2
    )

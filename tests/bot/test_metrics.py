"""``GET /metrics``: the backlog read from the shared tables, and this process's counters and histograms."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from bot.dbwork import DbWork
from bot.metrics import CLICK_SECONDS, metrics_route
from bot.twilio.webhooks import add_twilio_routes
from bot.web import WebServer, create_app
from core import outbox
from storage import Database
from storage.models import Message, Notice
from tests.bot.twilio import helpers as h
from tests.bot.twilio.test_webhooks import SIGNER, inbound_fields, texted_contact

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
        with CLICK_SECONDS.labels(action="send_initial").time():
            pass

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
    assert delta("textbank_click_seconds_count", action="send_initial") == 1
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

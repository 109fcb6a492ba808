"""Twilio's webhooks over real HTTP, signed with twilio's own RequestValidator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.web import WebServer, create_app
from core import outbox
from storage import Database
from storage.models import Contact, Message, OptOut
from tests.bot.twilio import helpers as h
from tests.bot.twilio.standin import AUTH_TOKEN

SIGNER = RequestValidator(AUTH_TOKEN)
OUR_NUMBER = "+12125550100"


@pytest.fixture
async def server(db: Database) -> AsyncIterator[WebServer]:
    web = WebServer(create_app(h.twilio_settings(""), db), "127.0.0.1", 0)
    await web.start()
    yield web
    await web.stop()


async def post(
    server: WebServer,
    path: str,
    fields: dict[str, str],
    *,
    signature: str | None = "sign",
    url: str | None = None,
) -> tuple[int, str, str]:
    headers = {}
    if signature == "sign":
        headers["X-Twilio-Signature"] = SIGNER.compute_signature(url or h.PUBLIC_URL + path, fields)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + path, data=fields, headers=headers) as response:
            return response.status, response.content_type, await response.text()


def texted_contact(db: Database, org_id: int) -> tuple[int, int, str, int]:
    """A contact who got a text (so replies route to them): (user id, contact id, cell, message id)."""
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    with db.session() as session:
        session.get(Contact, contacts[0]).assigned_user_id = user_id
        outbox.claim_queued(session, 1)
        outbox.mark_sent(session, message_id, "SMout" + "0" * 29)
    return user_id, contacts[0], h.contact(db, contacts[0]).cell, message_id


def inbound_fields(cell: str, body: str, sid: str = "SM" + "1" * 32, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": cell,
        "To": OUR_NUMBER,
        "Body": body,
        **extra,
    }


def inbound_rows(db: Database) -> list[Message]:
    with db.read() as session:
        rows = list(session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)))
        session.expunge_all()
        return rows


async def test_signed_inbound_text_is_stored_and_answered_with_empty_twiml(db, org_id, server) -> None:
    user_id, contact_id, cell, _ = texted_contact(db, org_id)
    status, content_type, text = await post(server, "/twilio/sms", inbound_fields(cell, "Yes, count me in"))
    assert (status, content_type) == (200, "text/xml")
    assert "<Response" in text and "<Message" not in text
    [row] = inbound_rows(db)
    assert (row.contact_id, row.body, row.status, row.provider_sid) == (
        contact_id,
        "Yes, count me in",
        "received",
        "SM" + "1" * 32,
    )
    assert h.contact(db, contact_id).status == "needs_response"
    assert [n.kind for n in h.notices(db, message_id=row.id)] == ["reply"]


async def test_mms_media_urls_are_kept(db, org_id, server) -> None:
    _, _, cell, _ = texted_contact(db, org_id)
    media = {
        "NumMedia": "2",
        "MediaUrl0": "https://api.twilio.com/media/ME1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://api.twilio.com/media/ME2",
        "MediaContentType1": "image/png",
    }
    status, _, _ = await post(server, "/twilio/sms", inbound_fields(cell, "", **media))
    assert status == 200
    [row] = inbound_rows(db)
    assert row.media == ["https://api.twilio.com/media/ME1", "https://api.twilio.com/media/ME2"]


async def test_a_repeated_message_sid_is_stored_once(db, org_id, server) -> None:
    _, _, cell, _ = texted_contact(db, org_id)
    fields = inbound_fields(cell, "hello?")
    results = [await post(server, "/twilio/sms", fields) for _ in range(3)]
    assert [status for status, _, _ in results] == [200, 200, 200]
    assert len(inbound_rows(db)) == 1


@pytest.mark.parametrize(
    ("signature", "url"),
    [
        (None, None),  # missing
        ("c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ==", None),  # forged
        ("sign", "https://attacker.example.org/twilio/sms"),  # signed for another URL
        ("sign", "http://textbank.example.org/twilio/sms"),  # another scheme
    ],
)
async def test_unsigned_or_forged_inbound_is_refused_and_stores_nothing(
    db, org_id, server, signature, url
) -> None:
    _, contact_id, cell, _ = texted_contact(db, org_id)
    status, _, _ = await post(
        server, "/twilio/sms", inbound_fields(cell, "STOP"), signature=signature, url=url
    )
    assert status == 403
    assert inbound_rows(db) == []
    assert not h.contact(db, contact_id).opted_out


async def test_a_tampered_body_is_refused(db, org_id, server) -> None:
    _, _, cell, _ = texted_contact(db, org_id)
    fields = inbound_fields(cell, "hello")
    signature = SIGNER.compute_signature(h.PUBLIC_URL + "/twilio/sms", fields)
    status, _, _ = await post(server, "/twilio/sms", {**fields, "Body": "STOP"}, signature=signature)
    assert status == 403 and inbound_rows(db) == []


async def test_stop_opts_the_number_out(db, org_id, server) -> None:
    _, contact_id, cell, _ = texted_contact(db, org_id)
    status, _, _ = await post(server, "/twilio/sms", inbound_fields(cell, "Stop"))
    assert status == 200
    contact = h.contact(db, contact_id)
    assert contact.opted_out and contact.status == "closed"
    with db.read() as session:
        assert session.scalars(select(OptOut.source).where(OptOut.cell == cell)).one() == "keyword"


@pytest.mark.parametrize(
    ("fields", "content_type", "expected"),
    [
        ({"From": "+12125550123", "To": OUR_NUMBER, "Body": "hi"}, None, 400),  # no MessageSid
        ({"MessageSid": "SM1", "To": OUR_NUMBER, "Body": "hi"}, None, 400),  # no From
        ({"MessageSid": "SM1", "From": "+12125550123", "To": OUR_NUMBER, "NumMedia": "x"}, None, 400),
        ({"MessageSid": "SM1", "From": "+12125550123", "To": OUR_NUMBER}, "application/json", 415),
    ],
)
async def test_bad_requests_get_4xx_and_change_nothing(
    db, org_id, server, fields, content_type, expected
) -> None:
    headers = {"X-Twilio-Signature": SIGNER.compute_signature(h.PUBLIC_URL + "/twilio/sms", fields)}
    async with aiohttp.ClientSession() as session:
        if content_type == "application/json":
            request = session.post(server.url + "/twilio/sms", json=fields, headers=headers)
        else:
            request = session.post(server.url + "/twilio/sms", data=fields, headers=headers)
        async with request as response:
            assert response.status == expected
    assert inbound_rows(db) == []


async def test_a_huge_body_is_refused_with_413(db, org_id, server) -> None:
    _, _, cell, _ = texted_contact(db, org_id)
    fields = inbound_fields(cell, "x" * 70_000)
    status, _, _ = await post(server, "/twilio/sms", fields)
    assert status == 413
    assert inbound_rows(db) == []


async def test_status_callbacks_update_the_message(db, org_id, server) -> None:
    user_id, contact_id, _, message_id = texted_contact(db, org_id)
    sid = "SMout" + "0" * 29
    fields = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    status, _, _ = await post(server, "/twilio/status", fields)
    assert status == 204
    row = h.message(db, message_id)
    assert (row.status, row.error_code) == ("undelivered", 30003)
    assert [(n.kind, n.user_id) for n in h.notices(db, message_id=message_id)] == [("failed", user_id)]
    # A late "delivered" after the failure, and one for a SID we never sent, change nothing.
    assert (await post(server, "/twilio/status", {"MessageSid": sid, "MessageStatus": "sent"}))[0] == 204
    assert (await post(server, "/twilio/status", {"MessageSid": "SMnone", "MessageStatus": "delivered"}))[
        0
    ] == 204
    assert h.message(db, message_id).status == "undelivered"


async def test_delivered_status_and_refusals(db, org_id, server) -> None:
    _, _, _, message_id = texted_contact(db, org_id)
    sid = "SMout" + "0" * 29
    fields = {"MessageSid": sid, "MessageStatus": "delivered"}
    assert (await post(server, "/twilio/status", fields, signature=None))[0] == 403
    assert h.message(db, message_id).status == "sent"
    assert (await post(server, "/twilio/status", {**fields, "ErrorCode": "abc"}))[0] == 400
    assert (await post(server, "/twilio/status", {"MessageSid": sid}))[0] == 400
    assert (await post(server, "/twilio/status", fields))[0] == 204
    assert h.message(db, message_id).status == "delivered"
    with db.read() as session:
        assert session.scalar(select(func.count(Message.id))) == 1


async def test_webhooks_are_refused_when_signatures_cannot_be_checked(db, org_id) -> None:
    web = WebServer(create_app(h.twilio_settings("", public_url=""), db), "127.0.0.1", 0)
    await web.start()
    try:
        _, _, cell, _ = texted_contact(db, org_id)
        status, _, _ = await post(web, "/twilio/sms", inbound_fields(cell, "hi"))
        assert status == 403 and inbound_rows(db) == []
    finally:
        await web.stop()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"MessageSid=SM1&From=\xff\xfe&To=x", "application/x-www-form-urlencoded"),
        (b"MessageSid=SM1&From=x&To=y", "application/x-www-form-urlencoded; charset=no-such-charset"),
    ],
)
async def test_unreadable_bodies_are_400(db, server, body, content_type) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": content_type, "X-Twilio-Signature": "abc"}
        async with session.post(server.url + "/twilio/sms", data=body, headers=headers) as response:
            assert response.status == 400
    assert inbound_rows(db) == []


async def test_a_failing_text_fails_alone_when_its_batch_is_redone(db, org_id, server, monkeypatch) -> None:
    import asyncio

    from bot.twilio import webhooks

    _, _, cell, _ = texted_contact(db, org_id)
    real = webhooks.receive_inbound_batch

    def failing_on_boom(session, texts):
        if any(text.body == "boom" for text in texts):
            raise RuntimeError("a text the database will not take")
        return real(session, texts)

    monkeypatch.setattr(webhooks, "receive_inbound_batch", failing_on_boom)
    bodies = [f"reply {i}" for i in range(8)] + ["boom"]
    answers = await asyncio.gather(
        *(
            post(server, "/twilio/sms", inbound_fields(cell, body, sid=f"SM{i:032d}"))
            for i, body in enumerate(bodies)
        )
    )
    statuses = [status for status, _, _ in answers]
    assert statuses[:-1] == [200] * 8
    assert statuses[-1] >= 500  # Twilio retries a server failure; the others are not held hostage
    assert sorted(m.body for m in inbound_rows(db)) == sorted(bodies[:-1])

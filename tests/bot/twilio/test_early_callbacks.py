"""Status callbacks that beat ``mark_sent``, over real HTTP: the sender hands a text to the Twilio stand-in,
which holds its answer (with the SID) while signed callbacks for that SID reach ``POST /twilio/status``, as
Twilio's may when its callback is faster than our commit. They are applied once the sender records the SID."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.scheduler import sweep_job
from bot.twilio.client import build_client
from bot.twilio.sender import OutboxSender, SenderOptions, TwilioGateway
from bot.web import WebServer, create_app
from core import outbox
from storage import Database
from storage.models import EarlyStatusCallback
from storage.types import utcnow
from tests.bot.twilio import helpers as h
from tests.bot.twilio.standin import AUTH_TOKEN, TwilioStandIn, created

SID = "SM" + "e" * 32
SIGNER = RequestValidator(AUTH_TOKEN)


@dataclass
class Running:
    db: Database
    twilio: TwilioStandIn
    web: WebServer
    sender: OutboxSender
    http: aiohttp.ClientSession

    async def callback(self, sid: str, status: str, code: int | None = None) -> int:
        """Post a status callback signed as Twilio signs it; returns the HTTP status."""
        fields = {"MessageSid": sid, "MessageStatus": status, "AccountSid": h.ACCOUNT_SID}
        if code is not None:
            fields["ErrorCode"] = str(code)
        signature = SIGNER.compute_signature(h.PUBLIC_URL + "/twilio/status", fields)
        async with self.http.post(
            self.web.url + "/twilio/status", data=fields, headers={"X-Twilio-Signature": signature}
        ) as response:
            return response.status


@pytest.fixture
async def running(db: Database) -> AsyncIterator[Running]:
    with TwilioStandIn() as twilio:
        settings = h.twilio_settings(twilio.url)
        web = WebServer(create_app(settings, db), "127.0.0.1", 0)
        sender = OutboxSender(
            db,
            TwilioGateway(build_client(settings, timeout=30), settings),
            SenderOptions(workers=2, rate=None, poll_interval=0.05),
        )
        await web.start()
        await sender.start()
        async with aiohttp.ClientSession() as http:
            yield Running(db, twilio, web, sender, http)
        await sender.stop()
        await web.stop()


def kept(db: Database) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.execute(
            select(EarlyStatusCallback.provider_sid, EarlyStatusCallback.status).order_by(
                EarlyStatusCallback.id
            )
        ).all()
        return [tuple(row) for row in rows]


async def held_send(run: Running, org_id: int) -> tuple[int, int, threading.Event]:
    """A text the stand-in has taken (SID ``SID``) but not yet answered: (texter, message id, release)."""
    release = threading.Event()
    run.twilio.answer(created(SID, hold=release))
    user_id, _, contacts = h.world(run.db, org_id, 1)
    message_id = h.queue_text(run.db, contacts[0], user_id)
    run.sender.nudge()
    await asyncio.to_thread(run.twilio.wait_for, 1)
    return user_id, message_id, release


async def test_callbacks_before_mark_sent_are_applied_once_it_lands(db, org_id, running: Running) -> None:
    _, message_id, release = await held_send(running, org_id)
    assert await running.callback(SID, "sent") == 204
    assert await running.callback(SID, "delivered") == 204
    assert await running.callback(SID, "delivered") == 204  # a duplicate: kept once
    row = h.message(db, message_id)
    assert (row.status, row.provider_sid) == ("sending", None)
    assert kept(db) == [(SID, "sent"), (SID, "delivered")]

    release.set()
    await running.sender.drain(30)
    row = h.message(db, message_id)
    assert (row.status, row.provider_sid) == ("delivered", SID)
    assert kept(db) == []
    # Twilio sends the report once more after all: nothing changes, nothing is kept.
    assert await running.callback(SID, "delivered") == 204
    assert h.message(db, message_id).status == "delivered" and kept(db) == []
    assert h.notices(db, message_id=message_id) == []


async def test_an_early_failure_fails_the_text_and_tells_the_texter(db, org_id, running: Running) -> None:
    user_id, message_id, release = await held_send(running, org_id)
    assert await running.callback(SID, "undelivered", 30003) == 204
    assert h.notices(db, message_id=message_id) == []
    release.set()
    await running.sender.drain(30)
    row = h.message(db, message_id)
    assert (row.status, row.error_code, row.error_message) == (
        "undelivered",
        30003,
        outbox.error_reason(30003),
    )
    [notice] = h.notices(db, message_id=message_id)
    assert (notice.kind, notice.user_id, notice.payload["error_code"]) == ("failed", user_id, 30003)


async def test_a_callback_for_a_sid_never_sent_is_purged_by_the_sweep(db, org_id, running: Running) -> None:
    assert await running.callback("SM" + "0" * 32, "delivered") == 204
    assert kept(db) == [("SM" + "0" * 32, "delivered")]
    assert sweep_job(db, now=utcnow() + timedelta(hours=1)) == 0
    assert kept(db) == [("SM" + "0" * 32, "delivered")]
    assert sweep_job(db, now=utcnow() + outbox.EARLY_CALLBACKS_KEPT + timedelta(minutes=1)) == 0
    assert kept(db) == []

"""The sender worker driving the real twilio Client against the local stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.twilio.client import RewritingHttpClient, build_client
from bot.twilio.sender import (
    OutboxSender,
    Outcome,
    SenderOptions,
    TokenBucket,
    TwilioGateway,
    sender_options,
)
from core import outbox
from storage import Database
from storage.models import OptOut
from storage.types import utcnow
from tests.bot.twilio import helpers as h
from tests.bot.twilio.standin import Reply, TwilioStandIn, server_error, too_many, twilio_error

ROOT = Path(__file__).resolve().parents[3]
FAST = SenderOptions(workers=2, rate=None, poll_interval=0.05, retry_base=0.05, retry_cap=0.2)


@pytest.fixture
def standin():
    with TwilioStandIn() as server:
        yield server


class VirtualTime:
    """The rate limiter's clock in a test: it moves only when the sender waits for a token, by exactly the
    wait, so the spacing the limiter computes is checked without measuring real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        # (virtual time, message id) of every provider call, in call order.
        self.sends: list[tuple[float, int]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class TimedGateway:
    """The real Twilio gateway, noting the limiter's time of each call."""

    def __init__(self, gateway: TwilioGateway, time: VirtualTime) -> None:
        self.gateway, self.time = gateway, time
        self.default_sender = gateway.default_sender

    def describe(self) -> str:
        return self.gateway.describe()

    def send(self, job: outbox.OutboundJob, identity: str) -> Outcome:
        self.time.sends.append((self.time.now, job.message_id))
        return self.gateway.send(job, identity)


def make_sender(
    db: Database, api_url: str, options: SenderOptions = FAST, *, time: VirtualTime | None = None, **settings
) -> OutboxSender:
    cfg = h.twilio_settings(api_url, **settings)
    gateway = TwilioGateway(build_client(cfg, timeout=30), cfg)
    if time is None:
        return OutboxSender(db, gateway, options)
    return OutboxSender(db, TimedGateway(gateway, time), options, clock=time.clock, sleep=time.sleep)


async def run_until_drained(sender: OutboxSender, timeout: float = 60) -> None:
    await sender.start()
    try:
        await sender.drain(timeout)
    finally:
        await sender.stop()


def test_api_url_rewrites_only_twilio_hosts() -> None:
    client = RewritingHttpClient("http://127.0.0.1:9999/base")
    assert (
        client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1")
        == "http://127.0.0.1:9999/base/2010-04-01/Accounts/AC1/Messages.json?x=1"
    )
    assert client.rewrite("https://example.org/a") == "https://example.org/a"
    assert RewritingHttpClient("").rewrite("https://api.twilio.com/x") == "https://api.twilio.com/x"


async def test_messaging_service_send_goes_over_the_wire_and_is_marked_sent(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    with db.read() as session:
        cell = session.get(h.Contact, contacts[0]).cell
    deadline = utcnow() + timedelta(hours=2)
    message_id = h.queue_text(db, contacts[0], user_id, "Hi Ana, can we count on you?", send_before=deadline)
    await run_until_drained(make_sender(db, standin.url))
    [request] = standin.messages()
    assert request.path == f"/2010-04-01/Accounts/{h.ACCOUNT_SID}/Messages.json"
    assert request.field("To") == cell
    assert request.field("Body") == "Hi Ana, can we count on you?"
    assert request.field("MessagingServiceSid") == h.SERVICE_SID
    assert request.field("From") is None
    assert request.field("StatusCallback") == f"{h.PUBLIC_URL}/twilio/status"
    validity = int(request.field("ValidityPeriod"))
    assert 1 <= validity <= 2 * 3600
    row = h.message(db, message_id)
    assert (row.status, row.provider_sid, row.attempts) == ("sent", request.sid, 1)


async def test_from_number_send_has_no_validity_period(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    h.queue_text(db, contacts[0], user_id, send_before=utcnow() + timedelta(hours=20))
    await run_until_drained(make_sender(db, standin.url, service=False))
    [request] = standin.messages()
    assert request.field("From") == h.FROM_NUMBER
    assert request.field("MessagingServiceSid") is None and request.field("ValidityPeriod") is None


async def test_validity_period_is_clamped_to_twilios_maximum(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    h.queue_text(db, contacts[0], user_id, send_before=utcnow() + timedelta(days=3))
    await run_until_drained(make_sender(db, standin.url))
    assert standin.messages()[0].field("ValidityPeriod") == "36000"


async def test_a_campaign_sender_overrides_the_configured_one(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1, sender="+13125550199")
    message_id = h.queue_text(db, contacts[0], user_id)
    await run_until_drained(make_sender(db, standin.url))
    [request] = standin.messages()
    assert request.field("From") == "+13125550199" and request.field("MessagingServiceSid") is None
    assert h.message(db, message_id).sender == "+13125550199"


async def test_429_and_500_are_retried_with_backoff_then_sent(db, org_id, standin, monkeypatch) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    standin.answer(too_many(retry_after=1), server_error(503))
    delays: list[timedelta] = []
    mark_retry = outbox.mark_retry

    def noting_the_delay(session, message_id, delay, *args, **kwargs):
        delays.append(delay)
        return mark_retry(session, message_id, delay, *args, **kwargs)

    monkeypatch.setattr(outbox, "mark_retry", noting_the_delay)
    await run_until_drained(make_sender(db, standin.url))
    requests = standin.messages()
    assert len(requests) == 3
    # Retry-After: 1 put the second try at least a second out; the 503 (no Retry-After) got the backoff.
    assert delays[0] >= timedelta(seconds=1) and delays[1] <= timedelta(seconds=FAST.retry_cap)
    row = h.message(db, message_id)
    assert (row.status, row.attempts, row.provider_sid) == ("sent", 3, requests[2].sid)


async def test_rejected_credentials_keep_the_text_queued(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    standin.answer(twilio_error(20003, "Authenticate", status=401))
    await run_until_drained(make_sender(db, standin.url))
    assert len(standin.messages()) == 2
    assert h.message(db, message_id).status == "sent"
    assert h.notices(db, message_id=message_id) == []


async def test_retry_after_holds_back_every_text_of_that_sender(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 2)
    for contact_id in contacts:
        h.queue_text(db, contact_id, user_id)
    standin.answer(too_many(retry_after=1))
    options = SenderOptions(workers=1, rate=100, poll_interval=0.05, retry_base=0.05, retry_cap=0.2)
    time = VirtualTime()
    await run_until_drained(make_sender(db, standin.url, options, time=time))
    first, second, third = standin.messages()
    assert first.field("To") == third.field("To") != second.field("To")  # the 429'd text came last
    # The 429 paused the sender: the other contact's text waited Retry-After for its token.
    (refused_at, refused), (held_at, held), (_, retried) = time.sends
    assert retried == refused != held
    assert held_at - refused_at >= 1.0 and max(time.waits) >= 1.0


async def test_unsubscribed_error_opts_out_and_tells_the_texter(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    standin.answer(twilio_error(21610, "Attempt to send to unsubscribed recipient"))
    await run_until_drained(make_sender(db, standin.url))
    assert len(standin.messages()) == 1
    row = h.message(db, message_id)
    assert (row.status, row.error_code) == ("failed", 21610)
    with db.read() as session:
        assert session.scalars(select(OptOut.source).where(OptOut.cell == row.cell)).one() == "carrier"
    assert h.contact(db, contacts[0]).opted_out
    assert [n.kind for n in h.notices(db, message_id=message_id)] == ["failed"]


async def test_invalid_and_landline_numbers_fail_the_contact(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 2)
    invalid = h.queue_text(db, contacts[0], user_id)
    landline = h.queue_text(db, contacts[1], user_id)
    standin.answer(twilio_error(21211, "Invalid 'To' Phone Number"), twilio_error(21614, "not mobile"))
    await run_until_drained(make_sender(db, standin.url, SenderOptions(workers=1, poll_interval=0.05)))
    assert (h.message(db, invalid).error_code, h.message(db, landline).error_code) == (21211, 21614)
    assert "not a valid phone number" in h.contact(db, contacts[0]).failed_reason
    assert "not a mobile number" in h.contact(db, contacts[1]).failed_reason
    assert h.contact(db, contacts[0]).status == "closed"


async def test_a_dropped_connection_is_unknown_and_never_resent(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    standin.answer(Reply(drop=True))
    await run_until_drained(make_sender(db, standin.url))
    assert h.message(db, message_id).status == "unknown"
    await run_until_drained(make_sender(db, standin.url))
    assert len(standin.messages()) == 1


async def test_refused_connection_is_retried_later(db, org_id) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    with TwilioStandIn() as closed:
        dead_url = closed.url
    options = SenderOptions(workers=1, poll_interval=0.05, retry_base=30, retry_cap=30)
    sender = make_sender(db, dead_url, options)
    await sender.start()
    try:
        await sender.drain(60, include_retries=False)
    finally:
        await sender.stop()
    row = h.message(db, message_id)
    assert row.status == "queued" and row.attempts == 1 and "connect" in row.error_message


async def test_rate_limit_is_held(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 6)
    queued = [h.queue_text(db, contact_id, user_id) for contact_id in contacts]
    rate = 5.0
    options = SenderOptions(workers=4, rate=rate, poll_interval=0.05)
    time = VirtualTime()
    start = time.now
    await run_until_drained(make_sender(db, standin.url, options, time=time))
    assert len(standin.messages()) == 6
    # The first text goes at once; each of the other five waits 1/rate for its token, and goes after it.
    assert time.waits == pytest.approx([1 / rate] * 5)
    sent_at = sorted(at - start for at, _ in time.sends)
    assert all(at >= index / rate - 1e-9 for index, at in enumerate(sent_at))
    assert sorted(message_id for _, message_id in time.sends) == sorted(queued)


def test_token_bucket_spaces_reservations() -> None:
    now = [100.0]
    bucket = TokenBucket(2.0, burst=1, clock=lambda: now[0])
    assert [bucket.reserve(), bucket.reserve(), bucket.reserve()] == [0.0, 0.5, 1.0]
    now[0] += 1.5
    assert bucket.reserve() == 0.0
    bucket.pause(3)
    assert bucket.reserve() >= 3
    assert TokenBucket(None).reserve() == 0.0


async def test_stop_lets_the_send_in_flight_finish(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    hold = threading.Event()
    standin.answer(Reply(hold=hold))
    sender = make_sender(db, standin.url)
    await sender.start()
    await asyncio.to_thread(standin.wait_for, 1)
    stopping = asyncio.create_task(sender.stop())
    # Once the dispatcher has ended, stop() has nothing left to wait for but the send in flight.
    while sender._dispatcher is not None:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    assert not stopping.done() and h.message(db, message_id).status == "sending"
    hold.set()
    await stopping
    assert h.message(db, message_id).status == "sent"


async def test_stop_while_waiting_for_the_rate_puts_the_text_back(db, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 2)
    first = h.queue_text(db, contacts[0], user_id)
    second = h.queue_text(db, contacts[1], user_id)
    waiting = asyncio.Event()

    async def wait_for_a_token(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()  # the token never comes: only the stop ends this wait

    cfg = h.twilio_settings(standin.url)
    sender = OutboxSender(
        db,
        TwilioGateway(build_client(cfg, timeout=30), cfg),
        SenderOptions(workers=2, rate=0.2, poll_interval=0.05),
        sleep=wait_for_a_token,
    )
    await sender.start()
    await asyncio.wait_for(waiting.wait(), 30)  # the second text holds a claim and waits for its token
    assert h.message(db, second).status == "sending"
    await sender.stop()
    assert h.message(db, first).status == "sent"
    row = h.message(db, second)
    assert (row.status, row.attempts) == ("queued", 0)
    assert len(standin.messages()) == 1


CRASHING_SENDER = textwrap.dedent(
    """
    import asyncio, sys
    from bot.twilio.client import build_client
    from bot.twilio.sender import OutboxSender, SenderOptions, TwilioGateway
    from storage import Database
    from tests.bot.twilio.helpers import twilio_settings

    async def main():
        cfg = twilio_settings(sys.argv[2])
        sender = OutboxSender(Database(sys.argv[1]), TwilioGateway(build_client(cfg), cfg),
                              SenderOptions(workers=1, poll_interval=0.05))
        await sender.start()
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_a_crash_between_sending_and_sent_never_sends_twice(db, db_url, org_id, standin) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    standin.answer(Reply(hold=threading.Event()))  # Twilio got the request; the answer never comes back
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", CRASHING_SENDER, db_url, standin.url], cwd=ROOT, env=env)
    try:
        await asyncio.to_thread(standin.wait_for, 1, 60)
        assert h.message(db, message_id).status == "sending"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    # A fresh sender finds nothing to send: the row is neither queued nor resent.
    await run_until_drained(make_sender(db, standin.url))
    assert h.message(db, message_id).status == "sending"
    # A second after the dead worker began sending, by its own clock (this process's may be moved by
    # TEXTBANK_TEST_CLOCK; the worker's is not).
    started = h.message(db, message_id).sending_started_at
    with db.session() as session:
        assert outbox.sweep_stale_sending(session, timedelta(0), started + timedelta(seconds=1)) == 1
    await run_until_drained(make_sender(db, standin.url))
    assert h.message(db, message_id).status == "unknown"
    assert len(standin.messages()) == 1


def test_options_from_the_settings() -> None:
    console = h.twilio_settings("", sms="console", sms_rate=3.0)
    assert sender_options(console).rate is None
    service = h.twilio_settings("")
    assert sender_options(service).rate == 10.0
    assert sender_options(h.twilio_settings("", service=False)).rate == 1.0
    assert sender_options(h.twilio_settings("", sms_rate=0.0)).rate is None
    configured = h.twilio_settings("", sms_rate=2.5, sms_workers=8)
    assert sender_options(configured) == SenderOptions(workers=8, rate=2.5)


def test_rate_and_workers_are_read_and_checked_by_the_config() -> None:
    from bot.config import ConfigError, load_settings

    cfg = load_settings({"TEXTBANK_SMS_RATE": "2.5", "TEXTBANK_SMS_WORKERS": "8"}, env_file=None)
    assert (cfg.sms_rate, cfg.sms_workers) == (2.5, 8)
    for bad in (
        {"TEXTBANK_SMS_RATE": "fast"},
        {"TEXTBANK_SMS_WORKERS": "0"},
        {"TEXTBANK_SMS_WORKERS": "99999999999999999999999"},
        {"TEXTBANK_SMS_RATE": "-1"},
        {"TEXTBANK_SMS_RATE": "nan"},
        {"TEXTBANK_SMS_RATE": "inf"},
    ):
        with pytest.raises(ConfigError, match="TEXTBANK_SMS_"):
            load_settings(bad, env_file=None)
    for port in ("65536", "-1", "99999999999999999999999"):
        with pytest.raises(ConfigError, match="TEXTBANK_PORT=.* is not a port number"):
            load_settings({"TEXTBANK_PORT": port}, env_file=None)

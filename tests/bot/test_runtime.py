"""textbank run: components start with one log line each, and SIGTERM stops without losing a text."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.runtime import Runtime, build_runtime
from bot.scheduler import (
    RELEASE_JOB,
    REMINDER_JOB,
    SWEEP_JOB,
    Scheduler,
    release_job,
    reminder_job,
    sweep_job,
)
from bot.twilio.sender import SenderOptions
from core import outbox
from storage.types import utcnow
from tests.bot.twilio import helpers as h
from tests.bot.twilio.standin import ACCOUNT_SID, AUTH_TOKEN, Reply, TwilioStandIn

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self, name: str, events: list[str], fail: bool = False) -> None:
        self.name = name
        self.events = events
        self.fail = fail

    @property
    def description(self) -> str:
        return f"{self.name}: serving"

    async def start(self) -> None:
        if self.fail:
            raise RuntimeError("cannot start")
        self.events.append(f"start {self.name}")

    async def stop(self) -> None:
        self.events.append(f"stop {self.name}")


async def test_components_stop_in_reverse_order_and_a_failed_start_undoes_the_rest() -> None:
    events: list[str] = []
    runtime = Runtime([Recorder("a", events), Recorder("b", events)])
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, signals=False))
    while len(runtime.started) < 2:
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert events == ["start a", "start b", "stop b", "stop a"]

    events.clear()
    broken = Runtime([Recorder("a", events), Recorder("b", events, fail=True), Recorder("c", events)])
    with pytest.raises(RuntimeError):
        await broken.run(asyncio.Event(), signals=False)
    assert events == ["start a", "stop a"]


async def test_run_serves_sends_and_logs_one_line_per_component(db, org_id, caplog) -> None:
    caplog.set_level(logging.INFO, logger="textbank.run")
    user_id, _, contacts = h.world(db, org_id, 1)
    with TwilioStandIn() as standin:
        api_url = standin.url
        settings = h.twilio_settings(api_url)
        runtime = build_runtime(
            settings, db, options=SenderOptions(workers=2, poll_interval=0.05), host="127.0.0.1", port=0
        )
        stop = asyncio.Event()
        task = asyncio.create_task(runtime.run(stop, signals=False))
        while len(runtime.started) < 3:
            await asyncio.sleep(0.02)
        web = runtime.started[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(web.url + "/healthz") as response:
                assert response.status == 200
        message_id = h.queue_text(db, contacts[0], user_id, "from the runtime")
        await asyncio.to_thread(standin.wait_for, 1)
        stop.set()
        await task
    assert h.message(db, message_id).status == "sent"
    lines = [r.getMessage() for r in caplog.records if r.name == "textbank.run"]
    started = [line for line in lines if not line.endswith("stopped")]
    assert [line.split(":")[0] for line in started] == ["web", "sender", "scheduler"]
    assert "http://127.0.0.1:" in started[0] and "POST /twilio/sms" in started[0]
    assert "Messaging Service" in started[1] and api_url in started[1]
    assert RELEASE_JOB in started[2] and REMINDER_JOB in started[2] and SWEEP_JOB in started[2]


async def test_scheduler_registers_fixed_jobs_that_do_not_pile_up(db) -> None:
    scheduler = Scheduler(db, interval=timedelta(seconds=30))
    await scheduler.start()
    try:
        assert isinstance(scheduler.scheduler, AsyncIOScheduler)
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        assert set(jobs) == {RELEASE_JOB, REMINDER_JOB, SWEEP_JOB}
        for job in jobs.values():
            assert job.coalesce and job.max_instances == 1
    finally:
        await scheduler.stop()


def test_sweep_job_turns_stale_sending_into_unknown(db, org_id) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    message_id = h.queue_text(db, contacts[0], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 1, utcnow() - timedelta(minutes=10))
    assert sweep_job(db, timedelta(minutes=5)) == 1
    assert h.message(db, message_id).status == "unknown"
    assert sweep_job(db, timedelta(minutes=5)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_lets_the_send_in_flight_finish(db, db_url, org_id) -> None:
    user_id, _, contacts = h.world(db, org_id, 1)
    port = _free_port()
    hold = threading.Event()
    with TwilioStandIn() as standin:
        standin.answer(Reply(hold=hold))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TEXTBANK_DATABASE_URL": db_url,
            "TEXTBANK_PORT": str(port),
            "TEXTBANK_PUBLIC_URL": h.PUBLIC_URL,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": h.SERVICE_SID,
            "TWILIO_API_URL": standin.url,
            "TEXTBANK_SMS": "twilio",
        }
        process = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", "run"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True)
        reader.start()
        seen: list[str] = []
        try:
            message_id = h.queue_text(db, contacts[0], user_id)
            standin.wait_for(1, timeout=60)
            process.send_signal(signal.SIGTERM)
            while "text(s) in flight are answered" not in (seen[-1] if seen else ""):
                seen.append(lines.get(timeout=60))
            assert process.poll() is None  # it is waiting for the send in flight
            hold.set()
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(10)
        while not lines.empty():
            seen.append(lines.get())
        log = "".join(seen)
    assert process.returncode == 0, log
    assert h.message(db, message_id).status == "sent"
    assert "SIGTERM received" in log and "sender stopped" in log
    assert sum(" web: listening on " in line for line in log.splitlines()) == 1


def test_release_job_unassigns_replies_left_unanswered(db, org_id) -> None:
    from tests.core.factories import add_contacts, make_campaign, make_texter

    with db.session() as session:
        texter = make_texter(session, org_id)
        campaign = make_campaign(session, org_id, release_unhandled_after_minutes=15)
        stale = add_contacts(
            session,
            campaign,
            1,
            status="needs_response",
            assigned_to=texter,
            last_inbound_at=utcnow() - timedelta(minutes=30),
        )[0].id
    assert release_job(db) == 1
    assert h.contact(db, stale).assigned_user_id is None
    assert release_job(db) == 0


def test_reminder_job_reminds_the_texter_holding_waiting_replies_once(db, org_id) -> None:
    from sqlalchemy import select

    from storage.models import Notice
    from tests.core.factories import add_contacts, make_campaign, make_texter

    now = utcnow()
    with db.session() as session:
        texter = make_texter(session, org_id)
        campaign = make_campaign(session, org_id, reply_reminder_minutes=10)
        add_contacts(
            session,
            campaign,
            2,
            status="needs_response",
            assigned_to=texter,
            last_inbound_at=now - timedelta(minutes=12),
        )
    assert reminder_job(db, now) == 1
    assert reminder_job(db, now + timedelta(minutes=1)) == 0  # not again within the 10 minutes
    with db.read() as session:
        [notice] = session.scalars(select(Notice).where(Notice.kind == "reply_reminder")).all()
    assert (notice.user_id, notice.payload["count"], notice.payload["campaign_id"]) == (
        texter.id,
        2,
        campaign.id,
    )

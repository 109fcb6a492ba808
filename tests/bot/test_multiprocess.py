"""Several ``textbank run`` processes on one PostgreSQL, as a national program runs them.

Three real processes (subprocesses, each on its own port, one PostgreSQL schema), Slack in HTTP mode against
the Web API stand-in and SMS against the Twilio stand-in, both in this test's process. The load is spread
over the processes: texters' Request More clicks (claims), Send clicks each delivered twice to two
different processes (Slack's retry of a request that timed out), contacts' replies as signed Twilio
webhooks, each posted twice to two processes (Twilio's retry). Checked: every contact claimed by one
texter and texted exactly once, every reply stored once, the claims served by more than one process,
texts stuck in ``sending`` before the start swept once by one process (the scheduled job's advisory lock),
and every process's ``/metrics`` agreeing on the shared backlog.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core import assignment, campaigns, contacts_import, orgs
from storage import Database
from storage.models import Contact, Message
from storage.types import utcnow
from tests.bot.processes import TextbankProcess, slack_admin, start_textbank, stop_textbank
from tests.bot.slack.standin import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    SlackStandIn,
    block_actions_body,
    signed_headers,
)
from tests.bot.twilio.standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn
from tests.conftest import _truncate_pg

PROCESSES = 3
TEXTERS = 6
BATCH = 4  # contacts per texter's claim
CONTACTS = TEXTERS * BATCH + 3  # a few left in the pool
STALE = 5  # texts left in ``sending`` by a process that died before the start
SERVICE_SID = "MG" + "b" * 32
PUBLIC_URL = "https://textbank.multi.example"
DEADLINE = 120.0  # seconds for the whole load; a hang fails instead of running forever


def seed(db: Database, folder: Path) -> tuple[int, list[str]]:
    """A launched campaign texting at any hour, its contacts, and texters with Slack identities."""
    csv = folder / "contacts.csv"
    csv.write_text(
        "first name,last name,cell\n"
        + "".join(f"Voter{i},Multi,+1212{5550000 + i:07d}\n" for i in range(CONTACTS))
    )
    with db.session() as session:
        org = orgs.default_organization(session)
        admin = slack_admin(session, org)
        campaign = campaigns.create_campaign(
            session,
            org.id,
            title="multi",
            hours_start=0,
            hours_end=0,
            initial_script="Hi {firstName}!",
            actor=admin,
        )
        campaign.initials_batch_size = BATCH
        campaign_id = campaign.id
    contacts_import.import_contacts(db, campaign_id, csv)
    users = [f"UMULTI{i}" for i in range(TEXTERS)]
    with db.session() as session:
        org = orgs.default_organization(session)
        campaign = campaigns.get_campaign(session, org.id, str(campaign_id))
        admin = slack_admin(session, org)
        campaigns.launch_campaign(session, campaign, actor=admin)
        for user_id in users:
            user = orgs.ensure_user(
                session, org, platform="slack", workspace_id=TEAM_ID, platform_user_id=user_id, name=user_id
            )
            assignment.ensure_member(session, campaign, user)
        # Texts a dead process left in ``sending`` (to contacts beyond the texters' batches).
        stale_contacts = session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id).order_by(Contact.id.desc()).limit(STALE)
        ).all()
        for contact in stale_contacts:
            session.add(
                Message(
                    contact_id=contact.id,
                    campaign_id=campaign_id,
                    direction="out",
                    body="stale",
                    media=[],
                    cell=contact.cell,
                    status="sending",
                    attempts=1,
                    sending_started_at=utcnow() - timedelta(hours=1),
                )
            )
    return campaign_id, users


def machine_time() -> float:
    """The machine's clock, which the ``textbank run`` processes read, whatever this process travelled to."""
    hatch = time_machine.escape_hatch
    return hatch.time.time() if hatch.is_travelling() else time.time()


class Texters:
    """Signed Slack clicks, spread over the processes; cards read back from the stand-in."""

    def __init__(self, http: aiohttp.ClientSession, slack: SlackStandIn, processes: list[TextbankProcess]):
        self.http = http
        self.slack = slack
        self.processes = processes

    async def click(self, process: int, user: str, action: dict) -> None:
        body = block_actions_body(action, user_id=user, channel_id="D" + user, message_ts="card-" + user)
        url = self.processes[process % len(self.processes)].url + "/slack/events"
        # The servers are other processes on the machine's clock, even when this suite runs at another
        # moment (TEXTBANK_TEST_CLOCK): sign with that clock, as Slack would, or they refuse a stale request.
        headers = signed_headers(body, timestamp=int(machine_time()))
        async with self.http.post(url, data=body.encode(), headers=headers) as response:
            assert response.status == 200, await response.text()

    def cards(self, user: str) -> list[list[dict]]:
        return [c.blocks for c in self.slack.of("chat.update") if c.body.get("channel") == "D" + user]

    async def card_after(self, user: str, seen: int) -> list[dict]:
        while len(self.cards(user)) <= seen:
            await asyncio.sleep(0.02)
        return self.cards(user)[-1]

    async def work(self, index: int, user: str, campaign_id: int) -> int:
        """Request More through one process, then Send on each card, every click twice (two processes)."""
        await self.click(
            index, user, {"action_id": "tb_request_more", "value": json.dumps({"k": campaign_id})}
        )
        card = await self.card_after(user, 0)
        sends = 0
        while True:
            button = next(
                (e for b in card for e in b.get("elements", []) if e.get("action_id") == "tb_send_initial"),
                None,
            )
            if button is None:
                return sends
            seen = len(self.cards(user))
            action = {"action_id": "tb_send_initial", "value": button["value"]}
            await asyncio.gather(
                self.click(index + sends, user, action), self.click(index + sends + 1, user, action)
            )
            while len(self.cards(user)) < seen + 2:  # both clicks answered
                await asyncio.sleep(0.02)
            card = self.cards(user)[-1]
            sends += 1


async def reply(http: aiohttp.ClientSession, processes: list[TextbankProcess], index: int, cell: str) -> None:
    """The contact's reply, delivered by Twilio to one process and retried on another."""
    fields = {
        "MessageSid": f"SMmulti{index:027d}",
        "AccountSid": ACCOUNT_SID,
        "From": cell,
        "To": "+15005550006",
        "Body": f"multi reply {index}",
        "NumMedia": "0",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/twilio/sms", fields)
    for process in (processes[index % len(processes)], processes[(index + 1) % len(processes)]):
        async with http.post(
            process.url + "/twilio/sms", data=fields, headers={"X-Twilio-Signature": signature}
        ) as response:
            assert response.status == 200, await response.text()


async def scrape(http: aiohttp.ClientSession, process: TextbankProcess) -> dict[tuple[str, str], float]:
    async with http.get(process.url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, json.dumps(sample.labels, sort_keys=True)): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_three_processes_share_one_postgresql(pg_url: str, tmp_path: Path) -> None:
    db = Database(pg_url)
    _truncate_pg(db)
    slack = await SlackStandIn().start()
    twilio = TwilioStandIn().start()
    processes: list[TextbankProcess] = []
    try:
        campaign_id, users = seed(db, tmp_path)
        for user in users:
            slack.add_user(user, user)
        env = {
            "TEXTBANK_DATABASE_URL": pg_url,
            "TEXTBANK_PUBLIC_URL": PUBLIC_URL,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.base_url,
            "SLACK_APP_TOKEN": "",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
            "TWILIO_FROM_NUMBER": "",
            "TWILIO_API_URL": twilio.url,
            "TEXTBANK_SMS": "twilio",
            "TEXTBANK_SMS_RATE": "0",
            "DISCORD_TOKEN": "",
        }
        processes = await asyncio.to_thread(start_textbank, env, PROCESSES, tmp_path)
        async with aiohttp.ClientSession() as http:
            texters = Texters(http, slack, processes)
            sends = await asyncio.wait_for(
                asyncio.gather(*(texters.work(i, user, campaign_id) for i, user in enumerate(users))),
                DEADLINE,
            )
            assert sends == [BATCH] * TEXTERS
            texted = await asyncio.to_thread(twilio.wait_for, TEXTERS * BATCH, DEADLINE)

            with db.read() as session:
                cells = list(
                    session.scalars(
                        select(Contact.cell).where(Contact.assigned_user_id.is_not(None)).order_by(Contact.id)
                    )
                )
            await asyncio.wait_for(
                asyncio.gather(*(reply(http, processes, i, cell) for i, cell in enumerate(cells))), DEADLINE
            )
            deadline = time.monotonic() + DEADLINE
            while (
                sum(1 for c in slack.of("chat.postMessage") if "multi reply" in str(c.body.get("text")))
                < len(cells)
                and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.05)
            metrics = [await scrape(http, process) for process in processes]
    finally:
        codes = await asyncio.to_thread(stop_textbank, processes)
        twilio.stop()
        await slack.stop()
    logs = [process.log_text() for process in processes]
    assert codes == [0] * PROCESSES, logs

    # Each contact claimed by one texter, texted exactly once, whichever process took each click.
    assert len(cells) == TEXTERS * BATCH
    recipients = Counter(request.field("To") for request in twilio.messages())
    assert sorted(recipients) == sorted(cells) and set(recipients.values()) == {1}, recipients
    assert len(texted) == TEXTERS * BATCH
    with db.read() as session:
        outbound = {
            status: count
            for status, count in session.execute(
                select(Message.status, func.count())
                .where(Message.direction == "out")
                .group_by(Message.status)
            )
        }
        claimed = Counter(
            session.scalars(select(Contact.assigned_user_id).where(Contact.assigned_user_id.is_not(None)))
        )
        inbound = session.scalar(select(func.count()).where(Message.direction == "in"))
    assert dict(outbound) == {"sent": TEXTERS * BATCH, "unknown": STALE}
    assert sorted(claimed.values()) == [BATCH] * TEXTERS
    # Every reply stored once (Twilio's retries to another process included) and put in its thread once.
    assert inbound == len(cells)
    posted = Counter(
        str(c.body.get("text")).split(": ", 1)[-1]
        for c in slack.of("chat.postMessage")
        if "multi reply" in str(c.body.get("text"))
    )
    assert sorted(posted) == sorted(f"multi reply {i}" for i in range(len(cells))), posted
    assert set(posted.values()) == {1}, posted

    # The stale texts were swept once, by one process: the sweep takes the job's advisory lock.
    sweeps = [int(n) for log in logs for n in re.findall(r"(\d+) texts were left 'sending'", log)]
    assert sweeps == [STALE], logs

    # Claims were served by more than one process; the backlog every process reports is the same.
    claim_counts = [m.get(("textbank_claim_seconds_count", "{}"), 0) for m in metrics]
    assert sum(claim_counts) == TEXTERS and sum(1 for n in claim_counts if n) > 1, claim_counts
    backlog = [
        {key: v for key, v in m.items() if key[0] in ("textbank_outbox_texts", "textbank_notices_waiting")}
        for m in metrics
    ]
    assert backlog[0] and backlog.count(backlog[0]) == PROCESSES, backlog
    assert backlog[0][("textbank_outbox_texts", '{"status": "unknown"}')] == STALE
    received = [m.get(("textbank_texts_received_total", "{}"), 0) for m in metrics]
    assert sum(received) == len(cells), received
    sent = [m.get(("textbank_texts_sent_total", "{}"), 0) for m in metrics]
    assert sum(sent) == TEXTERS * BATCH, sent
    db.dispose()

"""Benchmark: texters clicking Send through the real Bolt app over HTTP, and replies reaching their threads.

One process runs the web server with ``POST /slack/events`` (the Bolt app as ``textbank run`` builds it,
acking before the work), the Slack relay worker, and a local Slack Web API stand-in. N texters each hold
K contacts; each texter clicks Send on their card, waits for the card to show the next contact and clicks
again, all texters at once, until every initial is sent. Then R contacts reply at once, each as a signed
Twilio webhook (``POST /twilio/sms`` on the same server, as Twilio sends it), and the relay posts each
reply into its texter's thread.

Reports click-to-ack latency (the HTTP round trip of a signed block_actions request) p50/p99, sends/s
(clicks whose card came back updated, per second of wall time) and reply-to-thread latency p50/p99: from
the webhook's request (the contact's text reaching textbank) to the stand-in receiving the thread post,
and from the webhook's answer (sent once the text is committed) to the same post. Target p99 < 1 s.
``--inbound direct`` stores the replies by calling core.inbound in threads instead (no HTTP), timed from
each commit, as the first version of this benchmark did.

    /tmp/venv/bin/python bench/slack_clicks.py --texters 20 --per-texter 10 --replies 100
    TEXTBANK_DATABASE_URL=postgresql+psycopg://... /tmp/venv/bin/python bench/slack_clicks.py  # PostgreSQL

With no TEXTBANK_DATABASE_URL it uses a throw-away SQLite file. On PostgreSQL it migrates a throw-away
schema and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, select, text
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.slack.app import SlackComponent, build_app, make_client  # noqa: E402
from bot.twilio.webhooks import SMS_PATH, add_twilio_routes  # noqa: E402
from bot.web import WebServer, create_app  # noqa: E402
from core import assignment, campaigns, contacts_import, orgs, outbox  # noqa: E402
from core.inbound import receive_inbound  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import Contact  # noqa: E402
from tests.bot.slack.standin import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    SlackStandIn,
    block_actions_body,
    signed_headers,
)

OUR_NUMBER = "+15005550006"
PUBLIC_URL = "https://textbank.bench.example"
TWILIO_TOKEN = "bench-twilio-auth-token"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def prepare(db: Database, texters: int, per_texter: int) -> tuple[int, list[str]]:
    """A launched campaign (texting any time), texters with Slack identities each holding their contacts."""
    total = texters * per_texter
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as csv:
        csv.write("first name,last name,cell\n")
        for i in range(total):
            csv.write(f"Voter{i},Bench,+1212{5550000 + i:07d}\n")
    with db.session() as session:
        org = orgs.default_organization(session)
        orgs.link_workspace(session, org, "slack", TEAM_ID)
        campaign = campaigns.create_campaign(
            session,
            org.id,
            actor=orgs.command_line_user(session, org, "bench"),
            title=f"bench {uuid.uuid4().hex[:6]}",
            hours_start=0,
            hours_end=0,
            initial_script="Hi {firstName}, it's {texterName}. Will you vote?",
        )
        campaign.initials_batch_size = per_texter
        campaign_id = campaign.id
    contacts_import.import_contacts(db, campaign_id, Path(csv.name))
    os.unlink(csv.name)
    slack_ids = [f"UBENCH{i:04d}" for i in range(texters)]
    with db.session() as session:
        org = orgs.default_organization(session)
        campaign = campaigns.get_campaign(session, org.id, str(campaign_id))
        campaigns.launch_campaign(session, campaign, actor=orgs.command_line_user(session, org, "bench"))
        for slack_id in slack_ids:
            user = orgs.ensure_user(
                session, org, platform="slack", workspace_id=TEAM_ID, platform_user_id=slack_id, name=slack_id
            )
            assignment.ensure_member(session, campaign, user)
            claimed = assignment.request_initials(session, campaign, user)
            assert len(claimed.contact_ids) == per_texter, claimed
    return campaign_id, slack_ids


async def reply_webhooks(
    http: aiohttp.ClientSession, base: str, cells: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each cell texts back at once through a signed webhook; returns when each was sent and answered."""
    validator = RequestValidator(TWILIO_TOKEN)
    requests = []
    for index, cell in enumerate(cells):
        fields = {
            "MessageSid": f"SMin{index:030d}",
            "AccountSid": "AC" + "0" * 32,
            "From": cell,
            "To": OUR_NUMBER,
            "Body": f"bench reply {index}",
            "NumMedia": "0",
        }
        requests.append((fields, validator.compute_signature(PUBLIC_URL + SMS_PATH, fields)))
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}

    async def post(fields: dict[str, str], signature: str) -> None:
        sent[fields["Body"]] = time.perf_counter()
        async with http.post(
            base + SMS_PATH, data=fields, headers={"X-Twilio-Signature": signature}
        ) as response:
            await response.read()
            assert response.status == 200, response.status
        answered[fields["Body"]] = time.perf_counter()

    await asyncio.gather(*(post(fields, signature) for fields, signature in requests))
    return sent, answered


async def reply_direct(db: Database, cells: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Each cell's reply stored by core.inbound in a thread of its own; returns ({}, commit times)."""
    committed: dict[str, float] = {}

    def reply(index: int, cell: str) -> None:
        with db.session() as session:
            receive_inbound(
                session,
                from_cell=cell,
                to=OUR_NUMBER,
                body=f"bench reply {index}",
                provider_sid=f"SMin{index:030d}",
            )
        committed[f"bench reply {index}"] = time.perf_counter()

    await asyncio.gather(*(asyncio.to_thread(reply, i, cell) for i, cell in enumerate(cells)))
    return {}, committed


class Bench:
    def __init__(self, url: str, slack: SlackStandIn) -> None:
        self.url = url
        self.slack = slack
        self.acks: list[float] = []
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def thread_posts(self, count: int, timeout: float) -> dict[str, float]:
        """When the stand-in received each ``bench reply N`` thread post (reads only the new calls)."""
        arrived: dict[str, float] = {}
        seen = 0
        deadline = time.perf_counter() + timeout
        while len(arrived) < count and time.perf_counter() < deadline:
            calls = self.slack.calls
            for call in calls[seen:]:
                posted = str(call.body.get("text") or "")
                if call.method == "chat.postMessage" and "bench reply" in posted:
                    arrived.setdefault(posted.split(": ", 1)[1], call.at)
            seen = len(calls)
            await asyncio.sleep(0.01)
        return arrived

    async def click(self, user: str, action: dict, ts: str) -> None:
        body = block_actions_body(action, user_id=user, channel_id="D" + user, message_ts=ts)
        started = time.perf_counter()
        async with self.http.post(self.url, data=body.encode(), headers=signed_headers(body)) as response:
            await response.read()
            assert response.status == 200, response.status
        self.acks.append(time.perf_counter() - started)

    async def next_card(self, channel: str, seen: int) -> dict:
        while True:
            updates = [c for c in self.slack.of("chat.update") if c.body.get("channel") == channel]
            if len(updates) > seen:
                return updates[seen].blocks
            await asyncio.sleep(0.005)

    async def texter(self, user: str, campaign_id: int) -> int:
        channel, ts, sends = "D" + user, f"card-{user}", 0
        await self.click(
            user, {"action_id": "tb_start_initials", "value": json.dumps({"k": campaign_id})}, ts
        )
        seen = 0
        while True:
            card = await self.next_card(channel, seen)
            seen += 1
            button = next(
                (e for b in card for e in b.get("elements", []) if e.get("action_id") == "tb_send_initial"),
                None,
            )
            if button is None:
                return sends
            await self.click(user, {"action_id": "tb_send_initial", "value": button["value"]}, ts)
            sends += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texters", type=int, default=20)
    parser.add_argument("--per-texter", type=int, default=10)
    parser.add_argument("--replies", type=int, default=100)
    parser.add_argument(
        "--inbound",
        choices=["webhook", "direct"],
        default="webhook",
        help="replies as signed Twilio webhooks over HTTP (default) or as direct core.inbound calls",
    )
    args = parser.parse_args()

    url = os.environ.get("TEXTBANK_DATABASE_URL", "")
    schema = None
    folder = tempfile.mkdtemp(prefix="textbank-bench-")
    if url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        db_url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    else:
        db_url = f"sqlite:///{folder}/bench.db"
    upgrade(db_url)
    db = Database(db_url)
    slack = await SlackStandIn().start()
    try:
        campaign_id, users = prepare(db, args.texters, args.per_texter)
        for user in users:  # so the app's users.info look-ups are answered as Slack would
            slack.add_user(user, user)
        settings = Settings(
            database_url=db_url,
            public_url=PUBLIC_URL,
            twilio_auth_token=TWILIO_TOKEN,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.base_url,
        )
        component = SlackComponent(
            db, settings, app=build_app(db, settings, client=make_client(BOT_TOKEN, slack.base_url))
        )
        web = WebServer(
            create_app(settings, db, hooks=[add_twilio_routes, component.add_routes]), "127.0.0.1", 0
        )
        await web.start()
        await component.start()
        bench = Bench(web.url + "/slack/events", slack)
        started = time.perf_counter()
        sends = await asyncio.gather(*(bench.texter(user, campaign_id) for user in users))
        elapsed = time.perf_counter() - started
        total = sum(sends)
        print(f"database: {db.dialect}; texters: {args.texters}; initials: {total}")
        print(
            f"click-to-ack: p50 {percentile(bench.acks, 50) * 1000:.1f} ms, "
            f"p99 {percentile(bench.acks, 99) * 1000:.1f} ms over {len(bench.acks)} clicks"
        )
        print(f"sends: {total / elapsed:.1f}/s ({total} in {elapsed:.2f} s, each click waited for its card)")

        with db.session() as session:
            jobs = outbox.claim_queued(session, total + 10)
            for job in jobs:
                outbox.mark_sent(session, job.message_id, f"SMbench{job.message_id:025d}")
            cells = list(
                session.scalars(
                    select(Contact.cell)
                    .where(Contact.campaign_id == campaign_id)
                    .order_by(Contact.id)
                    .limit(args.replies)
                )
            )

        if args.inbound == "direct":
            sent, stored = await reply_direct(db, cells)
        else:
            sent, stored = await reply_webhooks(bench.http, web.url, cells)
        arrived = await bench.thread_posts(len(cells), timeout=60)
        from_stored = [arrived[k] - stored[k] for k in arrived]
        label = "commit" if args.inbound == "direct" else "webhook answered (stored)"
        if sent:
            from_sent = [arrived[k] - sent[k] for k in arrived]
            print(
                f"reply-to-thread from webhook sent: p50 {percentile(from_sent, 50) * 1000:.0f} ms, "
                f"p99 {percentile(from_sent, 99) * 1000:.0f} ms ({len(arrived)}/{len(cells)} replies arrived)"
            )
        print(
            f"reply-to-thread from {label}: p50 {percentile(from_stored, 50) * 1000:.0f} ms, "
            f"p99 {percentile(from_stored, 99) * 1000:.0f} ms ({len(arrived)}/{len(cells)} replies arrived)"
        )
        await bench.http.close()
        await component.stop()
        await web.stop()
    finally:
        await slack.stop()
        db.dispose()
        if schema:
            with create_engine(url).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    asyncio.run(main())

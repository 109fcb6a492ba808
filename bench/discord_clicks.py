"""Benchmark: texters clicking Send on their Discord DM cards, all at once, then replies reaching threads.

One process runs the Discord bot as ``textbank run`` builds it (``DiscordComponent``: login, gateway from
``GET /gateway/bot``, ``/textbank`` synced, the relay worker) and the web server's Twilio webhook against
the REST + gateway stand-in of the tests. An admin has given each of N texters K contacts and chosen the
channel for conversation threads. Every texter opens their card, clicks Send, waits for the card to come
back with the next contact and clicks again, all texters at once, until every initial is sent.

Each click is an ``INTERACTION_CREATE`` the stand-in writes to the gateway websocket. Reported:
click-to-acknowledge (from writing the click to the stand-in receiving the deferral, which Discord wants
within 3 s) p50/p99, click-to-card (to the edited card) p50/p99, and sends/s (wall time).

Then R contacts (spread over the texters) reply at once, each a signed Twilio webhook (``POST
/twilio/sms``); each conversation gets its private thread. Reported: reply-to-thread p50/p99, from the
webhook's request to the stand-in receiving the contact's text posted in its thread (target p99 < 1 s),
after checking that every text was posted once, in the thread of the texter who holds the contact.

``--limits`` says what the stand-in does about Discord's rate limits (tests/bot/discord/ratelimits.py):
``unlimited`` (default) answers with buckets too large to reach, so textbank's own time is measured;
``discord`` adds the documented global limit (50 requests a second) and, as assumed per-route limits,
5 messages per 5 s per channel and ``--thread-limit`` thread creations per parent channel; ``headerless``
sends no rate-limit headers, as the stand-in does in tests (discord.py then sends one request at a time
per route and channel).

    .venv/bin/python bench/discord_clicks.py --texters 20 --per-texter 10 --replies 100
    .venv/bin/python bench/discord_clicks.py --replies 100 --limits discord --thread-limit 5/5

With no TEXTBANK_DATABASE_URL it uses a throw-away SQLite file; with a PostgreSQL one it migrates a
throw-away schema and drops it at the end:

    export TEXTBANK_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/discord_clicks.py --texters 20 --per-texter 10 --replies 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, select, text
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.chat import actions as A  # noqa: E402
from bot.chat.actions import act  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.discord.component import DiscordComponent  # noqa: E402
from bot.twilio.webhooks import SMS_PATH, add_twilio_routes  # noqa: E402
from bot.web import WebServer, create_app  # noqa: E402
from core import (  # noqa: E402
    assignment,
    campaign_yaml,
    campaigns,
    contacts_import,
    orgs,
    outbox,
    thread_channels,  # noqa: E402
)
from storage import Database, upgrade  # noqa: E402
from storage.models import Contact, PlatformIdentity  # noqa: E402
from tests.bot.discord.ratelimits import RateLimits, RouteLimit  # noqa: E402
from tests.bot.discord.standin import (  # noqa: E402
    BOT_TOKEN,
    CHANNEL_ID,
    GUILD_ID,
    OWNER_ID,
    Call,
    DiscordStandIn,
)

CAMPAIGN = """\
title: Discord bench
timezone: America/New_York
hours: {start: "00:00", end: "00:00"}
assignment: {dynamic_initials: false}
script:
  initial: "Hi {firstName}, it's {texterName}. Will you vote?"
"""
FIRST_TEXTER = 800000000000000000
PUBLIC_URL = "https://textbank.bench.example"
TWILIO_TOKEN = "bench-twilio-auth-token"
OUR_NUMBER = "+15005550006"
REPLY = "bench reply {:04d} now"
REPLY_WAVE = 1000  # the second wave's replies are numbered from here


def prepare(db: Database, folder: Path, texters: int, per_texter: int) -> int:
    """The campaign, N x K contacts, and each texter holding K of them; returns the campaign id."""
    csv = folder / "contacts.csv"
    rows = (f"Voter{i},+1212{5550000 + i:07d}" for i in range(texters * per_texter))
    csv.write_text("first name,cell\n" + "\n".join(rows) + "\n")
    with db.session() as session:
        org = orgs.default_organization(session)
        campaign, _ = campaign_yaml.apply_campaign_yaml(
            session, org.id, CAMPAIGN, actor=orgs.command_line_user(session, org, "bench")
        )
        campaign_id = campaign.id
    contacts_import.import_contacts(db, campaign_id, csv)
    with db.session() as session:
        org = orgs.default_organization(session)
        admin = orgs.command_line_user(session, org, "bench")
        campaign = campaigns.launch_campaign(
            session, campaigns.get_campaign(session, org.id, str(campaign_id)), actor=admin
        )
        for n in range(texters):
            texter = orgs.enter_workspace_user(
                session,
                platform="discord",
                workspace_id=str(GUILD_ID),
                platform_user_id=str(FIRST_TEXTER + n),
                name=f"Texter {n}",
                platform_admin=False,
            )
            assignment.assign_initials(session, admin, campaign, texter, per_texter)
        owner = orgs.enter_workspace_user(
            session,
            platform="discord",
            workspace_id=str(GUILD_ID),
            platform_user_id=str(OWNER_ID),
            name="Olive Owner",
            platform_admin=True,
        )
        session.flush()
        thread_channels.choose(session, owner.id, "discord", str(GUILD_ID), str(CHANNEL_ID))
    return campaign_id


def button(message: dict[str, Any], label: str) -> str | None:
    found = [c for row in message["components"] for c in row["components"] if c.get("label") == label]
    return found[0]["custom_id"] if found else None


class Answers:
    """Each interaction's deferral and answer as the stand-in records them, by token.

    One pass over the record serves every texter: each texter scanning all calls since its click, on
    every new call, cost as much of the process's time as the stand-in's whole server did.
    """

    TOKEN = re.compile(r"/(?:interactions|webhooks)/\d+/([^/]+)")

    def __init__(self, api: DiscordStandIn) -> None:
        self.api = api
        self.seen = 0
        self.by_token: dict[str, list[Call]] = {}

    def _catch_up(self) -> None:
        for call in self.api.calls[self.seen :]:
            if found := self.TOKEN.match(call.path):
                self.by_token.setdefault(found.group(1), []).append(call)
        self.seen = len(self.api.calls)

    async def of(self, token: str) -> tuple[Call, Call]:
        """The deferral (the callback) and the answer (the edit, or a message in the callback)."""

        def both(_api: DiscordStandIn) -> tuple[Call, Call] | None:
            self._catch_up()
            calls = self.by_token.get(token, [])
            ack = next((c for c in calls if c.path.endswith("/callback")), None)
            answer = next(
                (c for c in calls if c.method == "PATCH" or (c.body or {}).get("type") in (4, 7)), None
            )
            return (ack, answer) if ack is not None and answer is not None else None

        result: tuple[Call, Call] = await self.api.wait_for(both, timeout=120)
        return result


async def texter(
    api: DiscordStandIn,
    answers: Answers,
    user_id: int,
    campaign_id: int,
    acks: list[float],
    cards: list[float],
) -> int:
    """Open the card, then click Send until no Send is left; returns the texts sent."""
    start = {
        "type": 2,
        "style": 1,
        "label": "Start",
        "custom_id": act(A.START_INITIALS, k=campaign_id).encode(),
    }
    message = api.message_payload(
        int(api.dm_channel(user_id)["id"]), {"components": [{"type": 1, "components": [start]}]}
    )
    label, sent = "Start", 0
    while (wanted := button(message, label)) is not None:
        clicked = time.perf_counter()
        token = await api.click(user_id, message, wanted)
        ack, answer = await answers.of(token)
        acks.append(ack.at - clicked)
        cards.append(answer.at - clicked)
        sent += label == "Send"
        label, message = "Send", api.message(answer)
    return sent


def limits(mode: str, thread_limit: str) -> RateLimits | None:
    """The stand-in's rate limits for ``--limits`` (None: no headers at all)."""
    if mode == "headerless":
        return None
    if mode == "unlimited":
        return RateLimits(global_per_second=None)
    routes = [RouteLimit("POST", r"/channels/(\d+)/messages", 5, 5.0)]
    if thread_limit != "none":
        count, per = thread_limit.split("/")
        routes.append(RouteLimit("POST", r"/channels/(\d+)/threads", int(count), float(per)))
    return RateLimits(routes)


def mark_sent_and_pick(db: Database, campaign_id: int, replies: int) -> dict[str, str]:
    """The initials marked sent (as Twilio's answers would), and ``replies`` contacts taken in turn from
    each texter; returns their cells with the Discord id of the texter who holds each."""
    with db.session() as session:
        for job in outbox.claim_queued(session, 100_000):
            outbox.mark_sent(session, job.message_id, f"SMbench{job.message_id:025d}")
        rows = session.execute(
            select(Contact.cell, PlatformIdentity.platform_user_id)
            .join(PlatformIdentity, PlatformIdentity.user_id == Contact.assigned_user_id)
            .where(Contact.campaign_id == campaign_id, PlatformIdentity.platform == "discord")
            .order_by(Contact.id)
        ).all()
    by_texter: dict[str, list[str]] = {}
    for cell, texter_id in rows:
        by_texter.setdefault(texter_id, []).append(cell)
    picked: dict[str, str] = {}
    while len(picked) < replies and any(by_texter.values()):
        for texter_id, cells in by_texter.items():
            if cells and len(picked) < replies:
                picked[cells.pop(0)] = texter_id
    return picked


async def reply_all(http: aiohttp.ClientSession, base: str, cells: list[str], first: int) -> dict[int, float]:
    """Each cell texts back at once through a signed webhook (reply ``first + i``); returns when each
    request was sent."""
    validator = RequestValidator(TWILIO_TOKEN)
    sent: dict[int, float] = {}

    async def post(index: int, cell: str) -> None:
        fields = {
            "MessageSid": f"SMin{index:030d}",
            "AccountSid": "AC" + "0" * 32,
            "From": cell,
            "To": OUR_NUMBER,
            "Body": REPLY.format(index),
            "NumMedia": "0",
        }
        signature = validator.compute_signature(PUBLIC_URL + SMS_PATH, fields)
        sent[index] = time.perf_counter()
        async with http.post(
            base + SMS_PATH, data=fields, headers={"X-Twilio-Signature": signature}
        ) as answer:
            await answer.read()
            assert answer.status == 200, answer.status

    await asyncio.gather(*(post(first + i, cell) for i, cell in enumerate(cells)))
    return sent


async def replies_in_threads(
    api: DiscordStandIn, holders: dict[int, str], timeout: float
) -> dict[int, float]:
    """When each reply (by number) was posted into its thread; checks each was posted once, in a private
    thread of the conversations channel that its holder (``holders``: reply -> texter) was added to."""
    pattern = re.compile(REPLY.replace("{:04d}", r"(\d{4})"))

    def arrived(s: DiscordStandIn) -> list[tuple[int, Any]] | None:
        found = [
            (int(m.group(1)), call)
            for call in s.find("POST", r"/channels/\d+/messages")
            if (m := pattern.search(call.text)) and int(m.group(1)) in holders
        ]
        return found if len(found) >= len(holders) else None

    try:
        found = await api.wait_for(arrived, timeout)
    except TimeoutError:
        found = arrived(api) or []
    members = {
        c.path.split("/")[2]: c.path.split("/")[4]
        for c in api.find("PUT", r"/channels/\d+/thread-members/\d+")
    }
    at: dict[int, float] = {}
    for index, call in found:
        thread = api.channels.get(int(call.path.split("/")[2]), {})
        if index in at:
            raise AssertionError(f"reply {index} was posted twice")
        if thread.get("parent_id") != str(CHANNEL_ID) or members.get(thread["id"]) != holders[index]:
            raise AssertionError(f"reply {index} was posted in {call.path}, not its texter's thread")
        at[index] = call.at
    return at


async def settled(api: DiscordStandIn, quiet: float = 1.0) -> None:
    """Until the bot has made no request for ``quiet`` seconds (the controls of the last wave posted)."""
    seen = -1
    while seen != len(api.calls):
        seen = len(api.calls)
        await asyncio.sleep(quiet)


def percentile(values: list[float], p: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]
    )


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="textbank-bench-"))
    server = os.environ.get("TEXTBANK_DATABASE_URL", "")
    schema = f"bench_{os.getpid()}" if server.startswith("postgresql") else None
    if schema:
        with create_engine(server).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{folder / 'bench.db'}"
    try:
        await run(args, folder, url)
    finally:
        if schema:
            with create_engine(server).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


async def run(args: argparse.Namespace, folder: Path, url: str) -> None:
    upgrade(url)
    db = Database(url)
    campaign_id = prepare(db, folder, args.texters, args.per_texter)
    api = await DiscordStandIn(ratelimits=limits(args.limits, args.thread_limit)).start()
    for n in range(args.texters):
        api.add_member(FIRST_TEXTER + n, f"Texter {n}")
    settings = Settings(
        database_url=url,
        discord_token=BOT_TOKEN,
        discord_api_url=api.base_url,
        public_url=PUBLIC_URL,
        twilio_auth_token=TWILIO_TOKEN,
    )
    bot = DiscordComponent(db, settings)
    if args.limits == "unlimited":
        bot.bot.pace.interval = 0.0  # no global limit to keep under: textbank's own time
    web = WebServer(create_app(settings, db, hooks=[add_twilio_routes]), "127.0.0.1", 0)
    await web.start()
    await bot.start()
    acks: list[float] = []
    cards: list[float] = []
    ms = 1000.0
    answers = Answers(api)
    try:
        began = time.perf_counter()
        sent = await asyncio.gather(
            *(texter(api, answers, FIRST_TEXTER + n, campaign_id, acks, cards) for n in range(args.texters))
        )
        wall = time.perf_counter() - began
        print(
            f"{args.texters} texters x {args.per_texter} contacts on {db.dialect}: "
            f"{sum(sent)} sent in {wall:.1f} s"
        )
        print(
            f"  click-to-ack  p50 {percentile(acks, 50) * ms:.0f} ms  p99 {percentile(acks, 99) * ms:.0f} ms"
        )
        print(
            f"  click-to-card p50 {percentile(cards, 50) * ms:.0f} ms  "
            f"p99 {percentile(cards, 99) * ms:.0f} ms"
        )
        print(f"  {sum(sent) / wall:.1f} sends/s")
        if args.replies:
            picked = await asyncio.to_thread(mark_sent_and_pick, db, campaign_id, args.replies)
            cells = list(picked)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                # First every conversation's thread is opened; then the same contacts text again.
                for first, what in ((0, "new threads"), (REPLY_WAVE, "threads already open")):
                    await settled(api)
                    refused = api.ratelimits.refusals if api.ratelimits else 0
                    holders = {first + i: picked[cell] for i, cell in enumerate(cells)}
                    asked = await reply_all(http, web.url, cells, first)
                    posted = await replies_in_threads(api, holders, args.reply_timeout)
                    refused = (api.ratelimits.refusals if api.ratelimits else 0) - refused
                    latencies = [posted[i] - asked[i] for i in posted]
                    print(
                        f"{len(posted)}/{len(cells)} replies in their threads, {what} "
                        f"({args.limits} rate limits, {refused} requests refused with 429)"
                    )
                    if latencies:
                        print(
                            f"  reply-to-thread p50 {percentile(latencies, 50) * ms:.0f} ms  "
                            f"p99 {percentile(latencies, 99) * ms:.0f} ms  max {max(latencies) * ms:.0f} ms"
                        )
    finally:
        await bot.stop()
        await web.stop()
        await api.stop()
        db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texters", type=int, default=20)
    parser.add_argument("--per-texter", type=int, default=10)
    parser.add_argument("--replies", type=int, default=100, help="contacts replying at once (0: none)")
    parser.add_argument("--limits", choices=["unlimited", "discord", "headerless"], default="unlimited")
    parser.add_argument("--thread-limit", default="none", help="with --limits discord: COUNT/SECONDS or none")
    parser.add_argument("--reply-timeout", type=float, default=300.0)
    asyncio.run(main(parser.parse_args()))

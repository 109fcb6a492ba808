"""Benchmark: thousands of simulated texters against real ``textbank run`` processes on one PostgreSQL.

Nothing of the load runs in the server: the bench starts, each in processes of its own,

- ``--servers`` ``textbank run`` processes (Slack in HTTP mode, SMS through Twilio), one database;
- a Slack Web API stand-in (``SLACK_API_URL``) that answers the servers and streams every message they post
  or update in a texter's DM to the load process that plays that texter;
- a Twilio API stand-in that accepts every text and counts the texts each number got;
- ``--workers`` load processes, each running its share of the texters as asyncio tasks.

Each texter acts as a person does: arrives within ``--ramp`` seconds, clicks the campaign's Join button
(a signed ``block_actions`` request over HTTP to one of the servers), waits for the card in their DM, clicks
Request More, then Send on each card after a think time of about ``--think`` seconds, and Request More again
at the end of each batch (``--rounds`` batches). Some contacts (``--reply-rate``) text back a while after
their initial as a signed Twilio webhook; the texter answers after about ``--reply-think`` seconds (picks the
survey answer, then Send). The load stops by itself: after the texters' last batch, or at ``--max-seconds``.

Reports click-to-ack (the HTTP round trip of a signed click) p50/p99, sends/s (initials committed by
textbank per second while texters were sending), the Send click to card-updated time, reply-to-thread p50/p99
(from the webhook's request to the stand-in receiving the thread post) and checks that no contact was texted
twice (the Twilio stand-in's count per number and the outbox rows per contact), that every text went out.

    python bench/texters.py --texters 1000
    python bench/texters.py --texters 10000 --servers 2 --workers 2
    TEXTBANK_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test python bench/texters.py  # default

It migrates a throw-away PostgreSQL schema and drops it at the end. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import create_engine, func, select, text
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import machine  # noqa: E402

from core import campaigns, contacts_import, joining, orgs, scripts  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import Contact, Message  # noqa: E402
from tests.bot.processes import slack_admin, start_textbank, stop_textbank  # noqa: E402
from tests.bot.slack.standin import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    SlackStandIn,
    block_actions_body,
)
from tests.bot.twilio.standin import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PUBLIC_URL = "https://textbank.bench.example"
SERVICE_SID = "MG" + "c" * 32
OUR_NUMBER = "+15005550006"
JOIN_CHANNEL = "C0JOIN"
REPLY = re.compile(r"bench reply (\S+)")
VOTER = re.compile(r"Voter(\d+)")
FIRST_CELL = 5550000
CARD_ACTIONS = ("tb_send_initial", "tb_request_more", "tb_done_for_now")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cell_of(index: int) -> str:
    return f"+1212{FIRST_CELL + index:07d}"


def user_of(worker: int, index: int) -> str:
    return f"U{worker:02d}{index:06d}"


def worker_of(channel: str) -> int | None:
    """The load process that plays the texter whose DM this is (``D`` + the Slack user id)."""
    if channel.startswith("DU") and len(channel) >= 4 and channel[2:4].isdigit():
        return int(channel[2:4])
    return None


# --- the Slack Web API stand-in (its own process) --------------------------------------------------------


class StreamingSlack(SlackStandIn):
    """The tests' stand-in, keeping no record: DM posts and updates go to the load process of their texter
    (``GET /api/bench.events``), and the moment each contact's reply reached its thread is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.consumed: dict[int, int] = defaultdict(int)  # events before this index were handed over
        self.arrived: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.threaded: dict[str, float] = {}
        self.calls_by_method: Counter[str] = Counter()

    async def _record(self, method: str, request: web.Request) -> Any:
        call = await super()._record(method, request)
        self.calls.clear()  # nothing kept: 10,000 texters make millions of calls
        self.calls_by_method[method] += 1
        return call

    def _m_users_info(self, call: Any) -> dict[str, Any]:
        user_id = str(call.body.get("user") or call.query.get("user", ""))
        if user_id not in self.users:
            self.add_user(user_id, f"Texter {user_id}")
        return super()._m_users_info(call)

    def _publish(self, kind: str, call: Any, ts: str) -> None:
        channel = str(call.body.get("channel", ""))
        thread = call.body.get("thread_ts")
        posted = str(call.body.get("text") or "")
        if thread and kind == "post":
            found = REPLY.search(posted)
            if found:
                self.threaded.setdefault(found.group(1), time.time())
        worker = worker_of(channel)
        if worker is None:
            return
        self.events[worker].append(
            {"k": kind, "ch": channel, "ts": ts, "th": thread, "text": posted, "blocks": call.blocks}
        )
        self.arrived[worker].set()

    def _m_chat_postMessage(self, call: Any) -> dict[str, Any]:
        answer = super()._m_chat_postMessage(call)
        self._publish("post", call, answer["ts"])
        return answer

    def _m_chat_update(self, call: Any) -> dict[str, Any]:
        answer = super()._m_chat_update(call)
        self._publish("update", call, str(call.body.get("ts")))
        return answer

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "bench.events":
            return await self._events(request)
        if method == "bench.results":
            return web.json_response({"threaded": self.threaded, "calls": dict(self.calls_by_method)})
        return await super()._api(request)

    async def _events(self, request: web.Request) -> web.Response:
        """Events for one load process after ``after`` (a long poll of up to 10 s); older ones are dropped."""
        worker, after = int(request.query["w"]), int(request.query["after"])
        queue = self.events[worker]
        drop = after - self.consumed[worker]
        if drop > 0:
            del queue[:drop]
            self.consumed[worker] = after
        if not queue:
            self.arrived[worker].clear()
            try:
                await asyncio.wait_for(self.arrived[worker].wait(), 10)
            except TimeoutError:
                pass
        start = self.consumed[worker]
        return web.json_response({"from": start, "events": queue[:2000]})


def run_slack(ready: Any) -> None:
    async def serve() -> None:
        slack = await StreamingSlack().start()
        ready.put(slack.root)
        await asyncio.Event().wait()

    asyncio.run(serve())


# --- the Twilio API stand-in (its own process) -----------------------------------------------------------


def run_twilio(ready: Any) -> None:
    texted: Counter[tuple[str, str]] = Counter()  # (number, body): the same text twice is the failure
    serial = iter(range(10**12))

    async def send(request: web.Request) -> web.Response:
        form = await request.post()
        to = str(form.get("To", ""))
        texted[to, str(form.get("Body", ""))] += 1
        sid = f"SMbench{next(serial):025d}"
        return web.json_response(
            {
                "sid": sid,
                "to": to,
                "status": "accepted",
                "messaging_service_sid": form.get("MessagingServiceSid"),
            },
            status=201,
        )

    async def stats(request: web.Request) -> web.Response:
        twice = [[to, body, n] for (to, body), n in texted.items() if n > 1]
        return web.json_response({"texts": sum(texted.values()), "twice": twice})

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", send)
        app.router.add_get("/_bench/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.put(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(serve())


# --- the texters (load processes) ------------------------------------------------------------------------


@dataclass
class Plan:
    worker: int
    texters: int
    servers: list[str]
    slack_root: str
    join_token: str
    campaign_id: int
    rounds: int
    think: float
    reply_think: float
    reply_rate: float
    reply_delay: float
    ramp: float
    stop_at: float  # wall clock: every texter stops by then
    seed: int
    joined: bool = False  # members beforehand: they open their card instead of clicking Join


@dataclass
class Tally:
    acks: list[float] = field(default_factory=list)
    send_acks: list[float] = field(default_factory=list)
    send_to_card: list[float] = field(default_factory=list)
    replies_sent: dict[str, float] = field(default_factory=dict)
    answered: int = 0
    joined: int = 0
    finished: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def buttons(blocks: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    found = {}
    for block in blocks or []:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("action_id"):
                found[element["action_id"]] = element
    return found


class Texter:
    def __init__(self, load: Load, user: str) -> None:
        self.load = load
        self.user = user
        self.channel = "D" + user
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.versions: Counter[str] = Counter()
        self.controls: dict[str, str] = {}  # thread ts -> its newest control message ts
        self.card_ts: str | None = None
        self.changed = asyncio.Condition()
        self.rng = random.Random(f"{load.plan.seed}-{user}")

    async def on_event(self, event: dict[str, Any]) -> None:
        ts, blocks = event["ts"], event["blocks"]
        async with self.changed:
            self.messages[ts] = blocks
            self.versions[ts] += 1
            if event["k"] == "post" and event["th"]:
                if event["text"] == "Reply controls":
                    self.controls[event["th"]] = ts
                elif REPLY.search(event["text"]):
                    self.load.spawn(self.answer(event["th"]))
            elif self.card_ts is None and not event["th"] and set(buttons(blocks)) & set(CARD_ACTIONS):
                self.card_ts = ts  # the card posted after a join, or opened in place (--joined)
            self.changed.notify_all()

    async def wait(self, predicate: Any, timeout: float) -> bool:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(predicate), timeout)
            except TimeoutError:
                return False
        return True

    def left(self) -> float:
        return self.load.plan.stop_at - time.time()

    async def click(self, action: dict[str, Any], *, ts: str, channel: str | None = None, **kw: Any) -> float:
        plan = self.load.plan
        body = block_actions_body(
            action, user_id=self.user, channel_id=channel or self.channel, message_ts=ts, **kw
        )
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.load.signer.generate_signature(timestamp=stamp, body=body),
        }
        server = plan.servers[self.rng.randrange(len(plan.servers))]
        started = time.perf_counter()
        async with self.load.http.post(
            server + "/slack/events", data=body.encode(), headers=headers
        ) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"click answered {response.status}")
        elapsed = time.perf_counter() - started
        self.load.tally.acks.append(elapsed)
        return elapsed

    async def card_changed(self, seen: int) -> bool:
        card = self.card_ts
        assert card is not None
        return await self.wait(lambda: self.versions[card] > seen, max(1.0, self.left()))

    async def think(self, mean: float) -> None:
        await asyncio.sleep(min(max(0.0, self.left()), self.rng.uniform(0.5 * mean, 1.5 * mean)))

    async def run(self) -> None:
        plan, tally = self.load.plan, self.load.tally
        await asyncio.sleep(self.rng.uniform(0, plan.ramp))
        if plan.joined:  # Send First Texts from a message of their DM (as from the dashboard's button)
            await self.click(
                {"action_id": "tb_start_initials", "value": json.dumps({"k": plan.campaign_id})},
                ts=f"card.{self.user}",
            )
        else:
            await self.click(
                {"action_id": "tb_join", "value": json.dumps({"t": plan.join_token})},
                ts="join.1",
                channel=JOIN_CHANNEL,
                response_url=f"{plan.slack_root}/respond/{self.user}",
            )
        if not await self.wait(lambda: self.card_ts is not None, max(1.0, self.left())):
            tally.errors["no card after join"] += 1
            return
        tally.joined += 1
        assert self.card_ts is not None
        rounds = 0
        while self.left() > 0:
            card = self.messages[self.card_ts]
            found = buttons(card)
            seen = self.versions[self.card_ts]
            if "tb_send_initial" in found:
                await self.think(plan.think)
                if self.left() <= 0:
                    break
                started = time.perf_counter()
                ack = await self.click(
                    {"action_id": "tb_send_initial", "value": found["tb_send_initial"]["value"]},
                    ts=self.card_ts,
                )
                tally.send_acks.append(ack)
                if not await self.card_changed(seen):
                    tally.errors["no card after send"] += 1
                    return
                tally.send_to_card.append(time.perf_counter() - started)
                # The card that was sent names its contact (the button carries ids only).
                heading = [b for b in card if "Send First Texts" in json.dumps(b)]  # not the note
                shown = VOTER.search(json.dumps(heading))
                if self.rng.random() < plan.reply_rate and shown:
                    index = int(shown.group(1))
                    self.load.spawn(
                        self.load.contact_replies(index, self.rng.uniform(0.5, 1.5) * plan.reply_delay)
                    )
            elif "tb_request_more" in found and rounds < plan.rounds:
                rounds += 1
                await self.think(1.0)
                await self.click(
                    {"action_id": "tb_request_more", "value": found["tb_request_more"]["value"]},
                    ts=self.card_ts,
                )
                if not await self.card_changed(seen):
                    tally.errors["no card after Request More"] += 1
                    return
            else:
                tally.finished += 1
                return

    async def answer(self, thread: str) -> None:
        """A reply came into a thread: after a while, pick the survey answer, then Send the prepared reply."""
        tally = self.load.tally
        await self.think(self.load.plan.reply_think)
        if self.left() <= 0 or not await self.wait(lambda: thread in self.controls, 10):
            return
        control = self.controls[thread]
        select_el = buttons(self.messages[control]).get("tb_answer")
        if select_el is None:
            tally.errors["no survey select in the thread"] += 1
            return
        seen = self.versions[control]
        option = select_el["options"][0]
        await self.click(
            {"action_id": "tb_answer", "type": "static_select", "selected_option": option},
            ts=control,
            thread_ts=thread,
        )
        if not await self.wait(
            lambda: self.versions[control] > seen and "tb_reply_send" in buttons(self.messages[control]),
            max(1.0, self.left()),
        ):
            return
        await self.think(2.0)
        if self.left() <= 0:
            return
        send = buttons(self.messages[control])["tb_reply_send"]
        await self.click({"action_id": "tb_reply_send", "value": send["value"]}, ts=control, thread_ts=thread)
        tally.answered += 1


class Load:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.tally = Tally()
        self.signer = SignatureVerifier(SIGNING_SECRET)
        self.validator = RequestValidator(AUTH_TOKEN)
        self.texters: dict[str, Texter] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.replies = 0

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.tally.errors[f"{task.exception().__class__.__name__}: {task.exception()}"[:120]] += 1

    async def contact_replies(self, index: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if time.time() > self.plan.stop_at:
            return
        self.replies += 1
        key = f"{self.plan.worker}-{self.replies}"
        fields = {
            "MessageSid": f"SMr{self.plan.worker:02d}{self.replies:029d}",
            "AccountSid": ACCOUNT_SID,
            "From": cell_of(index),
            "To": OUR_NUMBER,
            "Body": f"bench reply {key}",
            "NumMedia": "0",
        }
        signature = self.validator.compute_signature(PUBLIC_URL + "/twilio/sms", fields)
        server = random.choice(self.plan.servers)
        self.tally.replies_sent[key] = time.time()
        async with self.http.post(
            server + "/twilio/sms", data=fields, headers={"X-Twilio-Signature": signature}
        ) as response:
            await response.read()
            if response.status != 200:
                self.tally.errors[f"reply webhook answered {response.status}"] += 1

    async def pump(self) -> None:
        """Hand each DM event the stand-in streams for this process's texters to its texter."""
        after = 0
        url = f"{self.plan.slack_root}/api/bench.events"
        while time.time() < self.plan.stop_at + 30:
            try:
                async with self.http.get(
                    url, params={"w": str(self.plan.worker), "after": str(after)}
                ) as response:
                    answer = await response.json()
            except aiohttp.ClientError:
                await asyncio.sleep(0.5)
                continue
            for event in answer["events"]:
                texter = self.texters.get(event["ch"][1:])
                if texter is not None:
                    await texter.on_event(event)
            after = answer["from"] + len(answer["events"])

    async def run(self) -> Tally:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=120)
        ) as http:
            self.http = http
            for index in range(self.plan.texters):
                user = user_of(self.plan.worker, index)
                self.texters[user] = Texter(self, user)
            pump = asyncio.ensure_future(self.pump())
            runs = [asyncio.ensure_future(t.run()) for t in self.texters.values()]
            done = await asyncio.gather(*runs, return_exceptions=True)
            for outcome in done:
                if isinstance(outcome, BaseException):
                    self.tally.errors[f"{outcome.__class__.__name__}: {outcome}"[:120]] += 1
            # Replies and answers still under way get until the stop time.
            while self.tasks and time.time() < self.plan.stop_at:
                await asyncio.sleep(0.2)
            for task in list(self.tasks):
                task.cancel()
            pump.cancel()
        return self.tally


def run_load(plan: Plan, results: Any) -> None:
    try:
        results.put(("ok", asyncio.run(Load(plan).run())))
    except BaseException as exc:  # the parent reports it
        results.put(("error", f"{exc.__class__.__name__}: {exc}"))


# --- the bench ---------------------------------------------------------------------------------------------


def prepare(db: Database, contacts: int, batch: int, folder: Path) -> tuple[int, str]:
    """A launched campaign (texting any time, a survey question) with its contacts, and its join token."""
    csv = folder / "contacts.csv"
    with csv.open("w") as out:
        out.write("first name,last name,cell\n")
        for index in range(contacts):
            out.write(f"Voter{index},Bench,{cell_of(index)}\n")
    with db.session() as session:
        org = orgs.default_organization(session)
        admin = slack_admin(session, org)
        campaign = campaigns.create_campaign(
            session, org.id, title=f"bench {uuid.uuid4().hex[:6]}", hours_start=0, hours_end=0, actor=admin
        )
        campaigns.set_script(
            session,
            campaign,
            scripts.StepSpec(
                script="Hi {firstName}, it's {texterName}. Will you vote?",
                question="Will they vote?",
                answers=[
                    scripts.StepSpec(script="Great, thank you!", answer="Yes"),
                    scripts.StepSpec(script="Thanks for your time.", answer="No"),
                ],
            ),
        )
        campaign.initials_batch_size = batch
        campaign_id = campaign.id
    contacts_import.import_contacts(db, campaign_id, csv)
    with db.session() as session:
        org = orgs.default_organization(session)
        admin = slack_admin(session, org)
        campaign = campaigns.get_campaign(session, org.id, str(campaign_id))
        campaigns.launch_campaign(session, campaign, actor=admin)
        token = joining.create_join_token(session, admin, campaign, "initials").token
    return campaign_id, token


def enter_texters(db: Database, users: list[str], token: str) -> None:
    """``--joined``: every texter entered as the Slack adapter enters a newcomer, and joined (as the Join
    button does), beforehand."""
    for start in range(0, len(users), 500):
        with db.session() as session:
            for slack_user in users[start : start + 500]:
                user = orgs.enter_workspace_user(
                    session,
                    platform="slack",
                    workspace_id=TEAM_ID,
                    platform_user_id=slack_user,
                    name=f"Texter {slack_user}",
                    platform_admin=False,
                )
                joining.join(session, token, user)


# --- where the CPU went ----------------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine (other users' backends included: the box is shared)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


class CpuWatch:
    """CPU seconds each role of the bench used over the load window, against the whole machine's."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.roles = roles
        self.started = time.monotonic()
        self.busy = machine_busy()
        self.before = {pid: cpu_of(pid) for pids in roles.values() for pid in pids}
        self.pg_before = {pid: cpu_of(pid) for pid in postgres_pids()}

    def report(self) -> str:
        wall = time.monotonic() - self.started
        cores = os.cpu_count() or 1
        used = {
            role: sum(cpu_of(pid) - self.before.get(pid, 0.0) for pid in pids)
            for role, pids in self.roles.items()
        }
        used["PostgreSQL (all of the box's)"] = sum(
            cpu_of(pid) - self.pg_before.get(pid, 0.0) for pid in postgres_pids()
        )
        busy = machine_busy() - self.busy
        parts = ", ".join(
            f"{role} {seconds:.0f} s ({seconds / wall:.2f} cores)" for role, seconds in used.items()
        )
        return (
            f"CPU over the {wall:.0f} s of load on {cores} cores: {parts}; the machine busy "
            f"{busy:.0f} s ({busy / wall:.2f} cores), the rest other users' work"
        )


def wait_drained(db: Database, timeout: float) -> int:
    """Wait until no text is queued or being sent; returns how many are left."""
    deadline = time.monotonic() + timeout
    while True:
        with db.read() as session:
            left = session.scalar(select(func.count()).where(Message.status.in_(("queued", "sending")))) or 0
        if not left or time.monotonic() > deadline:
            return int(left)
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texters", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=2, help="textbank run processes")
    parser.add_argument("--workers", type=int, default=2, help="load processes")
    parser.add_argument("--batch", type=int, default=5, help="contacts per Request More")
    parser.add_argument("--rounds", type=int, default=2, help="batches each texter asks for")
    parser.add_argument("--think", type=float, default=3.0, help="mean seconds between a card and Send")
    parser.add_argument("--reply-rate", type=float, default=0.1, help="share of contacts who text back")
    parser.add_argument("--reply-delay", type=float, default=10.0, help="mean seconds before they do")
    parser.add_argument(
        "--reply-think", type=float, default=10.0, help="mean seconds before a texter answers"
    )
    parser.add_argument("--ramp", type=float, default=60.0, help="texters arrive over this many seconds")
    parser.add_argument(
        "--max-seconds", type=float, default=600.0, help="the load stops by then at the latest"
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--joined",
        action="store_true",
        help="texters are members beforehand and open their card (no Join storm: the texting alone)",
    )
    args = parser.parse_args()
    if args.workers > 99 or args.texters < args.workers:
        parser.error("--workers must be 1-99 and at most --texters")

    url = os.environ.get("TEXTBANK_DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgresql"):
        parser.error("this bench needs PostgreSQL (several processes share one database)")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(url).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db_url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    folder = Path(tempfile.mkdtemp(prefix="textbank-texters-"))
    spawned: list[multiprocessing.Process] = []
    servers: list[Any] = []
    db = None
    try:
        upgrade(db_url)
        db = Database(db_url)
        contacts = args.texters * args.batch * args.rounds
        started = time.perf_counter()
        campaign_id, token = prepare(db, contacts, args.batch, folder)
        share = [
            args.texters // args.workers + (1 if i < args.texters % args.workers else 0)
            for i in range(args.workers)
        ]
        if args.joined:
            enter_texters(db, [user_of(w, i) for w, count in enumerate(share) for i in range(count)], token)
        print(
            f"prepared {contacts} contacts{f' and {args.texters} texters joined' if args.joined else ''} "
            f"in {time.perf_counter() - started:.1f} s (schema {schema})"
        )

        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Queue()
        for target in (run_slack, run_twilio):
            process = ctx.Process(target=target, args=(ready,), daemon=True)
            process.start()
            spawned.append(process)
        standins = [ready.get(timeout=60), ready.get(timeout=60)]
        slack_root = next(u for u in standins if requests_ok(u + "/api/auth.test"))
        twilio_url = next(u for u in standins if u != slack_root)
        env = {
            "TEXTBANK_DATABASE_URL": db_url,
            "TEXTBANK_PUBLIC_URL": PUBLIC_URL,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_root + "/api/",
            "SLACK_APP_TOKEN": "",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
            "TWILIO_FROM_NUMBER": "",
            "TWILIO_API_URL": twilio_url,
            "TEXTBANK_SMS": "twilio",
            "TEXTBANK_SMS_RATE": "0",
            "DISCORD_TOKEN": "",
            "PYTHONPATH": str(ROOT),
        }
        servers = start_textbank(env, args.servers, folder)
        print(f"servers: {', '.join(s.url for s in servers)}; logs in {folder}")

        stop_at = time.time() + args.max_seconds
        results = ctx.Queue()
        load_started = time.time()
        loaders = []
        for worker, count in enumerate(share):
            plan = Plan(
                worker=worker,
                texters=count,
                servers=[s.url for s in servers],
                slack_root=slack_root,
                join_token=token,
                campaign_id=campaign_id,
                rounds=args.rounds,
                think=args.think,
                reply_think=args.reply_think,
                reply_rate=args.reply_rate,
                reply_delay=args.reply_delay,
                ramp=args.ramp,
                stop_at=stop_at,
                seed=args.seed,
                joined=args.joined,
            )
            process = ctx.Process(target=run_load, args=(plan, results), daemon=True)
            process.start()
            spawned.append(process)
            loaders.append(process)
        cpu = CpuWatch(
            {
                "servers": [s.popen.pid for s in servers],
                "load processes": [int(p.pid or 0) for p in loaders],
                "stand-ins": [int(p.pid or 0) for p in spawned[:2]],
            }
        )
        tallies: list[Tally] = []
        for _ in share:
            status, outcome = results.get(timeout=args.max_seconds + 120)
            if status != "ok":
                raise RuntimeError(f"a load process failed: {outcome}")
            tallies.append(outcome)
        load_seconds = time.time() - load_started
        cpu_used = cpu.report()
        left = wait_drained(db, 120)
        print(machine())
        print(cpu_used)
        report(db, campaign_id, tallies, slack_root, twilio_url, load_seconds, left, args)
    finally:
        codes = stop_textbank(servers) if servers else []
        if any(code != 0 for code in codes):
            print(f"server exit codes {codes}: see the logs in {folder}")
        for process in spawned:
            if process.is_alive():
                process.terminate()
            process.join(10)
        if db is not None:
            db.dispose()
        with create_engine(url).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def requests_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return b'"ok": true' in response.read() or response.status == 200
    except OSError:
        return False


def fetch_json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def report(
    db: Database,
    campaign_id: int,
    tallies: list[Tally],
    slack_root: str,
    twilio_url: str,
    load_seconds: float,
    left: int,
    args: argparse.Namespace,
) -> None:
    acks = [a for t in tallies for a in t.acks]
    send_acks = [a for t in tallies for a in t.send_acks]
    to_card = [a for t in tallies for a in t.send_to_card]
    replies_sent = {k: v for t in tallies for k, v in t.replies_sent.items()}
    slack = fetch_json(slack_root + "/api/bench.results")
    threaded = slack["threaded"]
    reply_lat = [threaded[k] - v for k, v in replies_sent.items() if k in threaded]
    errors: Counter[str] = Counter()
    for t in tallies:
        errors.update(t.errors)
    twilio = fetch_json(twilio_url + "/_bench/stats")
    with db.read() as session:
        outbound = select(Message).where(Message.direction == "out", Message.campaign_id == campaign_id)
        initials = outbound.where(Message.body.like("Hi %")).subquery()
        sends, first, last = session.execute(
            select(func.count(), func.min(initials.c.created_at), func.max(initials.c.created_at))
        ).one()
        twice_db = session.execute(
            select(Message.contact_id, Message.body, func.count())
            .where(Message.direction == "out", Message.campaign_id == campaign_id)
            .group_by(Message.contact_id, Message.body)
            .having(func.count() > 1)
        ).all()
        messaged = session.scalar(
            select(func.count()).where(Contact.campaign_id == campaign_id, Contact.status != "needs_message")
        )
        outbound_rows = session.scalar(select(func.count()).select_from(outbound.subquery()))
        inbound = session.scalar(select(func.count()).where(Message.direction == "in"))
    window = (last - first).total_seconds() if sends > 1 else float("nan")
    print(
        f"texters: {args.texters} ({sum(t.joined for t in tallies)} joined, "
        f"{sum(t.finished for t in tallies)} finished every batch) on {args.servers} servers, "
        f"{args.workers} load processes; load {load_seconds:.0f} s"
    )
    print(
        f"click-to-ack: p50 {percentile(acks, 50) * 1000:.0f} ms, p99 {percentile(acks, 99) * 1000:.0f} ms, "
        f"max {max(acks, default=0) * 1000:.0f} ms over {len(acks)} clicks (Send only: "
        f"p50 {percentile(send_acks, 50) * 1000:.0f} / p99 {percentile(send_acks, 99) * 1000:.0f} ms)"
    )
    print(
        f"Send click to card updated: p50 {percentile(to_card, 50) * 1000:.0f} ms, "
        f"p99 {percentile(to_card, 99) * 1000:.0f} ms"
    )
    print(
        f"sends: {sends} initials, {sends / window:.1f}/s from the first to the last ({window:.0f} s; "
        f"texters arrive over {args.ramp:g} s, peak offered ~{args.texters / args.think:.0f}/s)"
    )
    print(
        f"replies: {len(replies_sent)} sent as webhooks, {len(reply_lat)} reached their threads; "
        f"reply-to-thread p50 {percentile(reply_lat, 50) * 1000:.0f} ms, "
        f"p99 {percentile(reply_lat, 99) * 1000:.0f} ms; "
        f"{sum(t.answered for t in tallies)} answered by texters; {inbound} stored"
    )
    print(
        f"texts: {twilio['texts']} reached Twilio, {outbound_rows} outbound rows, {messaged} contacts "
        f"messaged; {left} left queued/sending; the same text twice: {len(twilio['twice'])} (Twilio), "
        f"{len(twice_db)} (rows)"
    )
    print(f"Slack Web API calls: {slack['calls']}")
    if errors:
        print(f"texter errors: {dict(errors.most_common(10))}")
    assert not twilio["twice"] and not twice_db, (twilio["twice"][:10], twice_db[:10])
    assert sends == messaged, (sends, messaged)
    assert left == 0, f"{left} texts still queued or sending"
    assert twilio["texts"] == outbound_rows, (twilio["texts"], outbound_rows)


if __name__ == "__main__":
    main()

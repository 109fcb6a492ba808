"""Benchmark: signed Twilio inbound webhooks posted concurrently to the running web server.

Sets up a launched campaign whose C contacts each got one text, starts the aiohttp server (the same
``create_app`` as ``textbank run``) in a child process so the client does not share its CPU time, then
posts N inbound webhooks (replies from those contacts, signed with twilio's RequestValidator) with K in
flight at once over HTTP. A share of them repeat an earlier MessageSid, as Twilio's retries do.
Reports accepted/s (HTTP 200 over wall time), latency p50/p99/max, and checks that the rows stored equal
the unique SIDs sent (exactly once) and that every request was accepted.

    /tmp/venv/bin/python bench/inbound.py                                  # SQLite file in a temp dir
    /tmp/venv/bin/python bench/inbound.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

On PostgreSQL it runs in a throw-away schema, dropped at the end. Target: >= 1,000 accepted/s.
``--texters 20``: the contacts are held by 20 texters, so each reply also writes its notice (checked).
``--per-text``: the server stores each text of a batch on its own (``receive_inbound``), the path before
``receive_inbound_batch``, to compare the two in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings  # noqa: E402
from bot.twilio import webhooks  # noqa: E402
from bot.web import WebServer, create_app  # noqa: E402
from core.inbound import InboundResult, InboundText, receive_text  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Campaign,
    Contact,
    Message,
    Notice,
    Organization,
    PlatformIdentity,
    User,
)
from storage.types import utcnow  # noqa: E402

TOKEN = "bench-auth-token"
PUBLIC_URL = "https://textbank.bench.example"
OUR_NUMBER = "+12125550100"


def schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def populate(db: Database, contacts: int, texters: int = 0) -> list[str]:
    """A launched campaign whose contacts each got one text; returns their cells. With ``texters``, the
    contacts are held by that many texters (each on Slack), so every reply writes a notice."""
    now = utcnow()
    with db.session() as session:
        org = Organization(name="bench", optout_phrases=[])
        session.add(org)
        session.flush()
        users = [User(organization_id=org.id, name=f"texter {i}", role="texter") for i in range(texters)]
        session.add_all(users)
        session.flush()
        session.add_all(
            PlatformIdentity(
                user_id=user.id, platform="slack", workspace_id="T1", platform_user_id=f"U{user.id}"
            )
            for user in users
        )
        campaign = Campaign(organization_id=org.id, title="inbound bench", status="launched", launched_at=now)
        session.add(campaign)
        session.flush()
        cells = [f"+1212{3000000 + i:07d}" for i in range(contacts)]
        rows = [
            Contact(
                campaign_id=campaign.id,
                cell=cell,
                status="messaged",
                custom_fields={},
                last_message_at=now,
                assigned_user_id=users[i % texters].id if users else None,
            )
            for i, cell in enumerate(cells)
        ]
        session.add_all(rows)
        session.flush()
        session.add_all(
            Message(
                contact_id=row.id,
                campaign_id=campaign.id,
                direction="out",
                body="Hi, can we count on your vote?",
                media=[],
                cell=row.cell,
                provider_sid=f"SMout{row.id:029d}",
                status="sent",
                sent_at=now,
            )
            for row in rows
        )
    return cells


def per_text(session: Session, texts: list[InboundText]) -> list[InboundResult]:
    """The path before batches were stored together: ``receive_inbound`` for each text (``--per-text``)."""
    return [receive_text(session, text) for text in texts]


def serve(url: str, port: int, db_threads: int | None, one_by_one: bool = False) -> None:
    """The child process: the web server until SIGTERM."""
    if one_by_one:
        webhooks.receive_inbound_batch = per_text  # type: ignore[assignment]
    settings = Settings(database_url=url, public_url=PUBLIC_URL, twilio_auth_token=TOKEN, port=port)
    db = Database(url)

    async def main() -> None:
        server = WebServer(
            create_app(settings, db, db_threads=db_threads), "127.0.0.1", port, reuse_port=True
        )
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await server.stop()

    asyncio.run(main())
    db.dispose()


def build_requests(cells: list[str], n: int, repeat_share: float) -> list[dict[str, str]]:
    rng = random.Random(7)
    requests: list[dict[str, str]] = []
    for i in range(n):
        if requests and rng.random() < repeat_share:
            requests.append(dict(rng.choice(requests)))  # a Twilio retry of an earlier webhook
            continue
        requests.append(
            {
                "MessageSid": "SM" + uuid.uuid4().hex,
                "AccountSid": "AC" + "0" * 32,
                "From": cells[i % len(cells)],
                "To": OUR_NUMBER,
                "Body": rng.choice(["Yes", "No", "Who is this?", "Maybe later", "Count me in!"]),
                "NumMedia": "0",
            }
        )
    return requests


async def post_all(
    base: str, requests: list[dict[str, str]], concurrency: int
) -> tuple[list[float], list[int], float]:
    validator = RequestValidator(TOKEN)
    signed = [
        (fields, validator.compute_signature(PUBLIC_URL + "/twilio/sms", fields)) for fields in requests
    ]
    latencies: list[float] = []
    statuses: list[int] = []
    queue: asyncio.Queue[tuple[dict[str, str], str]] = asyncio.Queue()
    for item in signed:
        queue.put_nowait(item)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            fields, signature = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(
                base + "/twilio/sms", data=fields, headers={"X-Twilio-Signature": signature}
            ) as response:
                await response.read()
                statuses.append(response.status)
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


def cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU time of the server processes so far (Linux), to compare runs on a busy machine."""
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("TEXTBANK_DATABASE_URL", ""), help="database URL")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument(
        "--texters",
        type=int,
        default=0,
        help="texters holding the contacts (each reply then writes a notice)",
    )
    parser.add_argument("--repeat-share", type=float, default=0.1, help="share of webhooks that repeat a SID")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--servers", type=int, default=1, help="server processes sharing the port")
    parser.add_argument(
        "--db-threads", type=int, default=None, help="database threads per server (default: create_app's)"
    )
    parser.add_argument(
        "--per-text",
        action="store_true",
        help="store each text of a batch on its own (receive_inbound), as before receive_inbound_batch",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.url, args.port, args.db_threads, args.per_text)
        return

    schema = None
    tmp = None
    url = args.url
    if not url or url.startswith("sqlite"):
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/inbound.db"
    else:
        schema = f"bench_inbound_{uuid.uuid4().hex[:8]}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = schema_url(url, schema)
    servers: list[subprocess.Popen[str]] = []
    try:
        upgrade(url)
        db = Database(url)
        cells = populate(db, args.contacts, args.texters)
        requests = build_requests(cells, args.requests, args.repeat_share)
        unique = len({r["MessageSid"] for r in requests})
        for _ in range(args.servers):
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", "--url", url, "--port", str(args.port)]
                + (["--db-threads", str(args.db_threads)] if args.db_threads else [])
                + (["--per-text"] if args.per_text else []),
                stdout=subprocess.PIPE,
                text=True,
            )
            servers.append(server)
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        cpu_before = cpu_seconds([server.pid for server in servers])
        latencies, statuses, elapsed = asyncio.run(
            post_all(f"http://127.0.0.1:{args.port}", requests, args.concurrency)
        )
        cpu_after = cpu_seconds([server.pid for server in servers])
        with db.read() as session:
            stored = session.scalar(select(func.count(Message.id)).where(Message.direction == "in"))
            notices = session.scalar(select(func.count(Notice.id)))
        accepted = statuses.count(200)
        engine = "postgresql" if schema else "sqlite"
        print(
            f"engine {engine}; {len(requests)} webhooks ({unique} unique SIDs), {args.concurrency} in flight,"
            f" {args.servers} server process(es){', each text on its own' if args.per_text else ''}"
        )
        print(
            f"accepted {accepted}/{len(requests)} in {elapsed:.2f} s = {accepted / elapsed:,.0f} accepted/s"
        )
        print(
            f"latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
        )
        if cpu_before is not None and cpu_after is not None:
            load = os.getloadavg()[0]
            print(
                f"server CPU {(cpu_after - cpu_before) / len(requests) * 1000:.2f} ms per webhook"
                f" (load average {load:.1f} at the end)"
            )
        print(f"rows stored {stored} (unique SIDs {unique}): {'OK' if stored == unique else 'MISMATCH'}")
        expected = unique if args.texters else 0
        print(f"notices {notices} (expected {expected}): {'OK' if notices == expected else 'MISMATCH'}")
        db.dispose()
        if stored != unique or notices != expected or accepted != len(requests):
            sys.exit(1)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        if schema:
            with create_engine(args.url).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()

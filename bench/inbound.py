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
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings  # noqa: E402
from bot.web import WebServer, create_app  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import Campaign, Contact, Message, Organization  # noqa: E402
from storage.types import utcnow  # noqa: E402

TOKEN = "bench-auth-token"
PUBLIC_URL = "https://textbank.bench.example"
OUR_NUMBER = "+12125550100"


def schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def populate(db: Database, contacts: int) -> list[str]:
    """A launched campaign whose contacts each got one text; returns their cells."""
    now = utcnow()
    with db.session() as session:
        org = Organization(name="bench", optout_phrases=[])
        session.add(org)
        session.flush()
        campaign = Campaign(organization_id=org.id, title="inbound bench", status="launched", launched_at=now)
        session.add(campaign)
        session.flush()
        cells = [f"+1212{3000000 + i:07d}" for i in range(contacts)]
        rows = [
            Contact(
                campaign_id=campaign.id, cell=cell, status="messaged", custom_fields={}, last_message_at=now
            )
            for cell in cells
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


def serve(url: str, port: int, db_threads: int | None) -> None:
    """The child process: the web server until SIGTERM."""
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
    parser.add_argument("--repeat-share", type=float, default=0.1, help="share of webhooks that repeat a SID")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--servers", type=int, default=1, help="server processes sharing the port")
    parser.add_argument(
        "--db-threads", type=int, default=None, help="database threads per server (default: create_app's)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.url, args.port, args.db_threads)
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
        cells = populate(db, args.contacts)
        requests = build_requests(cells, args.requests, args.repeat_share)
        unique = len({r["MessageSid"] for r in requests})
        for _ in range(args.servers):
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", "--url", url, "--port", str(args.port)]
                + (["--db-threads", str(args.db_threads)] if args.db_threads else []),
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
        accepted = statuses.count(200)
        engine = "postgresql" if schema else "sqlite"
        print(
            f"engine {engine}; {len(requests)} webhooks ({unique} unique SIDs), {args.concurrency} in flight,"
            f" {args.servers} server process(es)"
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
        db.dispose()
        if stored != unique or accepted != len(requests):
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

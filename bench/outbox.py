"""Benchmark: the outbox drain rate through the real twilio Client against the local Twilio stand-in.

Queues N texts in a launched campaign, starts the stand-in in a child process (so it does not share the
sender's CPU time), and drains the outbox with ``OutboxSender`` twice: with a configured rate limit
(shows the rate is held: the achieved rate and the most texts seen in any one-second window) and with no
limit (the ceiling: claim, HTTP call, record). Checks every text was sent exactly once (the stand-in's
request count equals N and every row is ``sent``).

    /tmp/venv/bin/python bench/outbox.py                                   # SQLite file in a temp dir
    /tmp/venv/bin/python bench/outbox.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import create_engine, delete, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.twilio.client import build_client  # noqa: E402
from bot.twilio.sender import OutboxSender, SenderOptions, TwilioGateway  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import Campaign, Contact, Message, Organization  # noqa: E402
from storage.types import utcnow  # noqa: E402
from tests.bot.twilio.helpers import twilio_settings  # noqa: E402
from tests.bot.twilio.standin import STATS_PATH, TwilioStandIn  # noqa: E402


def schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def standin_main() -> None:
    """The child process: the stand-in until stdin closes."""
    with TwilioStandIn() as standin:
        print(standin.url, flush=True)
        sys.stdin.read()


def populate(db: Database, n: int) -> int:
    now = utcnow()
    with db.session() as session:
        org = Organization(name="bench", optout_phrases=[])
        session.add(org)
        session.flush()
        campaign = Campaign(organization_id=org.id, title="outbox bench", status="launched", launched_at=now)
        session.add(campaign)
        session.flush()
        contacts = [
            Contact(
                campaign_id=campaign.id, cell=f"+1212{4000000 + i:07d}", status="messaged", custom_fields={}
            )
            for i in range(n)
        ]
        session.add_all(contacts)
        session.flush()
        return campaign.id


def queue(db: Database, campaign_id: int, n: int) -> None:
    with db.session() as session:
        session.execute(delete(Message))
        contacts = session.scalars(select(Contact).where(Contact.campaign_id == campaign_id).limit(n)).all()
        session.add_all(
            Message(
                contact_id=c.id,
                campaign_id=campaign_id,
                direction="out",
                body="Hi, this is a volunteer with the campaign. Can we count on your vote?",
                media=[],
                cell=c.cell,
                status="queued",
                attempts=0,
            )
            for c in contacts
        )


def standin_count(api_url: str) -> int:
    with urllib.request.urlopen(api_url + STATS_PATH) as response:
        return int(json.loads(response.read())["messages"])


async def drain(db: Database, api_url: str, options: SenderOptions) -> float:
    settings = twilio_settings(api_url)
    sender = OutboxSender(
        db, TwilioGateway(build_client(settings, pool_size=options.workers), settings), options
    )
    started = time.perf_counter()
    await sender.start()
    try:
        await sender.drain(timeout=600)
    finally:
        await sender.stop()
    return time.perf_counter() - started


def report(db: Database, label: str, n: int, elapsed: float, before: int, api_url: str) -> bool:
    with db.read() as session:
        sent = session.scalar(select(func.count(Message.id)).where(Message.status == "sent"))
        times = sorted(session.scalars(select(Message.sent_at).where(Message.status == "sent")))
    requests = standin_count(api_url) - before
    stamps = [t.timestamp() for t in times]
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    busiest, start = 0, 0
    for end, stamp in enumerate(stamps):  # the most texts recorded sent within any one second
        while stamp - stamps[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    achieved = (len(stamps) - 1) / span if span else float("inf")
    print(
        f"{label}: {n} texts in {elapsed:.2f} s = {n / elapsed:,.0f} texts/s overall; "
        f"first-to-last {achieved:,.1f} texts/s; most in any 1 s window {busiest}; "
        f"sent {sent}, requests at the stand-in {requests}"
    )
    return sent == n and requests == n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("TEXTBANK_DATABASE_URL", ""), help="database URL")
    parser.add_argument("--limited", type=int, default=300, help="texts for the rate-limited run")
    parser.add_argument("--rate", type=float, default=50.0, help="texts/s for the rate-limited run")
    parser.add_argument("--unlimited", type=int, default=3000, help="texts for the unlimited run")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--standin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.standin:
        standin_main()
        return

    schema = None
    tmp = None
    url = args.url
    if not url or url.startswith("sqlite"):
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/outbox.db"
    else:
        schema = f"bench_outbox_{uuid.uuid4().hex[:8]}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = schema_url(url, schema)
    child = subprocess.Popen(
        [sys.executable, __file__, "--standin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    ok = True
    try:
        assert child.stdout is not None
        api_url = child.stdout.readline().strip()
        upgrade(url)
        db = Database(url)
        campaign_id = populate(db, max(args.limited, args.unlimited))
        print(f"engine {'postgresql' if schema else 'sqlite'}; {args.workers} workers")
        for label, n, rate in (
            (f"rate limit {args.rate:g}/s", args.limited, args.rate),
            ("no rate limit", args.unlimited, None),
        ):
            queue(db, campaign_id, n)
            before = standin_count(api_url)
            options = SenderOptions(workers=args.workers, rate=rate, poll_interval=0.05)
            elapsed = asyncio.run(drain(db, api_url, options))
            ok = report(db, label, n, elapsed, before, api_url) and ok
        db.dispose()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)
        if schema:
            with create_engine(args.url).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        if tmp is not None:
            tmp.cleanup()
    if not ok:
        print("MISMATCH: some text was not sent exactly once")
        sys.exit(1)


if __name__ == "__main__":
    main()

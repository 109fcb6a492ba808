"""Benchmark: texters sending initial texts as fast as the core allows.

A launched campaign of N contacts (default 20,000, all inside texting hours at the fixed clock), already
assigned round-robin to T texters (default 100, so each holds 200, a default batch; one thread each;
claiming is bench/assign.py's figure). Each process has a pool of 10 connections (as
``textbank run``), so texters also queue for a connection as they would in production.
Every texter clicks Send on each of their contacts back to back, each click one write transaction; the
texters are spread over P processes (default 2, one per core: a box runs a process per core, as several
``textbank run`` processes share one PostgreSQL):

- ``--mode send``: ``core.sending.send_initial`` alone (the guarded UPDATE and the queued message row);
- ``--mode click``: what a chat adapter's Send button does in its transaction: ``send_initial`` and then
  ``next_initial`` for the next card.

Reports sends/s over the whole run and the per-transaction latency (p50/p99), then verifies that every
contact was sent exactly once: status ``messaged`` and exactly one queued outbound row each.

On PostgreSQL it runs in a throw-away schema of the database given; on SQLite in a fresh file in a
temporary directory (the path of a ``sqlite:///`` URL is ignored). Both are removed at the end:

    /tmp/venv/bin/python bench/send.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
    /tmp/venv/bin/python bench/send.py --url sqlite:// --mode click

Target: 2,000 sends/s per box.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.sending import next_initial, send_initial  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Campaign,
    CampaignTexter,
    Contact,
    InteractionStep,
    Message,
    Organization,
    User,
)

# 12:00 in New York on a July Monday: every contact is inside texting hours.
NOW = datetime(2024, 7, 15, 16, 0, tzinfo=UTC)
INITIAL = "Hi {firstName}, this is {texterName} with the campaign. Can we count on your vote on Tuesday?"


def _schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def populate(db: Database, contacts: int, texters: int) -> tuple[int, dict[int, list[int]]]:
    """The campaign, its script and texters, and the contacts assigned round-robin; returns (campaign,
    contact ids by texter, in sending order)."""
    with db.session() as session:
        org = Organization(name="bench", optout_phrases=[])
        session.add(org)
        session.flush()
        campaign = Campaign(
            organization_id=org.id,
            title="bench",
            status="launched",
            kind="campaign",
            custom_fields=[],
            launched_at=NOW,
        )
        users = [User(organization_id=org.id, name=f"Texter {i}", role="texter") for i in range(texters)]
        session.add_all([campaign, *users])
        session.flush()
        session.add(InteractionStep(campaign_id=campaign.id, script=INITIAL, question=""))
        session.add_all(CampaignTexter(campaign_id=campaign.id, user_id=u.id) for u in users)
        campaign_id, user_ids = campaign.id, [u.id for u in users]
    rows = [
        {
            "campaign_id": campaign_id,
            "cell": f"+1212{2000000 + i}",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "zip": "",
            "external_id": str(i),
            "custom_fields": {},
            "timezone": "America/New_York",
            "status": "needs_message",
            "opted_out": False,
            "escalated": False,
            "assigned_user_id": user_ids[i % texters],
            "assigned_at": NOW,
            "created_at": NOW,
        }
        for i in range(contacts)
    ]
    with db.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Contact.__table__), rows[start : start + 5000])
    with db.engine.connect() as conn:
        owned = conn.execute(
            select(Contact.id, Contact.assigned_user_id)
            .where(Contact.campaign_id == campaign_id)
            .order_by(Contact.id)
        ).all()
    if db.is_postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE contacts"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    by_user: dict[int, list[int]] = {u: [] for u in user_ids}
    for contact_id, user_id in owned:
        by_user[user_id].append(contact_id)
    return campaign_id, by_user


def texters_in_process(
    url: str,
    engine_kwargs: dict,
    campaign_id: int,
    by_user: dict[int, list[int]],
    mode: str,
    start: Any,
    results: Any,
) -> None:
    """One process: a thread per texter, each sending every one of their contacts, one click each."""
    db = Database(url, **engine_kwargs)
    ready = threading.Barrier(len(by_user) + 1)
    latencies: list[float] = []
    lock = threading.Lock()

    def texter(user_id: int) -> None:
        mine: list[float] = []
        ready.wait()
        for contact_id in by_user[user_id]:
            t0 = time.perf_counter()
            with db.session() as session:
                user = session.get(User, user_id)
                result = send_initial(session, user, contact_id, now=NOW)
                if mode == "click":
                    next_initial(session, session.get(Campaign, campaign_id), user, now=NOW)
            mine.append(time.perf_counter() - t0)
            if not result.sent:
                raise AssertionError(f"contact {contact_id} was not sent: {result.reason}")
        with lock:
            latencies.extend(mine)

    with ThreadPoolExecutor(max_workers=len(by_user)) as pool:
        futures = [pool.submit(texter, u) for u in by_user]
        start.wait()  # every process is connected and ready: go
        ready.wait()
        for future in futures:
            future.result()
    db.dispose()
    results.put(latencies)


def run(
    url: str,
    engine_kwargs: dict,
    campaign_id: int,
    by_user: dict[int, list[int]],
    mode: str,
    processes: int,
) -> tuple[list[float], float]:
    """Texters spread over ``processes`` processes; returns (transaction latencies, wall seconds)."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    users = sorted(by_user)
    workers = [
        ctx.Process(
            target=texters_in_process,
            args=(
                url,
                engine_kwargs,
                campaign_id,
                {u: by_user[u] for u in users[i::processes]},
                mode,
                start,
                results,
            ),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    start.wait()
    t0 = time.perf_counter()
    latencies = [x for _ in workers for x in results.get()]
    wall = time.perf_counter() - t0
    for worker in workers:
        worker.join()
        if worker.exitcode:
            raise SystemExit(f"a texter process failed (exit code {worker.exitcode})")
    return latencies, wall


def verify(db: Database, campaign_id: int, contacts: int) -> None:
    with db.read() as session:
        statuses = dict(
            session.execute(
                select(Contact.status, func.count())
                .where(Contact.campaign_id == campaign_id)
                .group_by(Contact.status)
            ).all()
        )
        assert statuses == {"messaged": contacts}, f"contact statuses after the run: {statuses}"
        per_contact = session.execute(
            select(func.count(), func.count(func.distinct(Message.contact_id))).where(
                Message.campaign_id == campaign_id, Message.direction == "out", Message.status == "queued"
            )
        ).one()
        assert tuple(per_contact) == (contacts, contacts), (
            f"outbound rows, contacts texted: {tuple(per_contact)}"
        )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "TEXTBANK_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--texters", type=int, default=100)
    parser.add_argument("--mode", choices=("send", "click"), default="send")
    parser.add_argument(
        "--pool",
        type=int,
        default=10,
        help="connections per process (default 10, as textbank run)",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="processes the texters are spread over (default 2)"
    )
    args = parser.parse_args()
    args.processes = max(1, min(args.processes, args.texters))

    cleanup = None
    if args.url.startswith("postgresql"):
        schema = f"bench_send_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _schema_url(args.url, schema)

        def cleanup() -> None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        per_process = -(-args.texters // args.processes)
        engine_kwargs = {"pool_size": min(per_process, args.pool), "max_overflow": 0, "pool_timeout": 600}
    elif args.url.startswith("sqlite"):
        tmp = tempfile.TemporaryDirectory(prefix="bench_send_")
        url = f"sqlite:///{tmp.name}/bench.db"
        cleanup = tmp.cleanup
        # Writers queue in the pool rather than spin on SQLite's file lock.
        per_process = -(-args.texters // args.processes)
        engine_kwargs = {"pool_size": min(per_process, args.pool), "max_overflow": 0, "pool_timeout": 600}
    else:
        parser.error("give --url postgresql+psycopg://... or sqlite://")
    try:
        upgrade(url)
        db = Database(url, **engine_kwargs)
        t0 = time.perf_counter()
        campaign_id, by_user = populate(db, args.contacts, args.texters)
        print(
            f"populated {args.contacts:,} contacts for {args.texters} texters "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        latencies, wall = run(url, engine_kwargs, campaign_id, by_user, args.mode, args.processes)
        verify(db, campaign_id, args.contacts)
        db.dispose()
    finally:
        cleanup()

    ms = [x * 1000 for x in latencies]
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"python {sys.version.split()[0]}"
    )
    print(
        f"{db.dialect}, mode {args.mode}, {args.contacts:,} contacts, {args.texters} texters "
        f"(threads) in {args.processes} processes"
    )
    print(f"sends: {len(ms):,} in {wall:.1f} s = {len(ms) / wall:,.0f} sends/s")
    print(
        f"transaction latency: p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms"
    )
    print(f"verified: {args.contacts:,} contacts messaged, each with exactly one queued outbound row")


if __name__ == "__main__":
    main()

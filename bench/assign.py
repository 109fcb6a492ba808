"""Benchmark: dynamic assignment of initials under load, on PostgreSQL.

A campaign of N contacts (default 1,000,000, bulk-inserted with generate_series, not the ORM) and T
texters (default 500, one thread each) who all start together and request batches (default 200) with
``core.assignment.request_initials`` until nothing is left. Reports the claim latency (p50/p99/max) —
the time of the whole write transaction, from BEGIN to COMMIT, measured once a pooled connection is in
hand — the time spent waiting for a connection of the pool, claims/s and contacts/s, and verifies that
every contact was handed out exactly once and to the texter the claim returned it to.

Runs in a throw-away schema of the database given, dropped at the end:

    /tmp/venv/bin/python bench/assign.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Target: p99 claim latency < 25 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.assignment import request_initials  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import Campaign, User  # noqa: E402

# 14:00 in New York, 11:00 in Los Angeles on a July Monday: every zone of the campaign is open.
NOW = datetime(2024, 7, 15, 18, 0, tzinfo=UTC)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")


def _schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def populate(db: Database, contacts: int, texters: int, batch: int) -> tuple[int, list[int]]:
    """The organization, the launched campaign, its contacts and texters; returns (campaign, user ids)."""
    zone_case = " ".join(f"WHEN {i} THEN '{z}'" for i, z in enumerate(ZONES))
    with db.engine.begin() as conn:
        org = conn.execute(
            text(
                "INSERT INTO organizations (name, optout_phrases, created_at) "
                "VALUES ('bench', '[]', now()) RETURNING id"
            )
        ).scalar_one()
        campaign = conn.execute(
            text(
                "INSERT INTO campaigns (organization_id, title, description, kind, status, hours_start, "
                "hours_end, timezone, custom_fields, dynamic_initials, initials_batch_size, "
                "replies_before_initials, dynamic_replies, replies_batch_size, created_at, launched_at) "
                "VALUES (:org, 'bench', '', 'campaign', 'launched', 540, 1260, 'America/New_York', '[]', "
                "true, :batch, false, false, 200, now(), now()) RETURNING id"
            ),
            {"org": org, "batch": batch},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO contacts (campaign_id, cell, first_name, last_name, zip, external_id, "
                "custom_fields, timezone, status, opted_out, escalated, created_at) "
                "SELECT :c, '+1' || (2002000000 + g)::text, 'First' || g, 'Last' || g, '', g::text, '{}', "
                f"CASE g % {len(ZONES)} {zone_case} END, 'needs_message', false, false, now() "
                "FROM generate_series(1, :n) AS g"
            ),
            {"c": campaign, "n": contacts},
        )
        users = list(
            conn.execute(
                text(
                    "INSERT INTO users (organization_id, name, role, created_at) "
                    "SELECT :org, 'texter ' || g, 'texter', now() FROM generate_series(1, :t) AS g "
                    "RETURNING id"
                ),
                {"org": org, "t": texters},
            ).scalars()
        )
        conn.execute(
            text(
                "INSERT INTO campaign_texters (campaign_id, user_id, joined_at) "
                "SELECT :c, id, now() FROM users WHERE organization_id = :org"
            ),
            {"c": campaign, "org": org},
        )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE contacts"))
        conn.execute(text("ANALYZE campaign_texters"))
    return campaign, users


def run(
    db: Database, campaign_id: int, user_ids: list[int], think: float = 0.0
) -> tuple[list[float], list[float], dict, float]:
    """Every texter claims until empty. Returns (claim latencies, pool waits, claimed ids by user, wall s)."""
    barrier = threading.Barrier(len(user_ids) + 1)
    pool_waits: list[float] = []
    latencies: list[float] = []
    claimed: dict[int, list[int]] = {}
    lock = threading.Lock()

    def texter(user_id: int) -> None:
        mine: list[int] = []
        my_lat: list[float] = []
        my_wait: list[float] = []
        rng = random.Random(user_id)
        barrier.wait()
        while True:
            if think:
                time.sleep(rng.expovariate(1 / think))
            t0 = time.perf_counter()
            with db.session() as session:
                session.connection()  # check a connection out of the pool and BEGIN
                t1 = time.perf_counter()
                result = request_initials(
                    session, session.get(Campaign, campaign_id), session.get(User, user_id), now=NOW
                )
            t2 = time.perf_counter()
            if not result.contact_ids:
                break
            my_wait.append(t1 - t0)
            my_lat.append(t2 - t1)
            mine.extend(result.contact_ids)
        with lock:
            latencies.extend(my_lat)
            pool_waits.extend(my_wait)
            claimed[user_id] = mine

    with ThreadPoolExecutor(max_workers=len(user_ids)) as pool:
        futures = [pool.submit(texter, u) for u in user_ids]
        barrier.wait()
        start = time.perf_counter()
        for future in futures:
            future.result()
        wall = time.perf_counter() - start
    return latencies, pool_waits, claimed, wall


def verify(db: Database, campaign_id: int, contacts: int, claimed: dict[int, list[int]]) -> None:
    handed = Counter(cid for ids in claimed.values() for cid in ids)
    twice = [cid for cid, n in handed.items() if n > 1]
    assert not twice, f"{len(twice)} contacts were handed out twice, e.g. {twice[:5]}"
    assert len(handed) == contacts, f"{contacts - len(handed)} contacts were never claimed"
    with db.engine.connect() as conn:
        owner = dict(
            conn.execute(
                text("SELECT id, assigned_user_id FROM contacts WHERE campaign_id = :c"), {"c": campaign_id}
            ).all()
        )
    wrong = sum(1 for user_id, ids in claimed.items() for cid in ids if owner[cid] != user_id)
    assert wrong == 0, f"{wrong} contacts are owned by someone other than the texter they were given to"
    assert all(v is not None for v in owner.values()), "contacts left unassigned"


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
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--texters", type=int, default=500)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--pool", type=int, default=50, help="connections in the pool (default 50)")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a texter spends between requests (exponential); 0 = back-to-back, saturating",
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        parser.error("this benchmark runs on PostgreSQL: give --url postgresql+psycopg://...")

    schema = f"bench_assign_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _schema_url(args.url, schema)
    try:
        upgrade(url)
        db = Database(url, pool_size=args.pool, max_overflow=0, pool_timeout=600)
        t0 = time.perf_counter()
        campaign_id, users = populate(db, args.contacts, args.texters, args.batch)
        print(
            f"populated {args.contacts:,} contacts, {len(users)} texters in {time.perf_counter() - t0:.1f} s"
        )
        latencies, waits, claimed, wall = run(db, campaign_id, users, args.think)
        verify(db, campaign_id, args.contacts, claimed)
        db.dispose()
    finally:
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    ms = [x * 1000 for x in latencies]
    wait_ms = [x * 1000 for x in waits]
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"python {sys.version.split()[0]}"
    )
    print(
        f"{args.contacts:,} contacts, {args.texters} texters (threads), batch {args.batch}, "
        f"pool {args.pool}, think {args.think:g} s"
    )
    print(
        f"claims: {len(ms):,} in {wall:.1f} s = {len(ms) / wall:,.0f} claims/s, "
        f"{args.contacts / wall:,.0f} contacts/s"
    )
    print(
        f"claim latency (BEGIN..COMMIT): p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms"
    )
    print(f"pool wait before a claim: p50 {statistics.median(wait_ms):.1f} ms, p99 {pct(wait_ms, 99):.1f} ms")
    total = [a + b for a, b in zip(ms, wait_ms, strict=True)]
    print(
        f"request to answer (wait + claim): p50 {statistics.median(total):.1f} ms, "
        f"p99 {pct(total, 99):.1f} ms"
    )
    print(
        f"verified: {args.contacts:,} contacts each handed out exactly once, to the texter the claim returned"
    )


if __name__ == "__main__":
    main()

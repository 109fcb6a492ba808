"""Benchmark: dynamic assignment of initials under load, on PostgreSQL.

A campaign of N contacts (default 1,000,000, bulk-inserted with generate_series, not the ORM) and T
texters (default 500) who all ask at once and then again as soon as they are answered (or after a think
time, ``--think``), each request a batch (default 200) through ``core.assignment.request_initials``, until
nothing is left. As in ``textbank run`` (bot/dbwork.py), requests wait in one queue, oldest first, for
the claim workers (default 1, as bot/dbwork.py), each running one claim transaction at a time.

Reports the claim latency (p50/p99/max) of the requests that got contacts: the time of the claim's write
transaction from BEGIN to COMMIT, measured once the worker holds a connection; the same for the last,
empty requests ("nothing left"); over every request, the time it queued before a worker took it and
request to answer (both); claims/s and contacts/s. Then
verifies that every contact was handed out exactly once and to the texter the claim returned it to.
With T texters back to back the queue is T deep: request to answer is then T / (claims/s) by Little's
law, whatever the database does; the claim latency is what one claim costs under that load.

Runs in a throw-away schema of the database given, dropped at the end:

    /tmp/venv/bin/python bench/assign.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Target: p99 claim latency < 25 ms.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.dbwork import CLAIM_THREADS  # noqa: E402
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


class Requests:
    """Texters waiting to be served, oldest first: the FIFO queue in front of the claim workers.

    With a think time ``think``, texters arrive spread over the first ``think`` seconds, and one who got
    contacts comes back after a pause drawn from an exponential of mean ``think``; one told that nothing is
    left is done.
    """

    def __init__(self, user_ids: list[int], think: float) -> None:
        self.think = think
        self.rng = random.Random(7)
        self.cond = threading.Condition()
        start = time.perf_counter()
        # Back to back, everyone asks at once; with a think time, texters arrive over the first one.
        self.heap: list[tuple[float, int, int]] = [
            (start + (self.rng.uniform(0, think) if think else 0.0), i, u) for i, u in enumerate(user_ids)
        ]
        heapq.heapify(self.heap)
        self.seq = len(user_ids)
        self.active = len(user_ids)

    def take(self) -> tuple[int, float] | None:
        """The next texter whose request is due, and when they asked; None when every texter is done."""
        with self.cond:
            while True:
                if not self.active:
                    return None
                if self.heap:
                    due = self.heap[0][0]
                    delay = due - time.perf_counter()
                    if delay <= 0:
                        _, _, user_id = heapq.heappop(self.heap)
                        return user_id, due
                    self.cond.wait(delay)
                else:
                    self.cond.wait()

    def again(self, user_id: int) -> None:
        pause = self.rng.expovariate(1 / self.think) if self.think else 0.0
        with self.cond:
            self.seq += 1
            heapq.heappush(self.heap, (time.perf_counter() + pause, self.seq, user_id))
            self.cond.notify()

    def finished(self) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()


@dataclass
class Served:
    """One request: how long it queued, how long its transaction took, what it got."""

    user_id: int
    queued: float
    claim: float
    contact_ids: list[int]
    code: str | None


def run(
    db: Database, campaign_id: int, user_ids: list[int], workers: int, think: float = 0.0
) -> tuple[list[Served], float]:
    """Every texter requests until nothing is left; ``workers`` threads serve the requests in order."""
    requests = Requests(user_ids, think)
    served: list[Served] = []
    lock = threading.Lock()

    def worker() -> None:
        mine: list[Served] = []
        while (item := requests.take()) is not None:
            user_id, asked = item
            with db.session() as session:
                session.connection()  # check a connection out of the pool and BEGIN
                t1 = time.perf_counter()
                result = request_initials(
                    session, session.get(Campaign, campaign_id), session.get(User, user_id), now=NOW
                )
            t2 = time.perf_counter()
            mine.append(Served(user_id, t1 - asked, t2 - t1, result.contact_ids, result.code))
            if result.contact_ids or result.code != "nothing_left" or "just taken" in (result.reason or ""):
                requests.again(user_id)
            else:
                requests.finished()
        with lock:
            served.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"claim-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return served, time.perf_counter() - start


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
    parser.add_argument(
        "--workers",
        type=int,
        default=CLAIM_THREADS,
        help=f"threads serving claims, one transaction each (default {CLAIM_THREADS}, as textbank run)",
    )
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
        db = Database(url, pool_size=args.workers, max_overflow=0)
        t0 = time.perf_counter()
        campaign_id, users = populate(db, args.contacts, args.texters, args.batch)
        print(
            f"populated {args.contacts:,} contacts, {len(users)} texters in {time.perf_counter() - t0:.1f} s"
        )
        served, wall = run(db, campaign_id, users, args.workers, args.think)
        claimed: dict[int, list[int]] = {u: [] for u in users}
        for item in served:
            claimed[item.user_id].extend(item.contact_ids)
        verify(db, campaign_id, args.contacts, claimed)
        db.dispose()
    finally:
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    got = [item for item in served if item.contact_ids]
    claim_ms = [item.claim * 1000 for item in got]
    empty_ms = [item.claim * 1000 for item in served if not item.contact_ids]
    queued_ms = [item.queued * 1000 for item in served]
    total_ms = [(item.queued + item.claim) * 1000 for item in served]
    load = os.getloadavg()
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"python {sys.version.split()[0]}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        f"{args.contacts:,} contacts, {args.texters} texters, batch {args.batch}, "
        f"{args.workers} claim workers, think {args.think:g} s"
    )
    print(
        f"requests: {len(served):,} ({len(got):,} got contacts) in {wall:.1f} s = "
        f"{len(got) / wall:,.0f} claims/s, {args.contacts / wall:,.0f} contacts/s"
    )
    print(
        "claim latency (the transaction, BEGIN..COMMIT, of a request that got contacts): "
        f"p50 {statistics.median(claim_ms):.1f} ms, p99 {pct(claim_ms, 99):.1f} ms, "
        f"max {max(claim_ms):.1f} ms"
    )
    if empty_ms:
        print(
            "'nothing left' answers (the texters' last requests; they walk the pool's index, whose "
            f"entries of claimed contacts wait for VACUUM): {len(empty_ms):,}, "
            f"p50 {statistics.median(empty_ms):.1f} ms, p99 {pct(empty_ms, 99):.1f} ms"
        )
    print(
        f"queued before a worker took the request: p50 {statistics.median(queued_ms):.1f} ms, "
        f"p99 {pct(queued_ms, 99):.1f} ms"
    )
    print(
        f"request to answer (queued + claim): p50 {statistics.median(total_ms):.1f} ms, "
        f"p99 {pct(total_ms, 99):.1f} ms"
    )
    print(
        f"verified: {args.contacts:,} contacts each handed out exactly once, to the texter the claim returned"
    )


if __name__ == "__main__":
    main()

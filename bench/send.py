"""Benchmark: texters sending initial texts as fast as the core allows.

A launched campaign of N contacts (default 20,000, all inside texting hours at the fixed clock), already
assigned round-robin to T texters (default 100, so each holds 200, a default batch; claiming is
bench/assign.py's figure). Every texter clicks Send on each of their contacts back to back (the next
click once the last was answered), one click per text. The texters are spread over P processes
(default 2, one per core: a box runs a process per core, as several ``textbank run`` processes share
one PostgreSQL). In each process the clicks go through ``bot.dbwork.Batches`` (``DbWork.batched``) as
the chat layer's Send button does: clicks waiting together share one write transaction, run by up to
``--threads`` database threads (default 2); ``--batch 1`` gives every click its own transaction.

- ``--mode send``: ``core.sending.send_initial`` alone (the guarded UPDATE and the queued message row);
- ``--mode click``: what the Send button does: ``send_and_next``, the send and the next card in one call.

Reports sends/s over the whole run, click to answer (p50/p99: queued, the shared transaction and its
commit) and the mean number of clicks per transaction, then verifies that every contact was sent exactly
once: status ``messaged`` and exactly one queued outbound row each.

On PostgreSQL it runs in a throw-away schema of the database given; on SQLite in a fresh file in a
temporary directory (the path of a ``sqlite:///`` URL is ignored). Both are removed at the end:

    /tmp/venv/bin/python bench/send.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
    /tmp/venv/bin/python bench/send.py --url sqlite:// --mode click

Target: 2,000 sends/s per box.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import DEFAULT_URL, insert_contacts, launched_campaign, machine, pct, throwaway_database  # noqa: E402

from bot.dbwork import SEND_BATCH, SEND_WRITERS, Batches  # noqa: E402
from core.sending import SendResult, Texter, send_and_next, send_initial  # noqa: E402
from storage import Database  # noqa: E402
from storage.models import (  # noqa: E402
    Contact,
    Message,
    User,
)

# 12:00 in New York on a July Monday: every contact is inside texting hours.
NOW = datetime(2024, 7, 15, 16, 0, tzinfo=UTC)


def populate(db: Database, contacts: int, texters: int) -> tuple[int, dict[int, list[int]]]:
    """The campaign, its script and texters, and the contacts assigned round-robin; returns (campaign,
    contact ids by texter, in sending order)."""
    _org, campaign_id, user_ids = launched_campaign(db, texters)
    owners = [user_ids[i % texters] for i in range(contacts)]
    by_user = insert_contacts(db, campaign_id, owners, now=NOW)
    return campaign_id, {user: ids for user, ids in by_user.items() if user is not None}


def texters_in_process(
    url: str,
    engine_kwargs: dict,
    campaign_id: int,
    by_user: dict[int, list[int]],
    mode: str,
    threads: int,
    max_batch: int,
    start: Any,
    results: Any,
) -> None:
    """One process: every texter clicks in turn (again once answered) through one group commit."""
    db = Database(url, **engine_kwargs)

    with db.read() as session:
        carried = {
            user.id: Texter(user.id, user.organization_id, user.name)
            for user in session.scalars(select(User).where(User.id.in_(by_user)))
        }

    def click(session: Session, user_id: int, contact_id: int) -> SendResult:
        if mode == "click":  # as the chat layer's Send button: the send and the next card in one call
            return send_and_next(session, carried[user_id], campaign_id, contact_id, now=NOW).result
        return send_initial(session, carried[user_id], contact_id, now=NOW)

    async def texters() -> tuple[list[float], int, int]:
        executor = ThreadPoolExecutor(threads, thread_name_prefix="bench-db")
        commits = Batches(db, writers=threads, max_batch=max_batch, executor=executor)
        answered: list[float] = []

        async def texter(user_id: int) -> None:
            for contact_id in by_user[user_id]:
                asked = time.perf_counter()
                result = await commits.run(lambda s, c=contact_id: click(s, user_id, c))
                answered.append(time.perf_counter() - asked)
                if not result.sent:
                    raise AssertionError(f"contact {contact_id} was not sent: {result.reason}")

        await asyncio.to_thread(start.wait)  # every process is connected and ready: go
        await asyncio.gather(*(texter(u) for u in by_user))
        executor.shutdown()
        return answered, commits.transactions, commits.units

    answered, transactions, units = asyncio.run(texters())
    db.dispose()
    results.put((answered, transactions, units))


def run(
    url: str,
    engine_kwargs: dict,
    campaign_id: int,
    by_user: dict[int, list[int]],
    mode: str,
    processes: int,
    threads: int,
    max_batch: int,
) -> tuple[list[float], int, float]:
    """Texters spread over ``processes`` processes; returns (click to answer, transactions, wall s)."""
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
                threads,
                max_batch,
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
    answered: list[float] = []
    transactions = 0
    for _ in workers:
        waited, count, _units = results.get()
        answered.extend(waited)
        transactions += count
    wall = time.perf_counter() - t0
    for worker in workers:
        worker.join()
        if worker.exitcode:
            raise SystemExit(f"a texter process failed (exit code {worker.exitcode})")
    return answered, transactions, wall


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("TEXTBANK_BENCH_DATABASE_URL", DEFAULT_URL),
    )
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--texters", type=int, default=100)
    parser.add_argument("--mode", choices=("send", "click"), default="send")
    parser.add_argument(
        "--threads",
        type=int,
        default=SEND_WRITERS,
        help="database threads (group-commit writers) per process, each with its own connection "
        f"(default {SEND_WRITERS}, as the Slack adapter)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=SEND_BATCH,
        help=f"most clicks one transaction holds (default {SEND_BATCH}, as the Slack adapter; "
        "1 = a transaction each)",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="processes the texters are spread over (default 2)"
    )
    args = parser.parse_args()
    args.processes = max(1, min(args.processes, args.texters))

    engine_kwargs = {"pool_size": args.threads, "max_overflow": 0}
    with throwaway_database(args.url, "bench_send") as url:
        db = Database(url, **engine_kwargs)
        t0 = time.perf_counter()
        campaign_id, by_user = populate(db, args.contacts, args.texters)
        print(
            f"populated {args.contacts:,} contacts for {args.texters} texters "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        answered, transactions, wall = run(
            url, engine_kwargs, campaign_id, by_user, args.mode, args.processes, args.threads, args.batch
        )
        verify(db, campaign_id, args.contacts)
        db.dispose()

    answer_ms = [x * 1000 for x in answered]
    print(machine())
    print(
        f"{db.dialect}, mode {args.mode}, {args.contacts:,} contacts, {args.texters} texters "
        f"in {args.processes} processes of {args.threads} database threads, batches of at most {args.batch}"
    )
    print(
        f"sends: {len(answer_ms):,} in {wall:.1f} s = {len(answer_ms) / wall:,.0f} sends/s, "
        f"{len(answer_ms) / transactions:.1f} per transaction"
    )
    print(
        f"click to answer (queued + shared transaction): p50 {statistics.median(answer_ms):.1f} ms, "
        f"p99 {pct(answer_ms, 99):.1f} ms, max {max(answer_ms):.1f} ms"
    )
    print(f"verified: {args.contacts:,} contacts messaged, each with exactly one queued outbound row")


if __name__ == "__main__":
    main()

"""Claims run on their own few threads, oldest click first, each in one committed transaction."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.dbwork import CLAIM_THREADS, DbWork
from storage import Database


async def test_claims_run_at_most_claim_threads_at_a_time(db: Database) -> None:
    running: set[int] = set()
    most = 0
    lock = threading.Lock()
    release = threading.Event()
    started = threading.Semaphore(0)

    def work(session: Session) -> str:
        nonlocal most
        with lock:
            running.add(threading.get_ident())
            most = max(most, len(running))
        started.release()
        release.wait(10)
        with lock:
            running.discard(threading.get_ident())
        return threading.current_thread().name

    tasks = [asyncio.ensure_future(DbWork(db).serial(work)) for _ in range(CLAIM_THREADS + 3)]
    try:
        for _ in range(CLAIM_THREADS):
            assert await asyncio.to_thread(started.acquire, True, 10)
        # Every claim thread is busy: the others wait in the queue, not in the database.
        assert not await asyncio.to_thread(started.acquire, True, 0.2)
    finally:
        release.set()
    names = await asyncio.gather(*tasks)
    assert most == CLAIM_THREADS
    assert all(name.startswith("claims") for name in names)


async def test_a_claim_commits_or_rolls_back_as_one_transaction(db: Database) -> None:
    with db.session() as session:
        session.execute(text("CREATE TABLE claim_probe (n INTEGER)"))

    def write(session: Session) -> None:
        session.execute(text("INSERT INTO claim_probe VALUES (1)"))

    def write_then_fail(session: Session) -> None:
        session.execute(text("INSERT INTO claim_probe VALUES (2)"))
        raise RuntimeError("the claim failed half-way")

    await DbWork(db).serial(write)
    with pytest.raises(RuntimeError, match="half-way"):
        await DbWork(db).serial(write_then_fail)
    with db.read() as session:
        assert list(session.scalars(text("SELECT n FROM claim_probe"))) == [1]
        session.execute(text("DROP TABLE claim_probe"))

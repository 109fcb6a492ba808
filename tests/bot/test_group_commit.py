"""Group commit: units waiting together share one transaction; a failing unit fails only itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.dbwork import Batches
from storage import Database


@pytest.fixture
def probe(db: Database) -> Iterator[Database]:
    with db.session() as session:
        session.execute(text("CREATE TABLE gc_probe (n INTEGER NOT NULL UNIQUE)"))
    yield db
    with db.session() as session:
        session.execute(text("DROP TABLE gc_probe"))


def stored(db: Database) -> list[int]:
    with db.read() as session:
        return list(session.scalars(text("SELECT n FROM gc_probe ORDER BY n")))


def insert(n: int):  # noqa: ANN201 - a unit of work
    def unit(session: Session) -> int:
        session.execute(text("INSERT INTO gc_probe (n) VALUES (:n)"), {"n": n})
        return n * 10

    return unit


async def test_units_that_wait_together_share_one_transaction(probe: Database) -> None:
    commits = Batches(probe, writers=1, max_batch=64)
    entered, release = threading.Event(), threading.Event()

    def first(session: Session) -> int:
        session.execute(text("INSERT INTO gc_probe (n) VALUES (0)"))
        entered.set()
        assert release.wait(10)
        return 0

    head = asyncio.ensure_future(commits.run(first))
    assert await asyncio.to_thread(entered.wait, 10)
    # While the writer is busy with the first unit, nine more arrive...
    rest = [asyncio.ensure_future(commits.run(insert(n))) for n in range(1, 10)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(head, *rest)
    assert results == [0, *(n * 10 for n in range(1, 10))]
    # ...and go in the next transaction, all together.
    assert (commits.transactions, commits.units) == (2, 10)
    assert stored(probe) == list(range(10))


async def test_a_failing_unit_fails_alone_and_leaves_nothing_half_written(probe: Database) -> None:
    commits = Batches(probe, writers=1, max_batch=64)
    entered, release = threading.Event(), threading.Event()

    def first(session: Session) -> int:
        entered.set()
        assert release.wait(10)
        return 0

    def bad(session: Session) -> int:
        session.execute(text("INSERT INTO gc_probe (n) VALUES (50)"))
        raise ValueError("this click is refused after writing")

    head = asyncio.ensure_future(commits.run(first))
    assert await asyncio.to_thread(entered.wait, 10)
    units = [commits.run(insert(1)), commits.run(bad), commits.run(insert(2))]
    futures = [asyncio.ensure_future(u) for u in units]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(head, *futures, return_exceptions=True)
    assert outcomes[0] == 0 and outcomes[1] == 10 and outcomes[3] == 20
    assert isinstance(outcomes[2], ValueError)
    assert stored(probe) == [1, 2]  # the bad unit's row is gone with its transaction


async def test_a_lone_failing_unit_runs_once(probe: Database) -> None:
    commits = Batches(probe, writers=2, max_batch=64)
    calls = 0

    def bad(session: Session) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("refused")

    with pytest.raises(ValueError):
        await commits.run(bad)
    assert calls == 1


async def test_many_writers_on_postgresql_one_on_sqlite(probe: Database) -> None:
    commits = Batches(probe, writers=3)
    assert commits.writers == (3 if probe.is_postgres else 1)
    results = await asyncio.gather(*(commits.run(insert(n)) for n in range(40)))
    assert results == [n * 10 for n in range(40)]
    assert stored(probe) == list(range(40))
    assert commits.units == 40 and commits.transactions < 40


def test_refuses_a_group_commit_without_writers(db: Database) -> None:
    with pytest.raises(ValueError, match="at least one writer"):
        Batches(db, writers=0)

"""Group commit: clicks that arrive together share one write transaction.

Most of what one Send click costs the database and this process is the transaction around it (checking
a connection out, BEGIN, COMMIT and its WAL flush), not the two statements of the send itself. So
``GroupCommit.run`` queues its unit of work; up to ``writers`` writers each take what is waiting (at most
``max_batch``), run it in one transaction on a database thread and answer every click once it has
committed. Nothing is answered before its commit, so a crash loses no answered click.

A unit of work must only touch the database (no chat or SMS calls), because if any unit of a batch
raises, the whole transaction is rolled back and each unit runs again in a transaction of its own: one
bad click fails only itself, and nothing of it is half-written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from storage.engine import Database

T = TypeVar("T")
# Send clicks: measured with bench/send.py on 2 cores (PostgreSQL on the same box), 2 writers taking up to
# 64 clicks each made ~2,150 sends/s; 4 writers ~1,550/s (they only fight for the cores); one transaction
# per click ~800/s.
SEND_WRITERS = 2
SEND_BATCH = 64
log = logging.getLogger("textbank.group_commit")
Unit = tuple[Callable[[Session], Any], "asyncio.Future[Any]"]


class GroupCommit:
    """Runs units of work in shared transactions: ``await commits.run(lambda session: ...)``."""

    def __init__(
        self, db: Database, *, writers: int, max_batch: int = 32, executor: Executor | None = None
    ) -> None:
        if writers < 1 or max_batch < 1:
            raise ValueError("a group commit needs at least one writer and a batch of at least one")
        self.db = db
        # SQLite has one writer at a time anyway: more writers would only queue on its lock.
        self.writers = writers if db.is_postgres else 1
        self.max_batch = max_batch
        self.executor = executor
        self._pending: deque[Unit] = deque()
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # How many transactions ran and how many units they held (their ratio is the mean batch).
        self.transactions = 0
        self.units = 0

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction, maybe shared with others; returns what it returned."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._active < self.writers:
            self._active += 1
            task = asyncio.ensure_future(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_batch))]
                await self._write(batch)
        finally:
            self._active -= 1

    async def _write(self, batch: list[Unit]) -> None:
        loop = asyncio.get_running_loop()

        def together() -> list[Any]:
            with self.db.session() as session:
                results = [work(session) for work, _ in batch]
            self.transactions += 1
            self.units += len(batch)
            return results

        try:
            results = await loop.run_in_executor(self.executor, together)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            log.warning("a batch of %d units failed (%s); running each on its own", len(batch), exc)
            for work, future in batch:
                try:
                    result = await loop.run_in_executor(self.executor, self._alone, work)
                except Exception as alone_exc:
                    _fail(future, alone_exc)
                else:
                    _resolve(future, result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _resolve(future, result)

    def _alone(self, work: Callable[[Session], T]) -> T:
        with self.db.session() as session:
            result = work(session)
        self.transactions += 1
        self.units += 1
        return result


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # else the caller went away; the work is committed all the same
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)

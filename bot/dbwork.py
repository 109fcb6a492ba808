"""Database work from async code, for every adapter: plain, batched and serialised, three modes of one thing.

Core is synchronous SQLAlchemy, so its calls run on database threads while the event loop keeps acking
clicks. ``DbWork`` is the one way adapters do that:

- ``write(work)`` / ``read(work)``: plain. ``work(session)`` runs in a transaction of its own (a read
  transaction for ``read``; what it loaded is detached, so it stays readable after the rollback).
- ``batched(work)``: group commit. Send clicks that arrive together share one write transaction: most
  of what a lone click costs is its transaction (checking out a connection, BEGIN, COMMIT and its WAL
  flush), not its two statements. Measured with ``bench/send.py`` on 2 cores (PostgreSQL on the same
  box): 2 writers taking up to 64 clicks each made ~2,150 sends/s; 4 writers ~1,550/s; one transaction
  per click ~800/s. ``Batches`` is the machinery; thread bookkeeping uses its own ``Batches`` too.
- ``serial(work)``: claims, one at a time per process on a thread of their own, whichever adapter asked.
  Every claim starts where the last one ended in its pool (core.assignment), so claims side by side walk
  over each other's locked rows. Measured with ``bench/assign.py`` (a million contacts, 500 texters
  back to back, PostgreSQL on the same 2 cores): one claim thread ~96 claims/s with a p99 of 15 ms; two
  ~130/s with a p99 of 30 ms; sixteen ~135/s with a p99 of 660 ms. So a click beyond the first waits its
  turn in this queue, oldest first, instead of in the database.

A unit given to ``batched`` must only touch the database (no chat or SMS calls): if a unit of a batch
raises, the whole transaction is rolled back and each unit runs again alone, so one bad click fails
only itself and nothing of it is half-written. Exceptions listed as ``soft`` (raised before the unit
wrote anything) fail only their own unit without rolling back the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.metrics import CLAIM_SECONDS
from storage.engine import Database

T = TypeVar("T")
log = logging.getLogger("textbank.db")

# Plain work: the default executor has only cores + 4 threads, too few for a burst of clicks and relay
# posts that each wait a few milliseconds on the database.
DB_THREADS = 16
SEND_WRITERS = 2
SEND_BATCH = 64
CLAIM_THREADS = 1
# Claims run one at a time per process, whichever adapter asked: one queue for the whole process.
_CLAIMS = ThreadPoolExecutor(CLAIM_THREADS, thread_name_prefix="claims")
Unit = tuple[Callable[[Session], Any], "asyncio.Future[Any]"]


class Batches:
    """Units of database work from many coroutines, run together: one transaction takes what is waiting.

    Nothing waits on purpose: a lone unit runs at once, and units arriving while a transaction runs make
    up the next one. Up to ``writers`` transactions run at a time (one on SQLite, which has one writer
    anyway), each taking at most ``max_batch`` units. ``write=False`` runs read transactions.
    ``keep_loaded`` keeps every object a batch loaded alive until it ends, so units after the first find
    the texter and campaign the first one loaded in the session's identity map.
    """

    def __init__(
        self,
        db: Database,
        *,
        writers: int = 1,
        max_batch: int = 32,
        write: bool = True,
        soft: tuple[type[Exception], ...] = (),
        keep_loaded: bool = False,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        if writers < 1 or max_batch < 1:
            raise ValueError("batches need at least one writer and a batch of at least one unit")
        self.db = db
        self.writers = writers if db.is_postgres else 1
        self.max_batch = max_batch
        self.write = write
        self.soft = soft
        self.keep_loaded = keep_loaded
        self.executor = executor
        self._pending: deque[Unit] = deque()
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # How many transactions ran and how many units they held (their ratio is the mean batch).
        self.transactions = 0
        self.units = 0

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction, maybe shared with others; returns what it returned."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._active < self.writers:
            self._active += 1
            task = asyncio.ensure_future(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        batch: list[Unit] = []
        try:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_batch))]
                await self._together(batch)
                batch = []
        finally:
            self._active -= 1
            for _, future in batch:  # only when cancelled: nobody is left waiting forever
                future.cancel()

    def _transaction(self, units: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        kept: list[Any] = []

        def keep(_session: Session, instance: Any) -> None:
            kept.append(instance)

        with self.db.session() if self.write else self.db.read() as session:
            if self.keep_loaded:
                event.listen(session, "loaded_as_persistent", keep)
            try:
                out: list[tuple[bool, Any]] = []
                for work in units:
                    try:
                        out.append((True, work(session)))
                    except self.soft as exc:
                        out.append((False, exc))
                if not self.write:
                    session.expunge_all()
            finally:
                if self.keep_loaded:
                    event.remove(session, "loaded_as_persistent", keep)
        self.transactions += 1
        self.units += len(units)
        return out

    async def _together(self, batch: list[Unit]) -> None:
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(self.executor, self._transaction, [w for w, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], False, exc)
                return
            log.warning("a batch of %d units failed (%s); running each on its own", len(batch), exc)
            outcomes = []
            for work, _ in batch:
                try:
                    outcomes += await loop.run_in_executor(self.executor, self._transaction, [work])
                except Exception as alone:
                    outcomes.append((False, alone))
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            _settle(future, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # its caller went away; the work is committed all the same
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class DbWork:
    """The three modes over one database (see the module's docstring)."""

    def __init__(self, db: Database, *, threads: int = DB_THREADS, name: str = "db") -> None:
        self.db = db
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self.sends = Batches(db, writers=SEND_WRITERS, max_batch=SEND_BATCH, executor=self.executor)

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction of its own (rolled back if it raises)."""

        def run() -> T:
            with self.db.session() as session:
                return work(session)

        return await asyncio.get_running_loop().run_in_executor(self.executor, run)

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a read transaction; what it loaded is detached, so it stays readable."""

        def run() -> T:
            with self.db.read() as session:
                result = work(session)
                session.expunge_all()
                return result

        return await asyncio.get_running_loop().run_in_executor(self.executor, run)

    async def batched(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction shared with the units waiting beside it (group commit)."""
        return await self.sends.run(work)

    async def serial(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` (a claim) in one write transaction on the process's claim thread, oldest first."""

        def run() -> T:
            with CLAIM_SECONDS.time(), self.db.session() as session:
                return work(session)

        return await asyncio.get_running_loop().run_in_executor(_CLAIMS, run)

    def batches(self, **options: Any) -> Batches:
        """A further ``Batches`` on this database's threads (``Batches``'s keyword options)."""
        return Batches(self.db, executor=self.executor, **options)

    def close(self, *, wait: bool = False) -> None:
        """Stop the database threads (``wait``: until the work they run has finished)."""
        self.executor.shutdown(wait=wait)

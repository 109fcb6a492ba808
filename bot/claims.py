"""Claims run one at a time per process, on a thread of their own, whichever chat adapter asked.

Every claim starts where the last one ended in its pool (core.assignment), so two claims running side by
side start at the same place and walk over each other's locked rows (SKIP LOCKED), then over the rows
the other just committed. Measured with ``bench/assign.py`` (a million contacts, 500 texters back to
back, PostgreSQL on the same 2 cores): one claim thread ~96 claims/s (19,000 contacts/s) with a claim
p99 of 15 ms; two ~130 claims/s with a p99 of 30 ms; sixteen (the adapter's general pool) ~135 claims/s
with a p99 of 660 ms. 96 claims/s is far beyond what texters need (500 texters sending 200 texts at one
click a second ask for ~2.5 claims/s), so a click beyond the first waits its turn in this queue, oldest
first, instead of in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.orm import Session

from storage.engine import Database

CLAIM_THREADS = 1
_EXECUTOR = ThreadPoolExecutor(CLAIM_THREADS, thread_name_prefix="claims")
T = TypeVar("T")


async def in_claim_session(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` (a call that claims contacts) in one write transaction on a claim thread."""

    def run() -> T:
        with db.session() as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, run)

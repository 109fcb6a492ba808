"""Claims run on a few threads of their own, whichever chat adapter asked.

Every claim starts at the head of its campaign's unassigned pool, so claims running side by side walk
over each other's locked rows (SKIP LOCKED) and the entries of rows claimed a moment ago: measured with
``bench/assign.py`` on 2 cores, 2 at a time made ~195 claims/s with a p99 of 18 ms, 16 at a time ~135
claims/s with a p99 of 660 ms. A click beyond the first ``CLAIM_THREADS`` waits its turn in this queue
(oldest first) instead of in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.orm import Session

from storage.engine import Database

CLAIM_THREADS = 2
_EXECUTOR = ThreadPoolExecutor(CLAIM_THREADS, thread_name_prefix="claims")
T = TypeVar("T")


async def in_claim_session(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` (a call that claims contacts) in one write transaction on a claim thread."""

    def run() -> T:
        with db.session() as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, run)

"""Cross-process mutual exclusion for scheduled jobs.

On PostgreSQL a transaction-scoped advisory lock lets exactly one of several ``textbank run`` processes
run a job at a time. SQLite serializes writers already (one process holds the write lock), so the
guard is always granted there.
"""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_key(name: str) -> int:
    """A stable signed 63-bit key for a job name."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def try_job_lock(session: Session, name: str) -> bool:
    """Take the named lock for the rest of this transaction; False if another process holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(name)}).scalar())

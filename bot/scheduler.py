"""Scheduled jobs: each process runs its own AsyncIOScheduler with the default in-memory job store.

APScheduler 3 must not share a job store between processes (duplicate and missed runs), so every
``textbank run`` registers the same jobs at start under fixed ids; the jobs are idempotent statements
that take a PostgreSQL advisory lock, so only one process does each run's work. Durable work (a text to
send, a notice to post) is a row, never a scheduler job.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core import outbox
from core.releases import release_unhandled_replies
from core.reminders import send_reply_reminders
from storage import Database
from storage.locks import try_job_lock

log = logging.getLogger(__name__)

RELEASE_JOB = "release_unhandled_replies"
REMINDER_JOB = "send_reply_reminders"
SWEEP_JOB = "sweep_stale_sending"
# Longer than a live sender ever holds a row in ``sending`` (rate wait + the 30 s request timeout).
STALE_SENDING_AFTER = timedelta(minutes=5)


def release_job(db: Database) -> int:
    """Release Unhandled Replies for every campaign that set it (core takes its own advisory lock)."""
    with db.session() as session:
        released = release_unhandled_replies(session)
    if released:
        log.info("scheduler: released %d unhandled replies", released)
    return released


def reminder_job(db: Database, now: datetime | None = None) -> int:
    """Reply reminders for every launched campaign that has them on (core takes its own advisory lock)."""
    with db.session() as session:
        reminded = len(send_reply_reminders(session, now))
    if reminded:
        log.info("scheduler: reminded %d texters of replies waiting on them", reminded)
    return reminded


def sweep_job(db: Database, older_than: timedelta = STALE_SENDING_AFTER, now: datetime | None = None) -> int:
    """Texts left in ``sending`` by a dead process become ``unknown`` (never resent); status callbacks kept
    for a SID that no text got within ``outbox.EARLY_CALLBACKS_KEPT`` are purged. Returns the texts swept."""
    with db.session() as session:
        if not try_job_lock(session, SWEEP_JOB):
            return 0
        swept = outbox.sweep_stale_sending(session, older_than, now)
        purged = outbox.purge_early_callbacks(session, outbox.EARLY_CALLBACKS_KEPT, now)
    if swept:
        log.warning("scheduler: %d texts were left 'sending' by a stopped sender; now 'unknown'", swept)
    if purged:
        log.info("scheduler: purged %d status callbacks for SIDs none of our texts got", purged)
    return swept


class Scheduler:
    """The scheduler as a runtime component."""

    name = "scheduler"

    def __init__(
        self,
        db: Database,
        *,
        interval: timedelta = timedelta(minutes=1),
        stale_after: timedelta = STALE_SENDING_AFTER,
    ) -> None:
        self.db = db
        self.interval = interval
        self.stale_after = stale_after
        self.scheduler: AsyncIOScheduler | None = None

    @property
    def description(self) -> str:
        every = f"every {self.interval.total_seconds():g}s"
        return (
            f"scheduler: {RELEASE_JOB} {every}; {REMINDER_JOB} {every}; {SWEEP_JOB} {every} "
            f"(sending for over {self.stale_after.total_seconds():g}s -> unknown; unclaimed status callbacks "
            f"purged after {outbox.EARLY_CALLBACKS_KEPT.total_seconds() / 3600:g}h); in-memory job store"
        )

    async def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        common = {
            "trigger": "interval",
            "seconds": self.interval.total_seconds(),
            "replace_existing": True,
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(self.interval.total_seconds()),
        }
        scheduler.add_job(release_job, id=RELEASE_JOB, name=RELEASE_JOB, args=[self.db], **common)
        scheduler.add_job(reminder_job, id=REMINDER_JOB, name=REMINDER_JOB, args=[self.db], **common)
        # The sweep also runs right away: a process that died before this start left its rows behind.
        scheduler.add_job(
            sweep_job,
            id=SWEEP_JOB,
            name=SWEEP_JOB,
            args=[self.db, self.stale_after],
            next_run_time=datetime.now(UTC),
            **common,
        )
        scheduler.start()
        self.scheduler = scheduler

    async def stop(self) -> None:
        if self.scheduler is not None:
            # Jobs run in the loop's default thread pool; a running one finishes its transaction.
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

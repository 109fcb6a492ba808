"""The Slack relay worker: posts core's notices for Slack into the right place, once, in order.

It claims pending ``slack`` notices (core.notices.claim_pending: oldest first, SKIP LOCKED on PostgreSQL),
groups them by conversation and handles each group in order while groups run side by side. A reply or an
opt-out brings the conversation's thread up to date (new texts are posted exactly once: see
``threads.advance``); other notices become a line in the texter's DM. A notice is marked posted after it
was handled, or put back for another try after a failure (core gives up after ten). Slack's 429s are
waited out by the client's retry handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.slack import blocks
from bot.slack.app import SlackDeps
from bot.slack.context import PLATFORM, in_session
from bot.slack.conversations import ThreadBusy, threads_of
from core import notices, orgs

log = logging.getLogger("textbank.slack.relay")
THREAD_KINDS = ("reply", "optout", "escalated", "failed")


@dataclass(frozen=True)
class Pending:
    id: int
    kind: str
    user_id: int | None
    contact_id: int | None
    payload: dict[str, Any]
    slack_user_id: str | None


def _claim(session: Session, limit: int) -> list[Pending]:
    out = []
    for notice in notices.claim_pending(session, PLATFORM, limit):
        slack_id = None
        if notice.user_id is not None:
            user = orgs.get_user(session, notice.user_id)
            slack_id = next((i.platform_user_id for i in user.identities if i.platform == PLATFORM), None)
        out.append(
            Pending(
                notice.id,
                notice.kind,
                notice.user_id,
                notice.contact_id,
                dict(notice.payload or {}),
                slack_id,
            )
        )
    return out


def _settle(session: Session, posted: list[int], retry: list[int]) -> None:
    for notice_id in posted:
        notices.mark_posted(session, notice_id)
    for notice_id in retry:
        notices.mark_retry(session, notice_id)


class RelayWorker:
    def __init__(self, deps: SlackDeps, *, batch: int = 20, idle: float = 0.1, parallel: int = 20) -> None:
        self.deps = deps
        self.batch = batch
        self.idle = idle
        self.parallel = parallel
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        last_requeue = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() - last_requeue > 60:
                    last_requeue = time.monotonic()
                    await in_session(
                        self.deps.db, lambda s: notices.requeue_stuck(s, PLATFORM, timedelta(minutes=5))
                    )
                handled, failed = await self.run_once()
            except Exception:
                log.exception("slack relay round failed")
                handled, failed = 0, 1
            if failed:
                await asyncio.sleep(1.0)
            elif not handled:
                try:
                    await asyncio.wait_for(self._stopping.wait(), self.idle)
                except TimeoutError:
                    pass

    async def run_once(self) -> tuple[int, int]:
        """Claim and handle one batch; returns (notices handled, notices put back)."""
        batch = await in_session(self.deps.db, lambda s: _claim(s, self.batch))
        if not batch:
            return 0, 0
        groups: dict[Any, list[Pending]] = {}
        for item in batch:
            key = ("contact", item.user_id, item.contact_id) if item.contact_id else ("notice", item.id)
            groups.setdefault(key, []).append(item)
        gate = asyncio.Semaphore(self.parallel)
        posted: list[int] = []
        retry: list[int] = []

        async def run(items: list[Pending]) -> None:
            async with gate:
                await self._group(items, posted, retry)

        await asyncio.gather(*(run(items) for items in groups.values()))
        await in_session(self.deps.db, lambda s: _settle(s, posted, retry))
        return len(posted), len(retry)

    async def _group(self, items: list[Pending], posted: list[int], retry: list[int]) -> None:
        synced = False
        for index, item in enumerate(items):
            try:
                synced = await self._one(item, synced)
            except ThreadBusy:
                retry.extend(i.id for i in items[index:])
                return
            except Exception:
                log.exception("could not post slack notice %s (%s)", item.id, item.kind)
                retry.extend(i.id for i in items[index:])  # keep the conversation's order: stop here
                return
            posted.append(item.id)

    async def _one(self, item: Pending, synced: bool) -> bool:
        """Handle one notice; returns whether its conversation's thread is now up to date."""
        if item.slack_user_id is None or item.user_id is None:
            return synced
        if item.contact_id and item.kind in THREAD_KINDS:
            note = ""
            if item.kind == "failed":
                reason = str(item.payload.get("reason") or "unknown error")
                note = f":warning: Not delivered: {blocks.escape(reason)}"
            if not synced or note:
                in_thread = await threads_of(self.deps).sync(
                    item.slack_user_id, item.user_id, item.contact_id, note=note
                )
                if not in_thread and item.kind in ("failed", "escalated"):
                    await self.deps.dm(item.slack_user_id, blocks.notice_text(item.kind, item.payload))
                if item.kind == "escalated" and in_thread:
                    await self.deps.dm(item.slack_user_id, blocks.notice_text(item.kind, item.payload))
            return True
        await self.deps.dm(item.slack_user_id, blocks.notice_text(item.kind, item.payload))
        return synced

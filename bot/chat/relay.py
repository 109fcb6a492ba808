"""The relay worker, one class for every chat platform: posts core's notices into the right place, once,
in order, through the platform's ``Surface``.

It claims pending notices of its platform (core.notices.claim_pending: oldest first, SKIP LOCKED on
PostgreSQL) and queues each behind the earlier ones of its conversation; conversations run side by side,
each through its own queue in order. A reply or an opt-out brings the conversation's thread up to date
(new texts are posted exactly once: see ``bot.chat.threads``; one sync covers every such notice waiting
in the queue); a conversation finished for the texter closes its thread (Discord archives it); other
notices become a line in the texter's direct messages, and a release also marks the released
conversations' old controls. A thread that cannot open because no channel is chosen for it (Discord) is
said in the texter's direct messages, once per notice, naming the command an admin runs.

The worker does not wait for a whole batch before claiming more: as soon as notices are handled, the next
claim marks them posted (``mark_posted_many``, one statement) in the same transaction. It wakes as soon as
a transaction of this process commits notices (``notices.on_commit``), and polls every ``idle`` seconds for
those of other processes.

A platform's 429s are waited out by its client. A notice that still fails goes back to pending
(core gives up after ten tries) and its conversation waits, alone, before trying again: a second, then
twice as long each time up to a minute, or as long as the platform's ``Retry-After`` says. Other conversations
carry on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.chat import texts
from bot.chat.surface import NoThreadChannel
from bot.chat.threads import ThreadBusy, Threads
from core import notices

log = logging.getLogger("textbank.chat.relay")
THREAD_KINDS = ("reply", "optout", "escalated", "failed", "answered")
# A conversation finished for the texter (closed, opted out, released): its thread is closed (archived).
FINISHED = "finished"
# Thread notices that need nothing but the thread brought up to date (plus a DM for an escalation): a run of
# them in a conversation's queue is handled by one sync.
SYNC_KINDS = ("reply", "optout", "escalated", "answered")
REQUEUE_EVERY = 60.0
MAX_RETRY_DELAY = 60.0


@dataclass(frozen=True)
class Pending:
    id: int
    kind: str
    user_id: int | None
    contact_id: int | None
    payload: dict[str, Any]
    platform_user_id: str | None
    campaign_id: int | None = None

    @property
    def key(self) -> Hashable:
        """The conversation whose order this notice keeps (a notice about no contact stands alone)."""
        return ("contact", self.user_id, self.contact_id) if self.contact_id else ("notice", self.id)


def _settle_and_claim(
    session: Session, platform: str, limit: int, posted: list[int], retry: list[int]
) -> list[Pending]:
    """One transaction: mark what was handled since the last call, then claim up to ``limit`` more."""
    notices.mark_posted_many(session, posted)
    notices.mark_retry_many(session, retry)
    if limit <= 0:
        return []
    rows = notices.claim_pending(session, platform, limit)
    ids = notices.recipients(session, platform, {n.user_id for n in rows if n.user_id is not None})
    return [
        Pending(
            n.id,
            n.kind,
            n.user_id,
            n.contact_id,
            dict(n.payload or {}),
            ids.get(n.user_id) if n.user_id is not None else None,
            n.campaign_id,
        )
        for n in rows
    ]


@dataclass
class _Backoff:
    until: float = 0.0
    delay: float = 0.0


@dataclass
class _Outcome:
    posted: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)


class RelayWorker:
    """Drains one platform's notices through its ``Threads`` (and so its ``Surface``).

    ``batch``: notices claimed at most per claim; ``parallel``: conversations posting at once;
    ``max_in_flight``: notices claimed and not yet handled, at most; ``idle``: seconds between polls when
    nothing wakes it; ``retry_delay``: the first wait of a conversation after a failure.
    """

    def __init__(
        self,
        threads: Threads,
        *,
        batch: int = 100,
        idle: float = 0.1,
        parallel: int = 64,
        max_in_flight: int = 400,
        retry_delay: float = 1.0,
    ) -> None:
        self.threads = threads
        self.surface = threads.surface
        self.platform = threads.platform
        self.batch = batch
        self.idle = idle
        self.parallel = parallel
        self.max_in_flight = max_in_flight
        self.retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._gate = asyncio.Semaphore(parallel)
        self._queues: dict[Hashable, deque[Pending]] = {}
        self._runners: dict[Hashable, asyncio.Task[None]] = {}
        self._backoff: dict[Hashable, _Backoff] = {}
        self._held: set[int] = set()  # ids claimed and not yet handled
        self._done = _Outcome()  # handled, not yet marked in the database

    # --- life cycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task

    def _listener(self, loop: asyncio.AbstractEventLoop) -> notices.CommitListener:
        def committed(platforms: frozenset[str]) -> None:
            if self.platform in platforms:
                try:
                    loop.call_soon_threadsafe(self._wake.set)
                except RuntimeError:  # the loop is closed: nobody to wake
                    pass

        return committed

    async def _run(self) -> None:
        remove = notices.on_commit(self._listener(asyncio.get_running_loop()))
        last_requeue = float("-inf")
        polled = True  # nothing told us there is work: look before taking the write lock
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    if time.monotonic() - last_requeue > REQUEUE_EVERY:
                        last_requeue = time.monotonic()
                        await self.threads.writes.run(
                            lambda s: notices.requeue_stuck(s, self.platform, timedelta(minutes=5))
                        )
                    claimed, limit = await self._step(look_first=polled)
                except Exception:
                    log.exception("%s relay round failed", self.platform)
                    await self._pause(1.0)  # the database is in trouble: do not spin
                    polled = True
                    continue
                if claimed and claimed == limit:
                    polled = False  # a full claim: more may be waiting
                    continue
                polled = not await self._pause(self.idle, wakeable=True)
        finally:
            remove()
            await self._finish_all()

    async def _pause(self, seconds: float, *, wakeable: bool = False) -> bool:
        """Sleep until ``seconds`` pass, the worker stops or (``wakeable``) is woken; True when woken."""
        event = self._wake if wakeable else self._stopping
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _finish_all(self) -> None:
        """On stop: let running conversations finish (those waiting out a failure give up), then settle."""
        await asyncio.gather(*self._runners.values(), return_exceptions=True)
        posted, retry = self._take_done()
        if posted or retry:
            await self.threads.writes.run(lambda s: _settle_and_claim(s, self.platform, 0, posted, retry))

    # --- claiming ------------------------------------------------------------------------------------------

    def _take_done(self) -> tuple[list[int], list[int]]:
        done, self._done = self._done, _Outcome()
        return done.posted, done.retry

    async def _claim(self, limit: int) -> list[Pending]:
        posted, retry = self._take_done()
        try:
            batch = await self.threads.writes.run(
                lambda s: _settle_and_claim(s, self.platform, limit, posted, retry)
            )
        except BaseException:
            self._done.posted.extend(posted)  # marked next time
            self._done.retry.extend(retry)
            raise
        # A notice we still hold can come back if requeue_stuck reset it meanwhile: it is handled once.
        return [item for item in batch if item.id not in self._held]

    async def _step(self, *, look_first: bool) -> tuple[int, int]:
        """Settle what was handled and claim what fits; returns (notices claimed, claim limit)."""
        limit = min(self.batch, self.max_in_flight - len(self._held))
        if not self._done.posted and not self._done.retry:
            if limit <= 0:
                return 0, limit
            if look_first and not await self.threads.reads.run(
                lambda s: notices.pending_exists(s, self.platform)
            ):
                return 0, limit
        batch = await self._claim(limit)
        self._dispatch(batch)
        return len(batch), limit

    def _dispatch(self, batch: list[Pending]) -> set[asyncio.Task[None]]:
        """Queue each notice behind its conversation's earlier ones; returns the conversations' runners."""
        runners = set()
        for item in batch:
            self._held.add(item.id)
            self._queues.setdefault(item.key, deque()).append(item)
            runner = self._runners.get(item.key)
            if runner is None:
                runner = asyncio.ensure_future(self._drain(item.key))
                self._runners[item.key] = runner
            runners.add(runner)
        return runners

    async def run_once(self) -> tuple[int, int]:
        """Claim one batch, handle it and settle it; returns (notices handled, notices put back)."""
        batch = await self._claim(self.batch)
        if not batch:
            return 0, 0
        await asyncio.gather(*self._dispatch(batch))
        posted, retry = self._take_done()
        await self.threads.writes.run(lambda s: _settle_and_claim(s, self.platform, 0, posted, retry))
        ids = {item.id for item in batch}
        return len(ids.intersection(posted)), len(ids.intersection(retry))

    # --- one conversation ----------------------------------------------------------------------------------

    def _finish(self, posted: list[int], retry: list[int]) -> None:
        self._done.posted.extend(posted)
        self._done.retry.extend(retry)
        self._held.difference_update(posted)
        self._held.difference_update(retry)
        self._wake.set()  # settle them soon, and claim more if we were full

    async def _drain(self, key: Hashable) -> None:
        """Handle the conversation's queue in order until it is empty or a notice fails."""
        queue = self._queues[key]
        try:
            while queue:
                backoff = self._backoff.get(key)
                wait = backoff.until - time.monotonic() if backoff else 0.0
                if wait > 0 and await self._pause(wait):  # stopping: give the notices back
                    self._finish([], [item.id for item in queue])
                    queue.clear()
                    return
                async with self._gate:
                    run = self._take_run(queue)
                    done: list[int] = []
                    try:
                        await self._handle(run, done)
                    except Exception as exc:
                        again = [item.id for item in run if item.id not in done]
                        again += [item.id for item in queue]
                        queue.clear()
                        self._failed(key, exc, run[len(done)])
                        self._finish(done, again)
                        return
                self._backoff.pop(key, None)
                self._finish(done, [])
        finally:
            del self._queues[key]
            del self._runners[key]

    @staticmethod
    def _take_run(queue: deque[Pending]) -> list[Pending]:
        """The next notice, and the ones behind it that the same thread sync covers."""
        run = [queue.popleft()]
        if run[0].contact_id and run[0].kind in SYNC_KINDS:
            while queue and queue[0].kind in SYNC_KINDS:
                run.append(queue.popleft())
        return run

    def _failed(self, key: Hashable, exc: Exception, item: Pending) -> None:
        """Log the failure and make the conversation wait before its next try."""
        backoff = self._backoff.setdefault(key, _Backoff())
        backoff.delay = min(MAX_RETRY_DELAY, backoff.delay * 2 if backoff.delay else self.retry_delay)
        delay = backoff.delay
        if isinstance(exc, ThreadBusy):
            log.info("notice %s waits: %s", item.id, exc)
        else:
            failure = self.surface.failure(exc)
            if failure.retry_after is not None:
                delay = max(delay, failure.retry_after)
            if failure.reason:
                log.warning(
                    "%s refused notice %s (%s): %s; trying again in %.0f s",
                    self.platform,
                    item.id,
                    item.kind,
                    failure.reason,
                    delay,
                )
            else:
                log.exception(
                    "could not post %s notice %s (%s)", self.platform, item.id, item.kind, exc_info=exc
                )
        backoff.until = time.monotonic() + delay

    async def _handle(self, run: list[Pending], done: list[int]) -> None:
        """Post one run of a conversation's notices, appending each id to ``done`` once it is handled."""
        head = run[0]
        if head.platform_user_id is None or head.user_id is None:
            done.extend(item.id for item in run)  # nobody on this platform to tell
            return
        if head.contact_id and head.kind == FINISHED:
            await self.threads.finish(head.user_id, head.contact_id)
            done.append(head.id)
            return
        if head.contact_id and head.kind in THREAD_KINDS:
            note = ""
            if head.kind == "failed":
                note = texts.not_delivered_note(str(head.payload.get("reason") or ""))
            try:
                in_thread = await self.threads.sync(
                    head.platform_user_id, head.user_id, head.contact_id, note=note
                )
            except NoThreadChannel as exc:  # trying again changes nothing until an admin chooses one
                place = await self.surface.open_dm(head.platform_user_id)
                await self.surface.post(place, texts.thread_not_opened(head.payload, exc.reason))
                done.extend(item.id for item in run)
                return
            for item in run:
                if item.kind == "escalated" or (item.kind == "failed" and not in_thread):
                    await self._dm(head.platform_user_id, item)
                done.append(item.id)
            return
        await self._dm(head.platform_user_id, head)
        if head.kind == "released":
            title = str(head.payload.get("campaign_title") or "your campaign")
            await self.threads.mark_released(head.user_id, head.campaign_id, title)
        done.append(head.id)

    async def _dm(self, platform_user_id: str, item: Pending) -> None:
        place = await self.surface.open_dm(platform_user_id)  # opened once for all of the user's notices
        await self.surface.post(place, texts.notice(item.kind, item.payload, item.campaign_id))

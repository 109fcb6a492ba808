"""The outbox sender: drains queued texts through a gateway (Twilio, or the console).

One dispatcher task claims rows (committed as ``sending`` before the provider is called), waits for the
sending identity's rate, and hands each row to a worker: the blocking provider call runs in a thread
pool, then the outcome is recorded through core.outbox. A row claimed but not yet handed over when the
sender stops goes back to the queue; a row whose call was in flight when the process died stays
``sending`` until the sweep makes it ``unknown``. Nothing resends it.

Rate (``TEXTBANK_SMS_RATE``, texts per second per sending identity, ``0`` = unlimited). Default: 1/s for a
phone number (what one US long code carries) and 10/s for a Messaging Service (Twilio spreads a service's
texts over its number pool and queues any surplus). The console gateway is never limited.
Workers (``TEXTBANK_SMS_WORKERS``, default 4): how many provider calls may be in flight at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal, Protocol, TypeVar

import requests
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from bot.config import Settings
from bot.twilio.client import RewritingHttpClient
from core import outbox
from core.outbox import OutboundJob
from storage import Database
from storage.types import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

NUMBER_RATE = 1.0
SERVICE_RATE = 10.0
DEFAULT_WORKERS = 4
# Outcomes written per transaction at most.
RECORD_BATCH = 200
# Twilio accepts a ValidityPeriod of 1 to 36000 seconds.
VALIDITY_MIN, VALIDITY_MAX = 1, 36_000


@dataclass(frozen=True)
class SenderOptions:
    workers: int = DEFAULT_WORKERS
    # Texts per second per sending identity; None = unlimited.
    rate: float | None = None
    burst: int = 1
    poll_interval: float = 0.5
    retry_base: float = 2.0
    retry_cap: float = 300.0


def default_rate(identity: str) -> float:
    return SERVICE_RATE if is_messaging_service(identity) else NUMBER_RATE


def is_messaging_service(identity: str) -> bool:
    return identity.startswith("MG")


def sender_options(settings: Settings) -> SenderOptions:
    """Options from the settings' ``TEXTBANK_SMS_RATE`` / ``TEXTBANK_SMS_WORKERS`` (see bot/config.py)."""
    rate = settings.sms_rate
    if settings.sms == "console":
        rate = None
    elif rate is None:
        rate = default_rate(settings.sender)
    return SenderOptions(workers=settings.sms_workers, rate=rate or None)


@dataclass(frozen=True)
class Outcome:
    kind: Literal["sent", "retry", "failed", "unknown"]
    sid: str | None = None
    code: int | None = None
    reason: str = ""
    retry_after: float | None = None
    http_status: int | None = None


class Gateway(Protocol):
    default_sender: str

    def send(self, job: OutboundJob, identity: str) -> Outcome:
        """Hand one text to the provider (blocking); never raises."""
        ...

    def describe(self) -> str: ...


class TwilioGateway:
    """Sends through the official twilio ``Client``."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.default_sender = settings.sender
        self.status_callback = f"{settings.public_url}/twilio/status" if settings.public_url else None
        self.api_url = settings.twilio_api_url or "https://api.twilio.com"

    def describe(self) -> str:
        kind = "Messaging Service" if is_messaging_service(self.default_sender) else "number"
        callbacks = self.status_callback or "nowhere (TEXTBANK_PUBLIC_URL unset)"
        return f"Twilio via {kind} {self.default_sender} at {self.api_url}, status callbacks to {callbacks}"

    def request_params(self, job: OutboundJob, identity: str) -> dict[str, object] | Outcome:
        params: dict[str, object] = {"to": job.cell, "body": job.body}
        if is_messaging_service(identity):
            params["messaging_service_sid"] = identity
            if job.send_before is not None:
                seconds = int((job.send_before - utcnow()).total_seconds())
                if seconds < VALIDITY_MIN:
                    return Outcome("failed", reason=outbox.WINDOW_CLOSED)
                params["validity_period"] = min(seconds, VALIDITY_MAX)
        else:
            params["from_"] = identity
        if self.status_callback:
            params["status_callback"] = self.status_callback
        if job.media:
            params["media_url"] = list(job.media)
        return params

    def send(self, job: OutboundJob, identity: str) -> Outcome:
        params = self.request_params(job, identity)
        if isinstance(params, Outcome):
            return params
        try:
            message = self.client.messages.create(**params)  # type: ignore[arg-type]
        except (TwilioRestException, TwilioServiceException) as exc:
            return self._refusal(exc)
        except requests.exceptions.ConnectTimeout as exc:
            return Outcome("retry", reason=f"could not connect to Twilio: {exc.__class__.__name__}")
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                return Outcome("retry", reason="could not connect to Twilio (connection refused)")
            return Outcome("unknown", reason=f"the connection to Twilio broke mid-request: {exc}")
        except Exception as exc:  # a timeout while waiting for the answer, or anything else: ambiguous
            return Outcome("unknown", reason=f"no answer from Twilio: {exc.__class__.__name__}: {exc}")
        return Outcome("sent", sid=message.sid)

    def _refusal(self, exc: TwilioRestException | TwilioServiceException) -> Outcome:
        status = int(exc.status or 0)
        message = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
        code = int(exc.code) if exc.code is not None else None
        if status == 401:  # our credentials, not this text: keep it queued while someone fixes the config
            log.error(
                "sender: Twilio refused our credentials (401); check TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN"
            )
            return Outcome(
                "retry", code=code, reason=f"Twilio refused our credentials: {message}", http_status=401
            )
        if status == 429 or status >= 500:
            return Outcome(
                "retry",
                code=code,
                reason=f"Twilio answered {status}: {message}",
                retry_after=self._retry_after(),
                http_status=status,
            )
        return Outcome("failed", code=code, reason=str(message), http_status=status)

    def _retry_after(self) -> float | None:
        http_client = self.client.http_client
        response = http_client.last_response() if isinstance(http_client, RewritingHttpClient) else None
        headers = getattr(response, "headers", None) or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the request certainly never reached the server (refused / unresolvable)."""
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, NewConnectionError)


@dataclass(frozen=True)
class _Pending:
    """An outcome waiting to be written; ``recorded`` resolves once it is."""

    job: OutboundJob
    identity: str
    outcome: Outcome
    recorded: asyncio.Future[None]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. ``reserve`` may go into debt: callers
    sleep for the returned time, so concurrent callers queue up in order."""

    def __init__(
        self, rate: float | None, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def reserve(self) -> float:
        """Take a token; returns how many seconds to wait before using it."""
        if not self.rate:
            return 0.0
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refund(self) -> None:
        if self.rate:
            self.tokens = min(self.burst, self.tokens + 1)

    def pause(self, seconds: float) -> None:
        """Hold every later reservation for at least ``seconds`` (the provider asked us to back off)."""
        if self.rate and seconds > 0:
            self.tokens = min(self.tokens, -seconds * self.rate)


class OutboxSender:
    """Drains the outbox; ``start``/``stop`` make it a runtime component."""

    name = "sender"

    def __init__(
        self,
        db: Database,
        gateway: Gateway,
        options: SenderOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.options = options or SenderOptions()
        # The rate limiter's time: its buckets read ``clock`` and wait for a token with ``sleep`` (tests
        # pass a virtual clock whose sleep moves it, and so check the rate without measuring real time).
        self.clock = clock
        self._sleep = sleep
        self.stats: Counter[str] = Counter()
        self._buckets: dict[str, TokenBucket] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        # ``drain`` callers: (include_retries, future) resolved by the dispatcher once it sees nothing to do.
        self._drain_waiters: list[tuple[bool, asyncio.Future[None]]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._db_executor: ThreadPoolExecutor | None = None
        self._outcomes: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._recorder: asyncio.Task[None] | None = None

    @property
    def description(self) -> str:
        rate = f"{self.options.rate:g}/s per sender" if self.options.rate else "no rate limit"
        return f"sender: {self.gateway.describe()} ({self.options.workers} workers, {rate})"

    async def start(self) -> None:
        self._stopping.clear()
        self._executor = ThreadPoolExecutor(self.options.workers, thread_name_prefix="sms-send")
        # SQLite runs one writer at a time and its busy handler sleeps in growing steps: one thread
        # queues our claims and outcomes in order instead.
        db_threads = self.options.workers if self.db.is_postgres else 1
        self._db_executor = ThreadPoolExecutor(db_threads, thread_name_prefix="sms-db")
        self._outcomes = asyncio.Queue()
        self._recorder = asyncio.create_task(self._record_loop(), name="outbox-recorder")
        self._dispatcher = asyncio.create_task(self._dispatch(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Stop claiming rows, let in-flight sends finish and be recorded."""
        self._stopping.set()
        self._wake.set()
        if self._dispatcher is not None:
            await self._dispatcher
            self._dispatcher = None
        if self._inflight:
            log.info("sender: stopping once the %d text(s) in flight are answered", len(self._inflight))
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        if self._recorder is not None:
            self._outcomes.put_nowait(None)
            await self._recorder
            self._recorder = None
        for executor in (self._executor, self._db_executor):
            if executor is not None:
                executor.shutdown(wait=True)
        self._executor = self._db_executor = None

    def nudge(self) -> None:
        """Look at the outbox now instead of at the next poll."""
        self._wake.set()

    def bucket(self, identity: str) -> TokenBucket:
        if identity not in self._buckets:
            self._buckets[identity] = TokenBucket(self.options.rate, self.options.burst, self.clock)
        return self._buckets[identity]

    async def _dispatch(self) -> None:
        while not self._stopping.is_set():
            free = self.options.workers - len(self._inflight)
            if free <= 0:
                await self._pause(self.options.poll_interval)
                continue
            await self._claim_and_hand_over(free)

    async def _claim_and_hand_over(self, free: int) -> None:
        # Nothing in flight while the claim ran (only this coroutine starts sends) + nothing claimed =
        # this sender has nothing left; the same transaction counts the texts waiting for a retry.
        quiet = not self._inflight
        count_waiting = quiet and bool(self._drain_waiters)
        try:
            jobs, waiting = await self._db(self._claim, 1 if self.options.rate else free, count_waiting)
        except Exception:
            log.exception("sender: claiming from the outbox failed; trying again shortly")
            jobs, waiting, quiet = [], 0, False
        if not jobs:
            if quiet:
                self._release_drain_waiters(waiting)
            await self._pause(self.options.poll_interval)
            return
        for job in jobs:
            identity = job.sender or self.gateway.default_sender
            bucket = self.bucket(identity)
            delay = bucket.reserve()
            if delay > 0 and await self._wait_for_rate(delay):
                bucket.refund()
                await self._db(self._release, job)
                continue
            task = asyncio.create_task(self._send(job, identity))
            self._inflight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, or until nudged; True if the sender is stopping."""
        if self._stopping.is_set():
            return True
        waiters = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()
        return self._stopping.is_set()

    async def _wait_for_rate(self, seconds: float) -> bool:
        """Wait ``seconds`` for a token (a stop cuts it short); True if the sender is stopping."""
        if self._stopping.is_set():
            return True
        waiters = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self._sleep(seconds))]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._stopping.is_set()

    async def _db(self, work: Callable[..., T], *args: object) -> T:
        executor = self._db_executor
        if executor is None:  # not started
            return await asyncio.to_thread(work, *args)
        return await asyncio.get_running_loop().run_in_executor(executor, work, *args)

    def _claim(self, limit: int, count_waiting: bool) -> tuple[list[OutboundJob], int]:
        with self.db.session() as session:
            jobs = outbox.claim_queued(session, limit)
            waiting = outbox.pending(session, include_waiting=True) if count_waiting and not jobs else 0
            return jobs, waiting

    def _release_drain_waiters(self, waiting: int) -> None:
        still: list[tuple[bool, asyncio.Future[None]]] = []
        for include_retries, future in self._drain_waiters:
            if future.done():
                continue
            if include_retries and waiting:
                still.append((include_retries, future))
            else:
                future.set_result(None)
        self._drain_waiters = still

    def _release(self, job: OutboundJob) -> None:
        with self.db.session() as session:
            outbox.release_claimed(session, job.message_id)

    async def _send(self, job: OutboundJob, identity: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self._executor, self.gateway.send, job, identity)
        except Exception as exc:  # a gateway bug: the call may have happened, so never resend
            log.exception("sender: gateway raised for message %s", job.message_id)
            outcome = Outcome("unknown", reason=f"sender error: {exc.__class__.__name__}: {exc}")
        if outcome.kind == "retry":
            delay = self._backoff(job.attempts, outcome.retry_after)
            outcome = replace(outcome, retry_after=delay)
            if outcome.http_status == 429:
                self.bucket(identity).pause(delay)
        self.stats[outcome.kind] += 1
        recorded = asyncio.get_running_loop().create_future()
        self._outcomes.put_nowait(_Pending(job, identity, outcome, recorded))
        await recorded

    async def _record_loop(self) -> None:
        """Write outcomes in batches: one transaction for whatever finished meanwhile."""
        while True:
            first = await self._outcomes.get()
            batch = [first] if first is not None else []
            while len(batch) < RECORD_BATCH and not self._outcomes.empty():
                item = self._outcomes.get_nowait()
                if item is None:
                    first = None
                    break
                batch.append(item)
            if batch:
                await self._record_with_retries(batch)
                for item in batch:
                    item.recorded.set_result(None)
            if first is None:
                return

    async def _record_with_retries(self, batch: list[_Pending]) -> None:
        for attempt in range(5):
            try:
                await self._db(self._record, batch)
                return
            except Exception:
                log.exception("sender: recording %d outcomes failed", len(batch))
                await asyncio.sleep(0.5 * 2**attempt)
        ids = ", ".join(str(item.job.message_id) for item in batch)
        log.error("sender: messages %s stay 'sending'; the sweep will mark them unknown", ids)

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        ceiling = min(self.options.retry_cap, self.options.retry_base * 2 ** max(0, attempts - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(delay, retry_after or 0.0)

    def _record(self, batch: list[_Pending]) -> None:
        with self.db.session() as session:
            outbox.skip_flush_wait(session)
            for item in batch:
                self._record_one(session, item.job, item.identity, item.outcome)

    @staticmethod
    def _record_one(session: Session, job: OutboundJob, identity: str, outcome: Outcome) -> None:
        if outcome.kind == "sent":
            assert outcome.sid is not None
            outbox.mark_sent(session, job.message_id, outcome.sid, sender=identity)
        elif outcome.kind == "retry":
            outbox.mark_retry(
                session,
                job.message_id,
                timedelta(seconds=outcome.retry_after or 0),
                code=outcome.code,
                reason=outcome.reason,
            )
        elif outcome.kind == "failed":
            outbox.mark_failed(session, job.message_id, outcome.code, outcome.reason)
        else:
            log.warning("sender: message %s has an unknown fate: %s", job.message_id, outcome.reason)
            outbox.mark_unknown(session, job.message_id, outcome.reason)

    async def drain(self, timeout: float = 30.0, *, include_retries: bool = True) -> None:
        """Wait until this sender finds nothing to send and has nothing in flight (tests, benchmarks).

        With ``include_retries`` it also waits for texts whose retry is not due yet."""
        if self._dispatcher is None:
            raise RuntimeError("drain() needs a started sender")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append((include_retries, future))
        self.nudge()
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError("the outbox did not drain in time") from None

"""Twilio's webhooks: ``POST /twilio/sms`` (an inbound text) and ``POST /twilio/status`` (a delivery report).

Every request must carry a valid ``X-Twilio-Signature`` for ``TEXTBANK_PUBLIC_URL`` + the path (Twilio
signs the exact URL it called); anything else gets 403 and changes nothing. The database work runs in a
thread so the event loop keeps answering. An inbound text is stored before we answer: Twilio only
retries when it gets no 2xx, and a text acknowledged but not stored would be lost.

Inbound texts arriving together are stored together: one writer per database thread takes whatever is
waiting (up to ``MAX_BATCH``) and stores it in one transaction (``core.inbound.receive_inbound_batch``:
plain replies with one statement per step for the whole batch, anything else one by one); every request
is answered once that transaction has committed. If the batch fails as a
whole, each of its texts is stored again in a transaction of its own, so one bad text fails only itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from functools import partial

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot import metrics
from bot.config import Settings
from bot.web_state import db_threads_key, settings_key, work_key
from core import outbox
from core.inbound import InboundResult, InboundText, receive_inbound_batch

log = logging.getLogger(__name__)

SMS_PATH = "/twilio/sms"
STATUS_PATH = "/twilio/status"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_MEDIA = 10  # Twilio delivers at most 10 media items per MMS
EMPTY_TWIML = str(MessagingResponse()).encode()
MAX_BATCH = 32

validator_key = web.AppKey("twilio_validator", RequestValidator)
Pending = tuple[InboundText, "asyncio.Future[InboundResult]"]
inbound_queue_key = web.AppKey("twilio_inbound_queue", asyncio.Queue)
writers_key = web.AppKey("twilio_inbound_writers", list)


def add_twilio_routes(app: web.Application) -> None:
    """Register the two webhooks on ``app`` (built by ``bot.web.create_app``)."""
    settings = app[settings_key]
    if settings.twilio_auth_token:
        app[validator_key] = RequestValidator(settings.twilio_auth_token)
    app.router.add_post(SMS_PATH, inbound_sms)
    app.router.add_post(STATUS_PATH, status_callback)
    app.on_startup.append(_start_writers)
    app.on_cleanup.append(_stop_writers)


async def _start_writers(app: web.Application) -> None:
    app[inbound_queue_key] = asyncio.Queue()
    app[writers_key] = [asyncio.create_task(_write_inbound(app)) for _ in range(app[db_threads_key])]


async def _stop_writers(app: web.Application) -> None:
    # The server has answered every request by now: nothing is left waiting in the queue.
    for task in app[writers_key]:
        task.cancel()
    await asyncio.gather(*app[writers_key], return_exceptions=True)


async def _write_inbound(app: web.Application) -> None:
    queue: asyncio.Queue[Pending] = app[inbound_queue_key]
    while True:
        batch = [await queue.get()]
        while len(batch) < MAX_BATCH and not queue.empty():
            batch.append(queue.get_nowait())
        # Every writer locks contacts in the same order (by number), so two batches never deadlock.
        batch.sort(key=lambda pending: (pending[0].from_cell, pending[0].provider_sid))
        try:
            results = await app[work_key].write(partial(_receive_all, batch))
        except Exception:
            log.warning("twilio webhook: a batch of %d texts failed; storing each on its own", len(batch))
            for text, future in batch:
                try:
                    result = await app[work_key].write(partial(_receive_one, text))
                except Exception as exc:
                    _settle(future, exc)
                else:
                    _settle(future, result)
            continue
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _receive_all(batch: list[Pending], session: Session) -> list[InboundResult]:
    return receive_inbound_batch(session, [text for text, _ in batch])


def _receive_one(text: InboundText, session: Session) -> InboundResult:
    return receive_inbound_batch(session, [text])[0]


def _settle(future: asyncio.Future[InboundResult], outcome: InboundResult | Exception) -> None:
    if future.done():  # the client went away; the text is stored all the same
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class BadRequest(web.HTTPBadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(text=reason + "\n", content_type="text/plain")


async def signed_form(request: web.Request) -> MultiDictProxy[str]:
    """The request's form fields, once its content type, size and Twilio signature are right."""
    webhook = "twilio_sms" if request.path == SMS_PATH else "twilio_status"
    if request.content_type != FORM_TYPE:
        metrics.refused(webhook, "content_type")
        raise web.HTTPUnsupportedMediaType(
            text=f"send the fields as {FORM_TYPE}\n", content_type="text/plain"
        )
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        metrics.refused(webhook, "too_large")
        raise
    except (ValueError, LookupError) as exc:  # bad percent-encoding, bytes or charset
        metrics.refused(webhook, "unreadable_form")
        raise BadRequest(f"the form body could not be read: {exc}") from exc
    settings: Settings = request.app[settings_key]
    validator = request.app.get(validator_key)
    signature = request.headers.get("X-Twilio-Signature", "")
    if validator is None or not settings.public_url:
        metrics.refused(webhook, "not_configured")
        log.warning(
            "twilio webhook refused: set TWILIO_AUTH_TOKEN and TEXTBANK_PUBLIC_URL to accept webhooks"
        )
        raise web.HTTPForbidden(text="webhook signatures cannot be checked on this server\n")
    url = settings.public_url + str(request.rel_url)
    if not signature or not validator.validate(url, form, signature):
        metrics.refused(webhook, "bad_signature")
        log.warning("twilio webhook refused: bad or missing X-Twilio-Signature for %s", url)
        raise web.HTTPForbidden(text="invalid X-Twilio-Signature\n")
    return form  # type: ignore[return-value]


def required(fields: Mapping[str, str], *names: str) -> list[str]:
    missing = [name for name in names if not fields.get(name, "").strip()]
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}")
    return [fields[name].strip() for name in names]


def media_urls(fields: Mapping[str, str]) -> list[str]:
    try:
        count = int(fields.get("NumMedia", "0") or 0)
    except ValueError as exc:
        raise BadRequest("NumMedia must be a whole number") from exc
    urls = []
    for index in range(min(max(count, 0), MAX_MEDIA)):
        url = fields.get(f"MediaUrl{index}", "").strip()
        if url:
            urls.append(url)
    return urls


async def inbound_sms(request: web.Request) -> web.Response:
    fields = await signed_form(request)
    sid = (fields.get("MessageSid") or fields.get("SmsMessageSid") or "").strip()
    if not sid:
        raise BadRequest("missing field(s): MessageSid")
    from_cell, to = required(fields, "From", "To")
    body = fields.get("Body", "")
    media = media_urls(fields)
    service = fields.get("MessagingServiceSid", "").strip() or None

    stored: asyncio.Future[InboundResult] = asyncio.get_running_loop().create_future()
    text = InboundText(
        from_cell=from_cell,
        to=to,
        body=body,
        provider_sid=sid,
        media=media,
        messaging_service_sid=service,
    )
    request.app[inbound_queue_key].put_nowait((text, stored))
    if (await stored).stored:
        metrics.TEXTS_RECEIVED.inc()
    else:
        log.info("twilio webhook: %s was already stored (a retry)", sid)
    return web.Response(body=EMPTY_TWIML, content_type="text/xml", charset="utf-8")


async def status_callback(request: web.Request) -> web.Response:
    fields = await signed_form(request)
    sid, status = required(fields, "MessageSid", "MessageStatus")
    code_text = fields.get("ErrorCode", "").strip()
    try:
        code = int(code_text) if code_text else None
    except ValueError as exc:
        raise BadRequest("ErrorCode must be a whole number") from exc
    await request.app[work_key].write(
        lambda session: outbox.apply_status_callback(session, sid, status, code)
    )
    return web.Response(status=204)

"""``GET /metrics``: what whoever runs a campaign watches, in Prometheus' text format (prometheus_client).

Two kinds of figures:

- From the shared tables, read on each scrape (``BacklogCollector``): texts queued, sending and unknown in
  the outbox, notices waiting per platform. Every process answers the same, whichever one is scraped.
- This process's own counters and histograms (the default registry): texts sent and received, claim and
  click latency, webhook refusals by reason. Each process counts what it did; Prometheus sums them over
  the processes it scrapes (``sum(rate(textbank_texts_sent_total[5m]))``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from core.backlog import notices_waiting, outbox_counts
from storage import Database

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# Claims take ~10 ms, clicks (after the ack, until the card is updated) tens to hundreds of ms.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TEXTS_SENT = Counter("textbank_texts_sent", "Texts the SMS provider accepted from this process")
TEXTS_RECEIVED = Counter("textbank_texts_received", "Inbound texts this process stored (retries not counted)")
CLAIM_SECONDS = Histogram(
    "textbank_claim_seconds",
    "One claim transaction (BEGIN to COMMIT) on this process's claim thread",
    buckets=LATENCY_BUCKETS,
)
CLICK_SECONDS = Histogram(
    "textbank_click_seconds",
    "A click on a texter's card, from its arrival in the chat layer (acknowledged, the clicker known) "
    "to the card updated with the result",
    ["platform", "action"],
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_REFUSALS = Counter(
    "textbank_webhook_refusals",
    "Webhook requests refused, by webhook and reason (bad signatures, wrong content types, bad bodies)",
    ["webhook", "reason"],
)


def refused(webhook: str, reason: str) -> None:
    """Count one refused webhook request (``webhook``: twilio_sms, twilio_status, slack)."""
    WEBHOOK_REFUSALS.labels(webhook=webhook, reason=reason).inc()


class BacklogCollector(Collector):
    """Gauges read from the database on every scrape, so several processes agree."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("textbank_database_up", "1 when the scrape could read the database")
        try:
            with self.db.read() as session:
                outbox = outbox_counts(session)
                notices = notices_waiting(session)
        except Exception as exc:  # the scrape still answers: the process counters and database_up 0
            log.warning("metrics: database unreachable: %s: %s", exc.__class__.__name__, exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        texts = GaugeMetricFamily(
            "textbank_outbox_texts", "Texts in the outbox by status (all processes)", labels=["status"]
        )
        for status, count in outbox.items():
            texts.add_metric([status], count)
        yield texts
        waiting = GaugeMetricFamily(
            "textbank_notices_waiting",
            "Notices waiting for their platform's relay to post them (all processes)",
            labels=["platform"],
        )
        for platform, count in notices.items():
            waiting.add_metric([platform], count)
        yield waiting


class _Exposition(Collector):
    """This process's registry followed by the backlog read from ``db``."""

    def __init__(self, db: Database) -> None:
        self.backlog = BacklogCollector(db)

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self.backlog.collect()


def metrics_route(db: Database) -> Callable[[web.Application], None]:
    """A ``bot.web.create_app`` route hook serving ``GET /metrics`` with the backlog read from ``db``."""
    exposition = _Exposition(db)

    async def metrics(request: web.Request) -> web.Response:
        # The backlog queries run in a thread, not in the event loop.
        body = await asyncio.to_thread(generate_latest, exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def add(app: web.Application) -> None:
        app.router.add_get(METRICS_PATH, metrics)

    return add

"""``textbank run``: every configured component in one asyncio process.

A component is anything with ``name``, ``description`` (one line: what it serves and where), and async
``start``/``stop``. The runtime starts them in order, logs each one's line, waits for SIGINT/SIGTERM (or
a stop event), then stops them in reverse order: the scheduler first, then the sender (it stops claiming
and lets in-flight sends finish and be recorded), the web server last. Chat adapters join as further
components (``extra_components``) and add their HTTP routes through ``web_hooks``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from rich.console import Console

from bot.config import Settings
from bot.metrics import metrics_route
from bot.scheduler import Scheduler
from bot.twilio.client import build_client
from bot.twilio.console import ConsoleGateway
from bot.twilio.sender import Gateway, OutboxSender, SenderOptions, TwilioGateway, sender_options
from bot.twilio.webhooks import add_twilio_routes
from bot.web import RouteHook, WebServer, create_app
from storage import Database

log = logging.getLogger("textbank.run")


@runtime_checkable
class Component(Protocol):
    name: str

    @property
    def description(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Runtime:
    def __init__(self, components: Iterable[Component] = ()) -> None:
        self.components: list[Component] = list(components)
        self.started: list[Component] = []

    def add(self, component: Component) -> None:
        self.components.append(component)

    async def start(self) -> None:
        for component in self.components:
            try:
                await component.start()
            except BaseException:
                log.error("%s failed to start; stopping what already started", component.name)
                await self.stop()
                raise
            self.started.append(component)
            log.info("%s", component.description)

    async def stop(self) -> None:
        while self.started:
            component = self.started.pop()
            try:
                await component.stop()
            except Exception:
                log.exception("%s did not stop cleanly", component.name)
            else:
                log.info("%s stopped", component.name)

    async def run(self, stop: asyncio.Event | None = None, *, signals: bool = True) -> None:
        """Start everything, wait for ``stop`` (or SIGINT/SIGTERM when ``signals``), stop everything."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, _on_signal, sig, stop)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
                    pass
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("%s received: stopping (in-flight texts finish first)", sig.name)
    stop.set()


def build_gateway(settings: Settings, console: Console | None = None) -> Gateway:
    if settings.sms == "twilio":
        return TwilioGateway(build_client(settings), settings)
    return ConsoleGateway(console)


def build_runtime(
    settings: Settings,
    db: Database,
    *,
    web_hooks: Sequence[RouteHook] = (),
    extra_components: Sequence[Component] = (),
    options: SenderOptions | None = None,
    gateway: Gateway | None = None,
    host: str | None = None,
    port: int | None = None,
) -> Runtime:
    """Web server (Twilio webhooks, ``/metrics``, ``web_hooks``), sender, scheduler, ``extra_components``."""
    app = create_app(settings, db, hooks=[add_twilio_routes, metrics_route(db), *web_hooks])
    web = WebServer(app, host or settings.host, settings.port if port is None else port)
    sender = OutboxSender(db, gateway or build_gateway(settings), options or sender_options(settings))
    return Runtime([web, sender, Scheduler(db), *extra_components])

"""The one aiohttp server: Twilio's webhooks, ``GET /healthz``, and whatever routes adapters add.

``create_app(settings, db, hooks=...)`` builds the Application; each hook gets the app and adds its own
routes (the Twilio webhooks are one; the Slack adapter adds ``POST /slack/events`` the same way).
``WebServer`` runs it as a runtime component. Database work goes through ``app[work_key]``
(``bot.dbwork.DbWork``): threads of its own, so a slow query never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from aiohttp import web
from sqlalchemy import text

from bot.config import Settings
from bot.dbwork import DbWork
from bot.twilio.webhooks import add_twilio_routes
from bot.web_state import db_key, db_threads_key, settings_key, work_key
from storage import Database

__all__ = ["RouteHook", "WebServer", "create_app", "db_key", "settings_key", "work_key"]

log = logging.getLogger(__name__)

T = TypeVar("T")
RouteHook = Callable[[web.Application], None]

MAX_BODY = 64 * 1024
DB_THREADS = 8
HEALTH_TIMEOUT = 5.0


def create_app(
    settings: Settings,
    db: Database,
    hooks: Iterable[RouteHook] | None = None,
    *,
    max_body: int = MAX_BODY,
    db_threads: int | None = None,
) -> web.Application:
    """The Application with ``/healthz`` and the routes of ``hooks`` (default: the Twilio webhooks).

    Bodies over ``max_body`` bytes are refused with 413 before they are read. ``db_threads`` defaults to
    one on SQLite (it runs one writer at a time, and writers queued in its busy handler sleep in growing
    steps, so a FIFO of one thread is faster and fairer) and ``DB_THREADS`` on PostgreSQL.
    """
    if db_threads is None:
        db_threads = DB_THREADS if db.is_postgres else 1
    app = web.Application(client_max_size=max_body)
    app[settings_key] = settings
    app[db_key] = db
    app[db_threads_key] = db_threads
    app[work_key] = DbWork(db, threads=db_threads, name="web-db")
    app.router.add_get("/healthz", healthz)
    for hook in (add_twilio_routes,) if hooks is None else hooks:
        hook(app)
    app.on_cleanup.append(_shutdown_executor)
    return app


async def _shutdown_executor(app: web.Application) -> None:
    app[work_key].close(wait=True)


async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(
            request.app[work_key].read(lambda session: session.execute(text("SELECT 1")).scalar()),
            HEALTH_TIMEOUT,
        )
    except Exception as exc:
        log.warning("healthz: database unreachable: %s: %s", exc.__class__.__name__, exc)
        return web.json_response(
            {"ok": False, "database": f"unreachable: {exc.__class__.__name__}"}, status=503
        )
    return web.json_response({"ok": True, "database": "ok"})


class WebServer:
    """The aiohttp server as a runtime component."""

    name = "web"

    def __init__(self, app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> None:
        self.app = app
        self.host = host
        self.port = port
        # Several processes may listen on one port (the kernel spreads connections over them).
        self.reuse_port = reuse_port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def description(self) -> str:
        routes = sorted(
            {
                f"{route.method} {route.resource.canonical}"
                for route in self.app.router.routes()
                if route.resource
            }
            - {"HEAD /healthz"}
        )
        public = (
            self.app[settings_key].public_url or "(TEXTBANK_PUBLIC_URL unset: Twilio webhooks are refused)"
        )
        return f"web: listening on {self.url}, public URL {public}; routes {', '.join(routes)}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_port=self.reuse_port or None)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

"""The Slack app: slack-bolt's AsyncApp over textbank's core, and its place in ``textbank run``.

``build_app`` wires every handler. ``SlackComponent`` runs it: Socket Mode when ``SLACK_APP_TOKEN`` is set,
else ``POST /slack/events`` on the shared aiohttp web server (``add_routes``), plus the relay worker that
posts core's notices into texters' threads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import ClientSession, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.relay import RelayWorker
from bot.config import Settings
from bot.slack import actions, commands, events, home, modals
from bot.slack.deps import DEFAULT_API_URL, SlackDeps, make_client
from bot.slack.requests import BadRequest, payload_problem, read_request
from core.errors import Refused
from storage.engine import Database

log = logging.getLogger("textbank.slack")
# Errors of apps.connections.open worth waiting out (Slack's side); any other error is the token's fault.
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})

__all__ = ["DEFAULT_API_URL", "SlackComponent", "SlackDeps", "build_app", "make_client", "runtime_parts"]


def build_app(
    db: Database,
    settings: Settings,
    *,
    client: AsyncWebClient | None = None,
    process_before_response: bool = False,
) -> AsyncApp:
    """The Bolt app with every textbank handler registered (``app.textbank_deps`` holds the shared pieces)."""
    client = client or make_client(settings.slack_bot_token, settings.slack_api_url)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        process_before_response=process_before_response,
        name="textbank",
    )
    deps = SlackDeps(db=db, settings=settings, client=client)
    commands.register(app, deps)
    modals.register(app, deps)
    actions.register(app, deps)
    home.register(app, deps)
    events.register(app, deps)

    @app.middleware
    async def unreadable_over_the_socket(req: AsyncBoltRequest, next: Any) -> BoltResponse:
        """Socket Mode payloads get the checks of the HTTP entry (bot/slack/requests.py); one it cannot
        read is acked plainly (Slack would only send it again) and logged in one line."""
        if req.mode == "socket_mode":
            problem = payload_problem(req.body)
            if problem is not None:
                log.warning("slack: ignored a Socket Mode request: %s", problem)
                return BoltResponse(status=200, body="")
        return await next()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("slack handler failed for %s", body.get("type") or body.get("command"), exc_info=error)

    app.textbank_deps = deps  # type: ignore[attr-defined]
    return app


def events_handler(app: AsyncApp, signing_secret: str = "") -> Any:
    """The aiohttp handler for ``POST /slack/events`` (Bolt checks the signature: 401 when it is wrong).

    A body Bolt or textbank cannot read (bot/slack/requests.py) is answered 400 with one log line, once
    its signature is checked (401 when it is wrong, as Bolt would answer); a body that is not UTF-8 cannot
    carry a Slack signature at all and is answered 400 at once.
    """
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def forged(raw: bytes, headers: Mapping[str, str]) -> bool:
        if not _readable_timestamp(headers):
            return True
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return False  # unverifiable (slack_sdk signs text), and 400 whoever sent it
        return verifier is not None and not verifier.is_valid_request(raw, headers)

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            bolt_request = read_request(raw, request.headers, request.query_string)
        except BadRequest as exc:
            if forged(raw, request.headers):
                return web.json_response({"error": "invalid request"}, status=401)
            log.warning("slack: refused a request with HTTP 400: %s", exc.reason)
            return web.Response(status=400, text=f"bad request: {exc.reason}")
        if not _readable_timestamp(request.headers):
            return web.json_response({"error": "invalid request"}, status=401)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    return handle


def _readable_timestamp(headers: Mapping[str, str]) -> bool:
    """Whether X-Slack-Request-Timestamp is a number: slack_sdk's verifier raises reading anything else."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "0")
    return timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 20


def add_routes(web_app: web.Application, app: AsyncApp, signing_secret: str = "") -> None:
    web_app.router.add_post("/slack/events", events_handler(app, signing_secret))


class SlackComponent:
    """One part of ``textbank run``: the Slack app (Socket Mode or HTTP) and its relay worker."""

    name = "slack"

    def __init__(self, db: Database, settings: Settings, *, app: AsyncApp | None = None) -> None:
        self.settings = settings
        self.app = app or build_app(db, settings)
        self.deps: SlackDeps = self.app.textbank_deps  # type: ignore[attr-defined]
        self._socket: Any = None
        self._http: ClientSession | None = None
        self._relay: RelayWorker | None = None

    @property
    def socket_mode(self) -> bool:
        return bool(self.settings.slack_app_token)

    def add_routes(self, web_app: web.Application) -> None:
        """Serve ``POST /slack/events`` on the shared web app (HTTP mode; harmless in Socket Mode)."""
        add_routes(web_app, self.app, self.settings.slack_signing_secret)

    @property
    def description(self) -> str:
        mode = "Socket Mode" if self.socket_mode else "HTTP on POST /slack/events"
        api = self.settings.slack_api_url or DEFAULT_API_URL
        return f"slack: {mode}, Web API {api}, relay worker for Slack notices"

    async def start(self) -> None:
        if self.deps.client.session is None:
            # One HTTP session for every Web API call: without it slack_sdk opens a connection (TCP and
            # TLS) per call, which was ~30% of the relay's time posting a burst of replies.
            self._http = ClientSession()
            self.deps.client.session = self._http
        if self.socket_mode:
            await self._connect_socket()
        self._relay = RelayWorker(self.deps.chat.threads)
        self._relay.start()

    async def _connect_socket(self) -> None:
        """Open the Socket Mode connection, failing at once when Slack refuses SLACK_APP_TOKEN.

        slack_sdk's ``connect()`` retries every error every 10 s until it connects, so a wrong, revoked or
        bot (xoxb-) token would hold ``textbank run`` in start forever, where SIGTERM cannot reach it. So
        the first ``apps.connections.open`` is asked here (through the app's client: ``SLACK_API_URL``):
        Slack's answer to a bad token is a refusal, and a Slack outage is left to the SDK's retries.
        """
        handler = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
        try:
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
        except SlackApiError as exc:
            error = exc.response.get("error")
            if exc.response.status_code < 500 and error not in TRANSIENT_ERRORS:
                await handler.close_async()
                raise Refused(
                    f"Slack refused SLACK_APP_TOKEN for Socket Mode ({error}): use the app-level token "
                    "(xapp-...) with the connections:write scope, from the app's Basic Information page"
                ) from exc
            log.warning("Slack did not open a Socket Mode connection (%s): retrying", error)
        except Exception as exc:  # Slack unreachable: the SDK keeps trying, as on any later reconnect
            log.warning("Slack did not open a Socket Mode connection (%s): retrying", exc)
        except BaseException:
            await handler.close_async()
            raise
        self._socket = handler
        await handler.connect_async()

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
        if self._socket is not None:
            await self._socket.close_async()
        for task in list(self.deps.background):
            task.cancel()
        if self._http is not None:
            self.deps.client.session = None
            await self._http.close()
            self._http = None


def runtime_parts(db: Database, settings: Settings) -> tuple[list[Any], list[SlackComponent]]:
    """What ``textbank run`` adds for Slack: (web route hooks, components); both empty without a bot token.

    HTTP mode adds ``POST /slack/events`` to the shared web server; Socket Mode needs no route.
    """
    if not settings.slack_bot_token:
        return [], []
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise Refused(
            "SLACK_BOT_TOKEN is set without SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET "
            "(HTTP mode): set one of them"
        )
    component = SlackComponent(db, settings)
    hooks = [] if component.socket_mode else [component.add_routes]
    return hooks, [component]

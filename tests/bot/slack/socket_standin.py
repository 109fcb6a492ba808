"""A local stand-in for Slack's Socket Mode, on top of the Web API stand-in.

Slack's Socket Mode has two halves, and so does this stand-in:

- the Web API method ``apps.connections.open`` (served by ``SlackStandIn``'s ``/api/{method}`` route, so
  it is reached through the same ``SLACK_API_URL`` as every other method). It must be called with the
  app-level token (``xapp-...``) in the Authorization header; it answers a one-use websocket URL,
  ``ws://127.0.0.1:PORT/link/?ticket=...&app_id=...``, as Slack answers ``wss://wss-primary.slack.com/...``.
  A wrong token gets ``invalid_auth``, a bot token ``not_allowed_token_type``, like Slack.
- the websocket, on its own server (Slack's is on another host too). On connect it sends ``hello``; the
  test then pushes envelopes (``slash_commands``, ``interactive``, ``events_api``) or a ``disconnect``
  message, and every text frame the app sends back is recorded as an ack (``{"envelope_id": ...}``, with
  an optional ``payload``). Pings are answered with pongs (aiohttp's autoping), as Slack does.

Envelope payloads are built from the same helpers as the HTTP tests (``slash_body`` and friends), so a
command sent over the socket carries exactly the fields the HTTP form carries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from aiohttp import WSCloseCode, WSMsgType, web

from tests.bot.slack.standin import (
    Call,
    SlackStandIn,
    block_actions_body,
    event_body,
    slash_body,
    view_submission_body,
)

APP_TOKEN = "xapp-1-A0APP-1-test-app-token"
APP_ID = "A0APP"


@dataclass
class Ack:
    """One frame the app sent on the websocket: an ack of ``envelope_id``, maybe with a payload."""

    envelope_id: str
    payload: dict[str, Any] | None
    raw: str


@dataclass
class Connection:
    """One websocket the app opened, from the server's side."""

    ticket: str
    ws: web.WebSocketResponse
    received: list[str] = field(default_factory=list)
    # Set when the socket is gone. closed_by: "server" when the stand-in closed it, else "app" (the app's
    # CLOSE frame gives close_code 1000; a dropped TCP connection gives 1006, ABNORMAL_CLOSURE).
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    closed_by: str = ""
    close_code: int | None = None


@dataclass
class SocketModeStandIn(SlackStandIn):
    app_token: str = APP_TOKEN
    connections: list[Connection] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    tickets: dict[str, bool] = field(default_factory=dict)  # issued ticket -> already used
    refused_handshakes: int = 0
    ws_root: str = ""
    _ws_runner: web.AppRunner | None = None
    _envelope_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _socket_changed: asyncio.Event = field(default_factory=asyncio.Event)

    # --- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> SocketModeStandIn:
        await super().start()
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._ws_runner = web.AppRunner(app, access_log=None)
        await self._ws_runner.setup()
        site = web.TCPSite(self._ws_runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ws_root = f"ws://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for connection in self.connections:
            if not connection.ws.closed:
                await self.close_from_server(connection)
        if self._ws_runner is not None:
            await self._ws_runner.cleanup()
        await super().stop()

    # --- apps.connections.open -----------------------------------------------------------------------------

    def _m_apps_connections_open(self, call: Call) -> dict[str, Any]:
        auth = call.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or not token:
            return {"ok": False, "error": "not_authed"}
        if token.startswith("xoxb-") or token.startswith("xoxp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = uuid.uuid4().hex
        self.tickets[ticket] = False
        return {"ok": True, "url": f"{self.ws_root}/link/?ticket={ticket}&app_id={APP_ID}"}

    # --- the websocket --------------------------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if self.tickets.get(ticket, True):  # unknown or already used: Slack refuses the upgrade
            self.refused_handshakes += 1
            self._notify()
            return web.Response(status=401, text="invalid ticket")
        self.tickets[ticket] = True
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = Connection(ticket, ws)
        self.connections.append(connection)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(1 for c in self.connections if not c.closed.is_set()),
                "debug_info": {
                    "host": "applink-standin",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        self._notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    connection.received.append(message.data)
                    frame = json.loads(message.data)
                    self.acks.append(
                        Ack(str(frame.get("envelope_id", "")), frame.get("payload"), message.data)
                    )
                    self._notify()
        finally:
            # aiohttp answers the app's CLOSE frame itself and ends the loop; close_from_server marks
            # its own closes before closing.
            if not connection.closed_by:
                connection.closed_by = "app"
            connection.close_code = ws.close_code
            connection.closed.set()
            self._notify()
        return ws

    def _notify(self) -> None:
        self._socket_changed.set()

    # --- pushing -------------------------------------------------------------------------------------------

    @property
    def current(self) -> Connection:
        """The newest open connection (Slack sends each envelope on one of the app's connections)."""
        for connection in reversed(self.connections):
            if not connection.closed.is_set() and not connection.ws.closed:
                return connection
        raise AssertionError(f"the app has no open Socket Mode connection ({len(self.connections)} closed)")

    async def push(self, envelope: dict[str, Any], connection: Connection | None = None) -> str:
        """Send an envelope (or any message) to the app; returns its envelope_id ("" if it has none)."""
        await (connection or self.current).ws.send_str(json.dumps(envelope))
        return str(envelope.get("envelope_id", ""))

    async def disconnect(self, reason: str = "refresh_requested") -> Connection:
        """Ask the app to reconnect, as Slack does before it retires a connection; returns that connection."""
        connection = self.current
        await self.push({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-standin"}})
        return connection

    async def close_from_server(self, connection: Connection) -> None:
        connection.closed_by = "server"
        await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"refresh")

    def next_envelope_id(self) -> str:
        return f"env-{next(self._envelope_ids)}-{uuid.uuid4().hex[:8]}"

    # --- waiting --------------------------------------------------------------------------------------------

    async def wait_until(self, what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Wait (at most ``timeout`` seconds) until ``check()`` returns something truthy, and return it."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{what} did not happen within {timeout}s")
            self._socket_changed.clear()
            try:
                await asyncio.wait_for(self._socket_changed.wait(), min(left, 0.2))
            except TimeoutError:
                pass

    async def wait_connections(self, count: int, timeout: float = 60.0) -> list[Connection]:
        return await self.wait_until(
            f"{count} Socket Mode connection(s)",
            lambda: self.connections if len(self.connections) >= count else None,
            timeout,
        )

    async def wait_ack(self, envelope_id: str, timeout: float = 60.0) -> Ack:
        def found() -> Ack | None:
            return next((a for a in self.acks if a.envelope_id == envelope_id), None)

        return await self.wait_until(f"the ack of {envelope_id}", found, timeout)

    async def wait_closed(self, connection: Connection, timeout: float = 60.0) -> Connection:
        await self.wait_until("the websocket closing", connection.closed.is_set, timeout)
        return connection


# --- envelopes as Slack sends them --------------------------------------------------------------------------


def _interactive_payload(form_body: str) -> dict[str, Any]:
    return json.loads(parse_qs(form_body)["payload"][0])


def slash_envelope(envelope_id: str, text: str, *, user_id: str, **kwargs: Any) -> dict[str, Any]:
    """A ``slash_commands`` envelope: the same fields Slack posts as a form in HTTP mode."""
    payload = dict(parse_qsl(slash_body(text, user_id=user_id, **kwargs), keep_blank_values=True))
    payload.update({"is_enterprise_install": "false", "api_app_id": APP_ID})
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": payload,
    }


def block_actions_envelope(
    envelope_id: str, action: dict[str, Any], *, user_id: str, **kwargs: Any
) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "interactive",
        "accepts_response_payload": False,
        "payload": _interactive_payload(block_actions_body(action, user_id=user_id, **kwargs)),
    }


def view_submission_envelope(
    envelope_id: str, view: dict[str, Any], values: dict[str, Any], *, user_id: str
) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "interactive",
        "accepts_response_payload": True,  # the ack may carry response_action (errors, update, ...)
        "payload": _interactive_payload(view_submission_body(view, values, user_id=user_id)),
    }


def events_api_envelope(envelope_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": json.loads(event_body(event)),
    }

"""``textbank run`` with SLACK_APP_TOKEN: the Slack app over Socket Mode, against a local stand-in.

The runtime is built as ``textbank run`` builds it (``runtime_parts`` + ``build_runtime``), with
SLACK_API_URL pointing at the stand-in: the real slack-bolt ``AsyncSocketModeHandler`` asks
``apps.connections.open`` for a websocket URL, connects, and every envelope the stand-in pushes must come
back acked with its envelope_id and do what the same request does over HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode

from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.slack.app import SlackComponent, runtime_parts
from bot.twilio.console import ConsoleGateway
from core.errors import Refused
from storage import Database
from tests.bot.slack.conftest import ADMIN, TEXTER, TEXTER2, Driver
from tests.bot.slack.socket_standin import (
    APP_TOKEN,
    Ack,
    SocketModeStandIn,
    block_actions_envelope,
    events_api_envelope,
    slash_envelope,
    view_submission_envelope,
)
from tests.bot.slack.standin import BOT_TOKEN, Call
from tests.bot.slack.test_admin import CAMPAIGN_YAML, CONTACTS_CSV


@pytest.fixture
async def slack() -> AsyncIterator[SocketModeStandIn]:
    """Overrides conftest's Web API stand-in with one that also speaks Socket Mode (same Web API)."""
    standin = await SocketModeStandIn().start()
    standin.add_user(ADMIN, "Ada Admin")
    standin.add_user(TEXTER, "Tess Texter")
    standin.add_user(TEXTER2, "Theo Texter")
    yield standin
    await standin.stop()


@pytest.fixture
def socket_settings(settings: Settings) -> Settings:
    # No signing secret: nothing is signed on the socket, and Socket Mode must not need one.
    return dataclasses.replace(settings, slack_app_token=APP_TOKEN, slack_signing_secret="")


def textbank_run(db: Database, settings: Settings) -> tuple[Runtime, SlackComponent]:
    """The runtime ``textbank run`` builds for these settings (console SMS, any free port)."""
    hooks, components = runtime_parts(db, settings)
    runtime = build_runtime(
        settings, db, web_hooks=hooks, extra_components=components, gateway=ConsoleGateway(), port=0
    )
    return runtime, components[0]


class SocketDriver:
    """Pushes envelopes into the running app as Slack would, and waits for each one's ack."""

    def __init__(self, runtime: Runtime, component: SlackComponent, slack: SocketModeStandIn) -> None:
        self.runtime = runtime
        self.component = component
        self.slack = slack

    async def send(self, envelope: dict[str, Any]) -> Ack:
        return await self.slack.wait_ack(await self.slack.push(envelope))

    async def command(self, user_id: str, text: str, channel_id: str = "C0CHAN") -> Ack:
        envelope_id = self.slack.next_envelope_id()
        return await self.send(
            slash_envelope(
                envelope_id,
                text,
                user_id=user_id,
                channel_id=channel_id,
                response_url=self.slack.response_url(user_id),
            )
        )

    async def click(self, user_id: str, action: dict[str, Any], **kwargs: Any) -> Ack:
        kwargs.setdefault("response_url", self.slack.response_url(user_id))
        envelope_id = self.slack.next_envelope_id()
        return await self.send(block_actions_envelope(envelope_id, action, user_id=user_id, **kwargs))

    async def submit(self, user_id: str, view: dict[str, Any], values: dict[str, Any]) -> Ack:
        envelope_id = self.slack.next_envelope_id()
        return await self.send(view_submission_envelope(envelope_id, view, values, user_id=user_id))

    def _answers(self, user_id: str) -> list[Call]:
        return [c for c in self.slack.of("respond") if c.path.endswith("/" + user_id)]

    async def responses(self, user_id: str, count: int) -> list[str]:
        """The first ``count`` answers posted to ``user_id``'s response_url, waiting for them."""
        await self.slack.wait_until(
            f"{count} answers to {user_id}", lambda: len(self._answers(user_id)) >= count
        )
        return [c.text_dump() for c in self._answers(user_id)[:count]]

    async def ask(self, user_id: str, text: str, channel_id: str = "C0CHAN") -> str:
        """A command answered through response_url: send it, check the plain ack, wait for the answer.

        The ack comes before the work is done, so the next command must wait for this answer, or the
        two run side by side (a texter entering before the admin would own the workspace).
        """
        before = len(self._answers(user_id))
        assert acked_plainly(await self.command(user_id, text, channel_id))
        return (await self.responses(user_id, before + 1))[-1]


@pytest.fixture
async def running(
    db: Database, socket_settings: Settings, slack: SocketModeStandIn
) -> AsyncIterator[SocketDriver]:
    runtime, component = textbank_run(db, socket_settings)
    await runtime.start()
    try:
        yield SocketDriver(runtime, component, slack)
    finally:
        await runtime.stop()


def file_values(file: dict[str, Any]) -> dict[str, Any]:
    return {"file": {"v": {"type": "file_input", "files": [file]}}}


def acked_plainly(ack: Ack) -> bool:
    """The ack Bolt sends for an empty ``ack()``: exactly ``{"envelope_id": ...}``."""
    return json.loads(ack.raw) == {"envelope_id": ack.envelope_id} and ack.payload is None


# --- connecting ---------------------------------------------------------------------------------------------


async def test_socket_mode_opens_the_connection_with_the_app_token_through_slack_api_url(
    running: SocketDriver, slack: SocketModeStandIn
) -> None:
    [opened] = slack.of("apps.connections.open")
    # The stand-in is reached through SLACK_API_URL, and the token sent is the app-level one.
    assert opened.path == "/api/apps.connections.open"
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    [connection] = await slack.wait_connections(1)
    assert slack.tickets == {connection.ticket: True} and slack.refused_handshakes == 0
    assert not connection.closed.is_set()
    assert "Socket Mode" in running.component.description
    # Socket Mode adds no /slack/events route to the shared web server.
    web = running.runtime.components[0]
    async with aiohttp.ClientSession() as http:
        async with http.post(web.url + "/slack/events", data="x") as response:  # type: ignore[attr-defined]
            assert response.status == 404


async def test_http_mode_opens_no_socket(db: Database, settings: Settings, slack: SocketModeStandIn) -> None:
    runtime, component = textbank_run(db, settings)
    await runtime.start()
    try:
        assert not component.socket_mode and "POST /slack/events" in component.description
    finally:
        await runtime.stop()
    # start() returns only once a Socket Mode connection is up, so none was even asked for.
    assert slack.of("apps.connections.open") == [] and slack.connections == []


# --- envelopes ----------------------------------------------------------------------------------------------


async def test_help_over_the_socket_is_acked_and_answers_as_http_mode_does(
    running: SocketDriver, driver: Driver, slack: SocketModeStandIn
) -> None:
    ack = await running.command(ADMIN, "help")
    assert acked_plainly(ack)  # the answer goes to response_url, not into the ack
    over_socket = await slack.wait_for("respond")
    assert over_socket.path == f"/respond/{ADMIN}"
    assert "campaign new" in over_socket.text_dump()  # the first user owns the workspace
    # The same command over HTTP (signed, POST /slack/events) gives the very same answer.
    response = await driver.command(ADMIN, "help")
    assert response.status == 200
    [first, over_http] = await slack.wait_count("respond", 2)
    assert first is over_socket and over_http.body == over_socket.body


async def test_a_texter_is_refused_admin_commands_over_the_socket(
    running: SocketDriver, slack: SocketModeStandIn
) -> None:
    assert "campaign new" in await running.ask(ADMIN, "help")
    for text in ("campaign new", 'launch "Test Drive"', "optout 2125550199"):
        answer = await running.ask(TEXTER, text)
        assert "only an admin can do that" in answer, (text, answer)
    assert slack.of("views.open") == []


async def test_view_submissions_and_block_actions_reach_their_handlers(
    running: SocketDriver, slack: SocketModeStandIn
) -> None:
    await running.ask(ADMIN, "help")
    await running.command(ADMIN, "campaign apply")
    view = (await slack.wait_for("views.open")).view
    # A bad file: the modal's errors travel back in the ack's payload (accepts_response_payload).
    bad = slack.add_file("bad.yaml", b"title: [unclosed\n")
    refused = await running.submit(ADMIN, view, file_values(bad))
    assert refused.payload is not None and refused.payload["response_action"] == "errors"
    assert set(refused.payload["errors"]) == {"file"}
    good = slack.add_file("campaign.yaml", CAMPAIGN_YAML.encode())
    assert acked_plainly(await running.submit(ADMIN, view, file_values(good)))
    await slack.wait_for("chat.postMessage", lambda c: "Created *Test Drive*" in c.text_dump())

    await running.command(ADMIN, 'contacts "Test Drive"')
    view = (await slack.wait_count("views.open", 2))[-1].view
    contacts = slack.add_file("contacts.csv", CONTACTS_CSV.encode())
    assert acked_plainly(await running.submit(ADMIN, view, file_values(contacts)))
    await slack.wait_for(
        "chat.update", lambda c: "Imported" in c.text_dump() or "not imported" in c.text_dump()
    )
    assert "is launched" in await running.ask(ADMIN, 'launch "Test Drive"')
    await running.command(ADMIN, 'link initials "Test Drive"', channel_id="C0VOL")
    join = await slack.wait_for("chat.postMessage", lambda c: c.body.get("channel") == "C0VOL")
    button = join.blocks[1]["elements"][0]
    assert button["action_id"] == "tb_join"

    # block_actions: the texter clicks Join in the channel.
    ack = await running.click(TEXTER, {"action_id": "tb_join", "value": button["value"]}, channel_id="C0VOL")
    assert acked_plainly(ack)
    [joined] = await running.responses(TEXTER, 1)
    assert "You joined *Test Drive*" in joined
    await slack.wait_for("chat.postMessage", lambda c: c.body.get("channel") == "D" + TEXTER)


async def test_an_event_over_the_socket_is_acked_and_handled(
    running: SocketDriver, slack: SocketModeStandIn
) -> None:
    envelope_id = slack.next_envelope_id()
    event = {"type": "app_home_opened", "user": ADMIN, "channel": "D0HOME", "tab": "home"}
    assert acked_plainly(await running.send(events_api_envelope(envelope_id, event)))
    published = await slack.wait_for("views.publish")
    assert published.body["user_id"] == ADMIN


# --- the connection's life ----------------------------------------------------------------------------------


async def test_a_disconnect_message_makes_the_app_reconnect_with_a_new_url(
    running: SocketDriver, slack: SocketModeStandIn
) -> None:
    old = await slack.disconnect("refresh_requested")
    await slack.wait_connections(2)
    await slack.wait_closed(old)
    assert old.closed_by == "app"
    opened = slack.of("apps.connections.open")
    assert len(opened) == 2 and all(c.headers["Authorization"] == f"Bearer {APP_TOKEN}" for c in opened)
    assert slack.refused_handshakes == 0  # each connection used a fresh ticket
    assert "campaign new" in await running.ask(ADMIN, "help")
    assert slack.acks[-1].raw in slack.connections[1].received


async def test_a_connection_slack_closes_is_replaced(running: SocketDriver, slack: SocketModeStandIn) -> None:
    [first] = await slack.wait_connections(1)
    await slack.close_from_server(first)
    await slack.wait_connections(2)
    assert len(slack.of("apps.connections.open")) == 2
    assert "campaign new" in await running.ask(ADMIN, "help")
    assert slack.acks[-1].raw in slack.connections[1].received


async def test_stopping_closes_the_websocket_cleanly(
    running: SocketDriver, slack: SocketModeStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    [connection] = await slack.wait_connections(1)
    assert "campaign new" in await running.ask(ADMIN, "help")
    client = running.component._socket.client
    with caplog.at_level(logging.INFO, logger="textbank.run"):
        await running.runtime.stop()
    assert "slack stopped" in caplog.messages and not any("did not stop" in m for m in caplog.messages)
    await slack.wait_closed(connection)
    # The app said goodbye (a normal CLOSE frame), rather than dropping the TCP connection.
    assert connection.closed_by == "app" and connection.close_code == WSCloseCode.OK
    assert client.closed and client.aiohttp_client_session.closed
    # Nothing of the socket client is left running that could reconnect or read.
    for task in (client.message_processor, client.message_receiver, client.current_session_monitor):
        assert task is None or task.done(), task
    assert len(slack.of("apps.connections.open")) == 1 and len(slack.connections) == 1


# --- bad tokens and outages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "error"), [("xapp-1-A0APP-1-revoked", "invalid_auth"), (BOT_TOKEN, "not_allowed_token_type")]
)
async def test_a_token_slack_refuses_fails_start_instead_of_retrying_forever(
    db: Database, socket_settings: Settings, slack: SocketModeStandIn, token: str, error: str
) -> None:
    runtime, component = textbank_run(db, dataclasses.replace(socket_settings, slack_app_token=token))
    # Before the fix the SDK retried every 10 s forever; the bound turns that hang into a failure.
    with pytest.raises(Refused, match=f"SLACK_APP_TOKEN.*{error}"):
        await asyncio.wait_for(runtime.start(), timeout=10)
    assert runtime.started == []  # what had started (web, sender, scheduler) was stopped again
    assert len(slack.of("apps.connections.open")) == 1 and slack.connections == []
    assert component._socket is None


async def test_a_slack_outage_at_start_is_waited_out(
    db: Database, socket_settings: Settings, slack: SocketModeStandIn
) -> None:
    failures = [{"ok": False, "error": "internal_error"}]

    def once_down(call: Call) -> dict[str, Any]:
        return failures.pop() if failures else slack._m_apps_connections_open(call)

    slack.overrides["apps.connections.open"] = once_down
    runtime, component = textbank_run(db, socket_settings)
    # Slack's own failure is no reason to refuse the token: the SDK asks again (here at once) and connects.
    await asyncio.wait_for(runtime.start(), timeout=10)
    try:
        assert len(slack.of("apps.connections.open")) == 2
        await slack.wait_connections(1)
        assert component._socket is not None and component in runtime.started
    finally:
        await runtime.stop()


async def test_an_envelope_textbank_cannot_read_is_acked_and_logged_once(
    running: SocketDriver, slack: SocketModeStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = slash_envelope(slack.next_envelope_id(), "help", user_id=ADMIN, response_url="http://x/y")
    del envelope["payload"]["user_id"]
    caplog.clear()
    assert acked_plainly(await running.send(envelope))
    assert [r.getMessage() for r in caplog.records if r.name == "textbank.slack"] == [
        "slack: ignored a Socket Mode request: the slash command has no user_id"
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert slack.of("respond") == []

"""The Slack component inside ``textbank run``'s runtime: HTTP mode on the shared web server."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest

from bot.config import Settings
from bot.runtime import Component, build_runtime
from bot.slack.app import SlackComponent, runtime_parts
from bot.twilio.console import ConsoleGateway
from core.errors import Refused
from storage import Database
from tests.bot.slack.conftest import ADMIN
from tests.bot.slack.standin import SlackStandIn, signed_headers, slash_body


async def test_http_mode_serves_slack_events_on_the_shared_server(
    db: Database, settings: Settings, slack: SlackStandIn
) -> None:
    hooks, components = runtime_parts(db, settings)
    assert len(hooks) == 1 and isinstance(components[0], Component)
    assert "POST /slack/events" in components[0].description
    runtime = build_runtime(
        settings, db, web_hooks=hooks, extra_components=components, gateway=ConsoleGateway(), port=0
    )
    await runtime.start()
    try:
        url = runtime.components[0].url + "/slack/events"
        body = slash_body("help", user_id=ADMIN, response_url=slack.response_url(ADMIN))
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=body, headers=signed_headers(body)) as ok:
                assert ok.status == 200
            async with http.post(url, data=body, headers=signed_headers(body, secret="wrong")) as forged:
                assert forged.status == 401
        assert "campaign new" in (await slack.wait_for("respond")).text_dump()
        # Every Web API call of the running app goes over one HTTP session (kept-alive connections).
        client = components[0].deps.client
        session = client.session
        assert isinstance(session, aiohttp.ClientSession) and not session.closed
        await client.chat_postMessage(channel="D1", text="one")
        await client.chat_postMessage(channel="D1", text="two")
        assert client.session is session
    finally:
        await runtime.stop()
    assert session.closed and components[0].deps.client.session is None


def test_socket_mode_needs_no_route_and_slack_is_optional(db: Database, settings: Settings) -> None:
    hooks, components = runtime_parts(db, dataclasses.replace(settings, slack_app_token="xapp-1"))
    assert hooks == [] and isinstance(components[0], SlackComponent) and components[0].socket_mode
    assert runtime_parts(db, dataclasses.replace(settings, slack_bot_token="")) == ([], [])
    with pytest.raises(Refused, match="SLACK_SIGNING_SECRET"):
        runtime_parts(db, dataclasses.replace(settings, slack_signing_secret=""))

"""Fixtures for the Slack adapter: the Web API stand-in, the Bolt app over a test database, dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.config import Settings
from bot.slack.app import build_app, make_client
from storage import Database
from tests.bot.slack.standin import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackStandIn,
    block_actions_body,
    signed_headers,
    slash_body,
    view_submission_body,
)

ADMIN = "U0ADMIN"
TEXTER = "U0TEXTER"
TEXTER2 = "U0TEXTER2"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = await SlackStandIn().start()
    standin.add_user(ADMIN, "Ada Admin")
    standin.add_user(TEXTER, "Tess Texter")
    standin.add_user(TEXTER2, "Theo Texter")
    yield standin
    await standin.stop()


@pytest.fixture
def settings(db_url: str, slack: SlackStandIn) -> Settings:
    return Settings(
        database_url=db_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
    )


class Driver:
    """Sends signed requests into the app as Slack would, and reads what the app did."""

    def __init__(self, app: AsyncApp, slack: SlackStandIn, db: Database) -> None:
        self.app = app
        self.slack = slack
        self.db = db

    async def dispatch(
        self, body: str, content_type: str = "application/x-www-form-urlencoded", **header_kwargs: Any
    ) -> BoltResponse:
        headers = signed_headers(body, content_type=content_type, **header_kwargs)
        return await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))

    async def command(self, user_id: str, text: str, channel_id: str = "C0CHAN") -> BoltResponse:
        return await self.dispatch(
            slash_body(
                text, user_id=user_id, channel_id=channel_id, response_url=self.slack.response_url(user_id)
            )
        )

    async def click(self, user_id: str, action: dict[str, Any], **kwargs: Any) -> BoltResponse:
        kwargs.setdefault("response_url", self.slack.response_url(user_id))
        return await self.dispatch(block_actions_body(action, user_id=user_id, **kwargs))

    async def submit(self, user_id: str, view: dict[str, Any], values: dict[str, Any]) -> BoltResponse:
        return await self.dispatch(view_submission_body(view, values, user_id=user_id))

    def responses(self, user_id: str) -> list[str]:
        """Everything ``respond`` sent back to ``user_id`` (text and blocks), oldest first."""
        return [c.text_dump() for c in self.slack.of("respond") if c.path.endswith("/" + user_id)]


@pytest.fixture
async def driver(db: Database, settings: Settings, slack: SlackStandIn) -> Driver:
    client = make_client(BOT_TOKEN, slack.base_url)
    app = build_app(db, settings, client=client, process_before_response=True)
    return Driver(app, slack, db)

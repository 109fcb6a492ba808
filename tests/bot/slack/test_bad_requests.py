"""Bad input over the real entry (signed HTTP to ``POST /slack/events``): a request textbank cannot read is
answered 400 with one log line, numbers past every bound get the usual answer, and arbitrary command
text and interaction payloads never end in a 5xx or an unhandled exception in the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import Settings
from bot.slack.app import SlackComponent, SlackDeps, build_app, make_client
from bot.slack.commands import SUBCOMMANDS
from bot.slack.requests import METADATA, VALUES
from bot.web import WebServer, create_app
from core.campaign_yaml import apply_campaign_yaml
from storage import Database
from storage.models import Base, User
from tests.bot.slack.conftest import ADMIN, TEXTER
from tests.bot.slack.standin import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    SlackStandIn,
    block_actions_body,
    slash_body,
    view_submission_body,
)
from tests.bot.slack.test_admin import CAMPAIGN_YAML


class Entry:
    """Signed requests over HTTP into the web server that serves the Slack app."""

    def __init__(self, web: WebServer, slack: SlackStandIn, deps: SlackDeps, db: Database) -> None:
        self.web, self.slack, self.deps, self.db = web, slack, deps, db
        self.http = aiohttp.ClientSession()

    async def post(
        self,
        body: str | bytes,
        content_type: str = "application/x-www-form-urlencoded",
        secret: str = "",
        timestamp: str = "",
    ) -> tuple[int, str]:
        raw = body.encode() if isinstance(body, str) else body
        timestamp = timestamp or str(int(time.time()))
        # Slack's scheme (v0 HMAC-SHA256 of "v0:timestamp:body"), over the bytes: some bodies here are not
        # UTF-8, which slack_sdk's SignatureVerifier cannot sign.
        base = b"v0:" + timestamp.encode() + b":" + raw
        signature = "v0=" + hmac.new((secret or SIGNING_SECRET).encode(), base, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        async with self.http.post(self.web.url + "/slack/events", data=raw, headers=headers) as response:
            text = await response.text()
        # Work a listener left running after its answer (a CSV import) ends before the test looks.
        while self.deps.background:
            await next(iter(self.deps.background))
        return response.status, text


@pytest.fixture
async def entry(db: Database, org_id: int, settings: Settings, slack: SlackStandIn) -> AsyncIterator[Entry]:
    app = build_app(db, settings, client=make_client(BOT_TOKEN, slack.base_url), process_before_response=True)
    component = SlackComponent(db, settings, app=app)
    web = WebServer(create_app(settings, db, hooks=[component.add_routes]), "127.0.0.1", 0)
    await web.start()
    e = Entry(web, slack, component.deps, db)
    status, _ = await e.post(slash_body("help", user_id=ADMIN, response_url=slack.response_url(ADMIN)))
    assert status == 200  # the workspace's first user is its owner
    with db.session() as session:
        owner = session.scalars(select(User).where(User.role == "owner")).one()
        apply_campaign_yaml(session, owner.organization_id, CAMPAIGN_YAML, actor=owner)
    yield e
    await e.http.close()
    await web.stop()


def row_counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that show a failure: errors, and any record carrying a traceback."""
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def payload(data: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(data)})


def click(action: dict[str, Any], entry: Entry, user: str = ADMIN) -> str:
    return block_actions_body(action, user_id=user, response_url=entry.slack.response_url(user))


BLOCK_ACTIONS = {
    "type": "block_actions",
    "team": {"id": TEAM_ID},
    "user": {"id": ADMIN, "team_id": TEAM_ID},
    "trigger_id": "T.trigger",
}

UNREADABLE = [
    ("payload=%7Bnot-json", "the payload is not JSON"),
    (payload({**BLOCK_ACTIONS, "actions": "tb_join"}), "actions is not a list of actions"),
    (payload({**BLOCK_ACTIONS, "actions": []}), "actions is not a list of actions"),
    (payload({**BLOCK_ACTIONS, "actions": [{"action_id": "tb_join"}], "team": 7}), "team is neither"),
    (payload({**BLOCK_ACTIONS, "actions": [{"action_id": "tb_join"}], "event": []}), "event is not an"),
    (urlencode({"payload": "[1, 2]"}), "the payload is not a JSON object"),
    (
        urlencode({"command": "/textbank", "text": "help", "team_id": TEAM_ID, "channel_id": "C1"}),
        "the slash command has no user_id",
    ),
    (
        urlencode({"command": "/textbank", "text": "help", "user_id": ADMIN, "channel_id": "C1"}),
        "the slash command has no team_id",
    ),
    (slash_body("help", user_id=ADMIN).encode() + b"&text=\xff\xfe", "the body is not UTF-8"),
    (slash_body("stats A\x00B", user_id=ADMIN), "the payload holds a NUL character"),
    (
        payload(
            {
                **BLOCK_ACTIONS,
                "response_url": "http://127.0.0.1:9/r",
                "actions": [{"action_id": "tb_send_initial", "value": '{"k": 1}'}],
            }
        ),
        "the value of tb_send_initial has no 'c'",
    ),
    (
        payload({**BLOCK_ACTIONS, "actions": [{"action_id": "tb_menu", "selected_option": {"value": "{x"}}]}),
        "the value of tb_menu is not JSON",
    ),
    (
        payload(
            {**BLOCK_ACTIONS, "actions": [{"action_id": "tb_request_more", "value": '{"k": 1e40}'}]},
        ),
        "the value of tb_request_more has a bad 'k'",
    ),
]


@pytest.mark.parametrize(("body", "reason"), UNREADABLE)
async def test_a_signed_request_textbank_cannot_read_gets_400_and_one_log_line(
    entry: Entry, caplog: pytest.LogCaptureFixture, body: str | bytes, reason: str
) -> None:
    before, calls = row_counts(entry.db), len(entry.slack.calls)
    caplog.clear()
    status, text = await entry.post(body)
    assert (status, text) == (400, f"bad request: {text.removeprefix('bad request: ')}")
    assert reason in text
    assert [r.getMessage() for r in caplog.records if r.name.startswith(("textbank", "aiohttp"))] == [
        f"slack: refused a request with HTTP 400: {text.removeprefix('bad request: ')}"
    ]
    assert problems(caplog) == []
    assert row_counts(entry.db) == before and len(entry.slack.calls) == calls


async def test_json_nested_past_the_stack_and_views_with_bad_metadata_get_400(
    entry: Entry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    deep = "[" * 30_000 + "]" * 30_000
    assert (await entry.post(deep, "application/json"))[0] == 400
    view = {"callback_id": "tb_reply_edit", "private_metadata": "[]"}
    status, text = await entry.post(view_submission_body(view, {}, user_id=ADMIN))
    assert status == 400 and "private_metadata of tb_reply_edit is not a JSON object" in text
    assert problems(caplog) == []


async def test_an_unreadable_request_with_a_bad_signature_is_401(
    entry: Entry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    assert (await entry.post("payload=%7Bnot-json", secret="not-the-secret"))[0] == 401
    assert (await entry.post(slash_body("help", user_id=ADMIN), secret="not-the-secret"))[0] == 401
    # slack_sdk's verifier reads the timestamp with int(): one that is not a number is a forgery too.
    for body in (slash_body("help", user_id=ADMIN), "payload=%7Bnot-json"):
        assert (await entry.post(body, timestamp="1e9"))[0] == 401
    assert problems(caplog) == []


@pytest.mark.parametrize("ref", ["999999999999999999999999", "9223372036854775808", "0", "²", "-1"])
async def test_a_campaign_id_past_every_bound_is_no_campaign(
    entry: Entry, caplog: pytest.LogCaptureFixture, ref: str
) -> None:
    caplog.clear()
    for command in ("stats", "texters", "launch", "contacts"):
        status, _ = await entry.post(
            slash_body(f"{command} {ref}", user_id=ADMIN, response_url=entry.slack.response_url(ADMIN))
        )
        assert status == 200
        answer = json.loads(entry.slack.of("respond")[-1].text_dump())["text"]
        assert answer.startswith(f"🚫 no campaign {ref!r}: "), answer  # a refusal, said as one
    assert problems(caplog) == []


# --- property tests: arbitrary input at the real entry ------------------------------------------------------

WORDS = st.one_of(
    st.text(max_size=12),
    st.integers().map(str),
    st.sampled_from(["Test Drive", '"Test Drive"', "1", "<@U0TEXTER>", "<@U0NOBODY>", "initials", "none"]),
)
COMMAND_TEXT = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda name, words: " ".join([name, *words]),
        st.sampled_from([*SUBCOMMANDS, "campaign list", "campaign launch", "link initials", "review 1"]),
        st.lists(WORDS, max_size=4),
    ),
)
PROPERTY = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(text=COMMAND_TEXT, user=st.sampled_from([ADMIN, TEXTER]))
async def test_any_command_text_gets_an_answer_and_no_traceback(
    entry: Entry, caplog: pytest.LogCaptureFixture, text: str, user: str
) -> None:
    caplog.clear()
    calls = len(entry.slack.calls)
    status, _ = await entry.post(slash_body(text, user_id=user, response_url=entry.slack.response_url(user)))
    assert problems(caplog) == []
    if "\x00" in text:  # refused at the entry: PostgreSQL text cannot hold it
        assert status == 400 and len(entry.slack.calls) == calls
    else:
        assert status == 200 and len(entry.slack.calls) > calls  # answered (respond, a modal, a post)


IDS = st.one_of(st.integers(0, 4), st.integers(), st.text(max_size=5), st.none(), st.booleans())
JSON_VALUE = st.dictionaries(
    st.sampled_from(["c", "k", "u", "s", "b", "n", "m", "q", "a", "i", "x", "t", "r", "ch", "ts"]),
    IDS,
    max_size=6,
).map(json.dumps)
VALUE = st.one_of(JSON_VALUE, st.text(max_size=20))
ACTION_ID = st.one_of(st.sampled_from(sorted(VALUES)), st.text(max_size=10))


@st.composite
def interactions(draw: st.DrawFn) -> Callable[[str], str]:
    """A block action or a view submission of textbank's (or a random) id, with random values: the body
    for a click whose response_url is the argument."""
    user = draw(st.sampled_from([ADMIN, TEXTER]))
    if draw(st.booleans()):
        action: dict[str, Any] = {"action_id": draw(ACTION_ID)}
        if draw(st.booleans()):
            action["value"] = draw(VALUE)
        else:
            action["selected_option"] = {"value": draw(VALUE)}
        on_home = draw(st.booleans())
        view = {"id": "V1", "type": "home"} if on_home else None
        return lambda url: block_actions_body(action, user_id=user, response_url=url, view=view)
    callback_id = draw(st.one_of(st.sampled_from(sorted(METADATA)), st.text(max_size=10)))
    block = st.sampled_from(["title", "hours_start", "file", "flags", "body", "initials_batch_size"])
    element = st.one_of(
        st.builds(lambda v: {"type": "plain_text_input", "value": v}, st.one_of(st.text(max_size=20), IDS)),
        st.builds(
            lambda options: {"type": "checkboxes", "selected_options": [{"value": o} for o in options]},
            st.lists(st.text(max_size=30), max_size=3),
        ),
        st.builds(
            lambda name, url: {"type": "file_input", "files": [{"name": name, "url_private": url}]},
            st.text(max_size=10),
            st.sampled_from(["http://127.0.0.1:9/f", "not a url", ""]),
        ),
    )
    values = draw(st.dictionaries(block, element.map(lambda e: {"v": e}), max_size=3))
    view = {"callback_id": callback_id, "private_metadata": draw(st.one_of(JSON_VALUE, st.text(max_size=10)))}
    return lambda url: view_submission_body(view, values, user_id=user)


@PROPERTY
@given(interaction=interactions())
async def test_any_interaction_payload_gets_no_5xx_and_no_traceback(
    entry: Entry, caplog: pytest.LogCaptureFixture, interaction: Callable[[str], str]
) -> None:
    caplog.clear()
    status, text = await entry.post(interaction(entry.slack.response_url("clicker")))
    assert status < 500, text
    assert problems(caplog) == []
    refusals = [r for r in caplog.records if "refused a request with HTTP 400" in r.getMessage()]
    assert len(refusals) == (1 if status == 400 else 0)

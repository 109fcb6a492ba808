"""The Slack relay under bursts: every reply lands in its thread once and in order, 429s are waited out, and
a conversation whose posts fail is tried again later without holding up the others.

The world is built with core calls (texters with Slack identities, contacts each sent their initial), the
replies come in through core.inbound as the Twilio webhook stores them, and the relay posts to the Slack
stand-in through the real Bolt app's client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from bot.chat.relay import RelayWorker
from bot.config import Settings
from bot.slack.app import SlackDeps, build_app, make_client
from core.inbound import receive_inbound
from core.sending import send_initial
from storage import Database
from storage.models import ChatThread, Notice, PlatformIdentity
from tests.bot.slack.standin import BOT_TOKEN, Call, SlackStandIn
from tests.core.factories import add_contacts, at, make_launched_campaign, make_org, make_script, make_texter

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
OUR_NUMBER = "+12125550100"
CONTROLS = "Reply controls"


@dataclass(frozen=True)
class Convo:
    contact_id: int
    user_id: int
    cell: str
    name: str  # the contact's name as thread lines show it
    channel: str  # the texter's DM channel with the bot


@pytest.fixture
def deps(db: Database, settings: Settings, slack: SlackStandIn) -> SlackDeps:
    remember_ts(slack)
    app = build_app(db, settings, client=make_client(BOT_TOKEN, slack.base_url))
    return app.textbank_deps  # type: ignore[attr-defined]


def remember_ts(
    slack: SlackStandIn,
    refuse: Callable[[Call], bool] = lambda call: False,
    seen: Callable[[Call], None] = lambda call: None,
) -> None:
    """Answer chat.postMessage as the stand-in does, noting the ts it gave each post in the record.

    A post ``refuse`` picks is answered ``ok: false`` (Slack refused it) and recorded under another name;
    ``seen`` is told of every post as it arrives.
    """

    def post(call: Call) -> dict[str, Any]:
        seen(call)
        if refuse(call):
            call.method = "chat.postMessage#refused"
            return {"ok": False, "error": "internal_error"}
        answer = slack._m_chat_postMessage(call)
        call.body["ts"] = answer["ts"]
        return answer

    slack.overrides["chat.postMessage"] = post


def world(db: Database, texters: int, per_texter: int) -> list[Convo]:
    """Texters with Slack identities, each holding contacts that were sent their initial."""
    out = []
    with db.session() as s:
        org = make_org(s)
        people = [make_texter(s, org, f"Texter {i}") for i in range(texters)]
        campaign = make_launched_campaign(s, org, 0, texters=people)
        make_script(s, campaign)
        for index, person in enumerate(people):
            slack_id = s.scalar(
                select(PlatformIdentity.platform_user_id).where(PlatformIdentity.user_id == person.id)
            )
            for contact in add_contacts(
                s, campaign, per_texter, assigned_to=person, first=index * per_texter
            ):
                assert send_initial(s, person, contact.id, now=NOON_NY).sent
                name = f"{contact.first_name} {contact.last_name}"
                out.append(Convo(contact.id, person.id, contact.cell, name, f"D{slack_id}"))
    return out


def reply(db: Database, convo: Convo, n: int) -> str:
    """The contact texts back (in its own transaction, as a webhook stores it); returns its thread line."""
    body = f"reply {n} from {convo.contact_id}"
    with db.session() as s:
        receive_inbound(
            s, from_cell=convo.cell, to=OUR_NUMBER, body=body, provider_sid=f"SM{convo.contact_id}x{n}"
        )
    return f"*{convo.name}*: {body}"


def posts(slack: SlackStandIn) -> list[Call]:
    """The chat.postMessage calls Slack accepted (a 429 or a refused post is recorded under another name)."""
    return slack.of("chat.postMessage")


def thread_ts(db: Database, convo: Convo) -> str:
    with db.read() as s:
        return s.scalar(
            select(ChatThread.thread_id).where(
                ChatThread.contact_id == convo.contact_id, ChatThread.user_id == convo.user_id
            )
        )


def thread_of(db: Database, slack: SlackStandIn, convo: Convo) -> list[str]:
    """The texts in the conversation's thread, in the order Slack received them (controls left out).

    Checks on the way that the thread has one parent message, in the texter's DM, and exactly one control
    message left (the newest: every older one was deleted), the one the database names.
    """
    ts = thread_ts(db, convo)
    [parent] = [c for c in posts(slack) if c.body.get("ts") == ts]
    assert parent.body.get("channel") == convo.channel and convo.name in str(parent.body.get("text"))
    started = [
        c for c in posts(slack) if not c.body.get("thread_ts") and convo.name in str(c.body.get("text"))
    ]
    assert len(started) == 1, f"{len(started)} threads started for {convo.name}"
    in_thread = [c for c in posts(slack) if c.body.get("thread_ts") == ts]
    deleted = {c.body.get("ts") for c in slack.of("chat.delete")}
    live = [c.body["ts"] for c in in_thread if c.body.get("text") == CONTROLS and c.body["ts"] not in deleted]
    with db.read() as s:
        recorded = s.scalar(select(ChatThread.control_id).where(ChatThread.thread_id == ts))
    assert live == [recorded], f"live controls {live}, recorded {recorded}"
    return [str(c.body.get("text")) for c in in_thread if c.body.get("text") != CONTROLS]


async def until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def landed(slack: SlackStandIn, lines: list[str]) -> bool:
    texts = {str(c.body.get("text")) for c in posts(slack)}
    return all(line in texts for line in lines)


def statuses(db: Database) -> dict[str, int]:
    with db.read() as s:
        rows = list(s.scalars(select(Notice.status).where(Notice.platform == "slack")))
    return {status: rows.count(status) for status in set(rows)}


INITIAL = "*You*: Hi {first}, this is {texter}. Can we count on your vote?"


def initial_line(convo: Convo, texter: str) -> str:
    return INITIAL.format(first=convo.name.split()[0], texter=texter)


async def test_a_burst_across_many_conversations_lands_once_each_in_order(
    db: Database, slack: SlackStandIn, deps: SlackDeps
) -> None:
    convos = world(db, texters=4, per_texter=6)
    expected: dict[int, list[str]] = {c.contact_id: [] for c in convos}
    for n in (1, 2):  # interleaved: every conversation's first reply, then every second one
        for convo in convos:
            expected[convo.contact_id].append(reply(db, convo, n))
    by_name = {convo.name: convo for convo in convos}

    def third_reply_while_syncing(call: Call) -> None:
        """A third reply arrives while its conversation's thread is being started (after it was read)."""
        text = str(call.body.get("text", ""))
        for name, convo in by_name.items():
            if text.startswith(f"Conversation with {name} ") and len(expected[convo.contact_id]) == 2:
                expected[convo.contact_id].append(reply(db, convo, 3))

    remember_ts(slack, seen=third_reply_while_syncing)
    # Few conversations at a time, so a third reply's notice is claimed while its conversation is still
    # being posted, and queued behind it; it polls rarely, so it is the commit hook that finds them.
    relay = RelayWorker(deps.chat.threads, parallel=4, idle=30.0)
    relay.start()
    try:
        await until(lambda: all(len(lines) == 3 for lines in expected.values()), "every third reply")
        everything = [line for lines in expected.values() for line in lines]
        await until(lambda: landed(slack, everything), "every reply in its thread")
        await until(lambda: statuses(db) == {"posted": 3 * len(convos)}, "every notice marked posted")
    finally:
        await relay.stop()
    for index, convo in enumerate(convos):
        texter = f"Texter {index // 6}"
        assert thread_of(db, slack, convo) == [initial_line(convo, texter), *expected[convo.contact_id]]


async def test_an_idle_relay_wakes_when_notices_are_committed(
    db: Database, slack: SlackStandIn, deps: SlackDeps
) -> None:
    [convo] = world(db, texters=1, per_texter=1)
    relay = RelayWorker(deps.chat.threads, idle=60.0)  # it would not poll again within the test
    relay.start()
    try:
        first = reply(db, convo, 1)
        await until(lambda: landed(slack, [first]), "the first reply")
        await until(lambda: statuses(db) == {"posted": 1}, "the first notice marked posted")
        await asyncio.sleep(0.1)  # the relay has gone idle
        second = reply(db, convo, 2)
        await until(lambda: landed(slack, [second]), "the second reply, without a poll", timeout=30.0)
    finally:
        await relay.stop()
    assert thread_of(db, slack, convo) == [initial_line(convo, "Texter 0"), first, second]


async def test_rate_limits_are_waited_out_and_nothing_is_put_back(
    db: Database, slack: SlackStandIn, deps: SlackDeps
) -> None:
    convos = world(db, texters=2, per_texter=3)
    lines = {c.contact_id: reply(db, c, 1) for c in convos}
    slack.rate_limit("chat.postMessage", times=2, retry_after=0)
    assert await RelayWorker(deps.chat.threads).run_once() == (len(convos), 0)
    assert len(slack.of("chat.postMessage#429")) == 2
    for index, convo in enumerate(convos):
        texter = f"Texter {index // 3}"
        assert thread_of(db, slack, convo) == [initial_line(convo, texter), lines[convo.contact_id]]
    assert statuses(db) == {"posted": len(convos)}


async def test_a_failing_conversation_is_retried_later_and_holds_up_no_other(
    db: Database, slack: SlackStandIn, deps: SlackDeps
) -> None:
    convos = world(db, texters=2, per_texter=2)
    stuck, others = convos[0], convos[1:]
    failing = [True]
    remember_ts(
        slack, refuse=lambda call: failing[0] and str(call.body.get("text", "")).startswith(f"*{stuck.name}*")
    )
    first = {c.contact_id: reply(db, c, 1) for c in convos}
    relay = RelayWorker(deps.chat.threads, retry_delay=0.05, idle=0.05)
    relay.start()
    try:
        await until(lambda: landed(slack, [first[c.contact_id] for c in others]), "the other conversations")
        # The stuck conversation keeps failing (its thread started, its reply refused) ...
        await until(lambda: len(slack.of("chat.postMessage#refused")) >= 2, "a second try of the stuck one")
        # ... while new replies elsewhere still get through.
        second = reply(db, others[0], 2)
        await until(lambda: landed(slack, [second]), "a later reply of another conversation")
        assert not landed(slack, [first[stuck.contact_id]])
        failing[0] = False
        await until(lambda: landed(slack, [first[stuck.contact_id]]), "the stuck reply, once Slack takes it")
    finally:
        await relay.stop()
    assert thread_of(db, slack, stuck) == [initial_line(stuck, "Texter 0"), first[stuck.contact_id]]
    assert thread_of(db, slack, others[0]) == [
        initial_line(others[0], "Texter 0"),
        first[others[0].contact_id],
        second,
    ]
    for convo in others[1:]:
        assert thread_of(db, slack, convo) == [initial_line(convo, "Texter 1"), first[convo.contact_id]]
    assert statuses(db) == {"posted": len(convos) + 1}
    with db.read() as s:
        tries = s.scalar(select(Notice.attempts).where(Notice.contact_id == stuck.contact_id))
    assert tries >= 3

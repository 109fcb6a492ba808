"""Conversation threads on Discord: in the channel an admin chose for the campaign (the server's choice as
the fallback), a clear word when none is chosen, and a finished conversation's thread archived (PATCH
archived) so a large campaign stays under Discord's active-thread limit; a new reply unarchives it first.

The stand-in refuses posts and edits in an archived thread (400, code 50083), as Discord does, so the
order of what went over the wire is checked by the stand-in too.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from storage import Database
from tests.bot.discord import test_conversations
from tests.bot.discord.conftest import TEXTER
from tests.bot.discord.standin import CHANNEL_ID, OWNER_ID, Call, DiscordStandIn
from tests.bot.discord.test_conversations import ANN, World, control_select
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_texting import ask, click

world = test_conversations.world  # the bot, the web server and the Twilio stand-in, running
CONVERSATIONS = 900000000000000005  # a second text channel: where the campaign's threads go
sids = (f"SM{i:032d}" for i in range(1, 1000))


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.WARNING)
    return caplog.records


def errors(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR or r.exc_info]


async def texted(world: World, db: Database, tmp_path: Path) -> None:
    """A launched campaign, a texter who joined and sent Ann her first text (no thread channel yet)."""
    api = world.api
    api.channels[CONVERSATIONS] = api._text_channel(CONVERSATIONS, "conversations")
    await launched(db, api, tmp_path)
    await ask(api, OWNER_ID, "link", "initials", options={"campaign": "Test Drive"})
    join = api.message(api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    await click(api, TEXTER, join, "Join")
    card = api.message(api.find("POST", rf"/channels/{TEXTER + 1}/messages")[-1])
    await click(api, TEXTER, card, "Send")
    await asyncio.to_thread(world.twilio.wait_for, 1)


def thread_control(world: World, thread: str) -> Any:
    def posted(_: DiscordStandIn) -> dict[str, Any] | None:
        messages = world.posted_in(thread)
        return messages[-1] if messages and messages[-1]["components"] else None

    return posted


async def replied_in_thread(world: World, body: str) -> tuple[str, dict[str, Any]]:
    """Ann replies; returns her thread (created in the campaign's channel) and its control message."""
    api = world.api
    before = len(api.calls)
    assert await world.inbound(ANN, body, next(sids)) == 200
    created = await api.wait_call("POST", rf"/channels/{CONVERSATIONS}/threads", before)
    thread = str(created.response["id"])
    control = await api.wait_for(thread_control(world, thread))
    return thread, control


def archive_calls(api: DiscordStandIn, thread: str, after: int = 0) -> list[bool]:
    """The archived values PATCHed onto ``thread``, in order."""
    return [
        c.body["archived"]
        for c in api.calls[after:]
        if c.method == "PATCH" and c.path == f"/channels/{thread}"
    ]


async def test_without_a_channel_the_texter_is_told_the_command_and_the_campaigns_channel_wins(
    world: World, db: Database, tmp_path: Path, no_errors: list[logging.LogRecord]
) -> None:
    api = world.api
    await texted(world, db, tmp_path)

    # No channel chosen anywhere: no thread, and the texter reads which command an admin runs.
    assert await world.inbound(ANN, "Who is this?", next(sids)) == 200
    (told,) = await api.wait_for(lambda s: said_in_dm(s, "threads channel"))
    assert "/textbank threads channel campaign:Test Drive" in told.text and "Ann" in told.text
    assert not api.find("POST", r"/channels/\d+/threads")
    # Send Replies on the dashboard says the same (once), not that something failed.
    dashboard = await ask(api, TEXTER, "dashboard")
    board = api.message(dashboard)
    buttons = [c for row in board["components"] for c in row["components"]]
    button = next(c for c in buttons if c.get("label") == "Send Replies (1)")
    await api.click(TEXTER, board, button["custom_id"])  # answered in the DMs
    await api.wait_for(lambda s: len(said_in_dm(s, "threads channel")) == 2)
    assert not said_in_dm(api, "could not do that") and not api.find("POST", r"/channels/\d+/threads")

    # A texter may not choose; an admin chooses the server's channel, then the campaign's own.
    refused = await ask(api, TEXTER, "threads", "channel", options={"campaign": "Test Drive"})
    assert "only an admin" in refused.text
    server = await ask(api, OWNER_ID, "threads", "channel")
    assert "every campaign without a channel of its own" in server.text
    chosen = await ask(
        api, OWNER_ID, "threads", "channel", options={"campaign": "Test Drive"}, channel_id=CONVERSATIONS
    )
    assert "Conversation threads open here" in chosen.text and "Test Drive" in chosen.text

    # The next reply opens the thread in the campaign's channel (not the server's), with every text once.
    thread, _control = await replied_in_thread(world, "Sorry, yes I will vote")
    assert not api.find("POST", rf"/channels/{CHANNEL_ID}/threads")
    shown = " ".join(m["content"] + str(m["embeds"]) for m in world.posted_in(thread))
    assert shown.count("Who is this?") == 1 and shown.count("Sorry, yes I will vote") == 1
    assert errors(no_errors) == []


async def choose_campaign_channel(api: DiscordStandIn) -> None:
    chosen = await ask(
        api, OWNER_ID, "threads", "channel", options={"campaign": "Test Drive"}, channel_id=CONVERSATIONS
    )
    assert "Test Drive" in chosen.text


async def in_thread(world: World, db: Database, tmp_path: Path, body: str) -> tuple[str, dict[str, Any]]:
    """Ann's reply ``body`` in her thread, in the campaign's own channel: the thread and its controls."""
    await texted(world, db, tmp_path)
    await choose_campaign_channel(world.api)
    return await replied_in_thread(world, body)


def edits_in(api: DiscordStandIn, thread: str, after: int) -> list[Call]:
    """The edits of messages in ``thread`` after ``after`` (their controls redrawn)."""
    return [
        c
        for c in api.calls[after:]
        if c.method == "PATCH" and c.path.startswith(f"/channels/{thread}/messages/")
    ]


def said_in_dm(api: DiscordStandIn, words: str) -> list[Call]:
    return [c for c in api.find("POST", rf"/channels/{TEXTER + 1}/messages") if words in c.text]


def patched_at(api: DiscordStandIn, thread: str, after: int) -> int:
    """Where in the record the first PATCH of the thread itself (archived or not) after ``after`` is."""
    return next(i for i, c in enumerate(api.calls) if i >= after and c.path == f"/channels/{thread}")


async def menu_choice(api: DiscordStandIn, control: dict[str, Any], word: str) -> None:
    menu = control_select(control, "more")
    option = next(o for o in menu["options"] if word in o["label"])
    await api.click(TEXTER, control, menu["custom_id"], values=[option["value"]])


async def test_a_closed_conversations_thread_is_archived_and_a_new_reply_unarchives_it(
    world: World, db: Database, tmp_path: Path, no_errors: list[logging.LogRecord]
) -> None:
    api = world.api
    thread, control = await in_thread(world, db, tmp_path, "Maybe later")

    before = len(api.calls)
    await menu_choice(api, control, "Close")
    await api.wait_for(lambda s: archive_calls(s, thread, before) == [True])
    redrawn = edits_in(api, thread, before)
    assert redrawn and "closed" in redrawn[-1].text.lower()
    archived_at = patched_at(api, thread, before)
    assert all(api.calls.index(c) < archived_at for c in redrawn)  # the controls redrawn before archiving
    assert api.archived(thread)

    # Ann writes again: the same thread is unarchived, then her text and new controls go in.
    before = len(api.calls)
    assert await world.inbound(ANN, "Actually, how do I vote early?", next(sids)) == 200
    posted: Call = await api.wait_for(
        lambda s: next(
            (c for c in s.find("POST", rf"/channels/{thread}/messages") if "vote early" in c.text),
            None,
        )
    )
    assert archive_calls(api, thread, before) == [False]
    assert patched_at(api, thread, before) < api.calls.index(posted)
    assert not api.find("POST", rf"/channels/{CONVERSATIONS}/threads")[1:]  # no second thread
    assert not api.archived(thread)
    assert all(c.response.get("code") != 50083 for c in api.calls if isinstance(c.response, dict))

    # Closed again; then a click on the archived thread's controls (a phone allows it) is answered: the
    # controls are edited in an unarchived moment, and the thread is left archived.
    control = await api.wait_for(thread_control(world, thread))
    before = len(api.calls)
    await menu_choice(api, control, "Close")
    await api.wait_for(lambda s: archive_calls(s, thread, before) == [True])
    closed = api.message(edits_in(api, thread, before)[-1])
    before = len(api.calls)
    await menu_choice(api, closed, "Opt out")
    await api.wait_for(lambda s: archive_calls(s, thread, before) == [False, True])
    edited = edits_in(api, thread, before)
    assert any("opted out" in c.text.lower() and "code" not in (c.response or {}) for c in edited)
    assert api.archived(thread)
    assert errors(no_errors) == []


@pytest.mark.parametrize("finish", ["STOP", "Done for the Day"])
async def test_a_stop_or_done_for_the_day_is_said_in_the_thread_and_then_the_thread_is_archived(
    world: World, db: Database, tmp_path: Path, no_errors: list[logging.LogRecord], finish: str
) -> None:
    api = world.api
    thread, _ = await in_thread(world, db, tmp_path, "Who are you?")

    before = len(api.calls)
    if finish == "STOP":  # a keyword opt-out: Ann's STOP is posted into the thread
        assert await world.inbound(ANN, "STOP", next(sids)) == 200
        said = "STOP"
    else:  # the unanswered reply is handed back: the thread's controls say it was released
        assert "1 unhandled reply" in (await ask(api, TEXTER, "done")).text
        said = "released"
    await api.wait_for(lambda s: archive_calls(s, thread, before) == [True])
    in_thread_before = api.calls[before : patched_at(api, thread, before)]
    assert any(said in c.text for c in in_thread_before if c.path.startswith(f"/channels/{thread}/messages"))
    assert archive_calls(api, thread, before) == [True]  # archived once, never reopened on the way
    assert api.archived(thread)
    assert errors(no_errors) == []


async def test_a_thread_discord_archived_on_its_own_is_unarchived_for_the_next_reply(
    world: World, db: Database, tmp_path: Path, no_errors: list[logging.LogRecord]
) -> None:
    api = world.api
    thread, _ = await in_thread(world, db, tmp_path, "Let me think about it")
    api.channels[int(thread)]["thread_metadata"]["archived"] = True  # a week passed without a text

    before = len(api.calls)
    assert await world.inbound(ANN, "OK, I'm in", next(sids)) == 200

    def tries(s: DiscordStandIn) -> list[Call] | None:
        found = [c for c in s.find("POST", rf"/channels/{thread}/messages") if "I'm in" in c.text]
        return found if len(found) >= 2 else None

    (refused, posted) = await api.wait_for(tries)
    assert refused.response["code"] == 50083 and "id" in posted.response  # refused once, then posted
    assert archive_calls(api, thread, before) == [False]
    assert patched_at(api, thread, before) < api.calls.index(posted) and not api.archived(thread)
    assert errors(no_errors) == []

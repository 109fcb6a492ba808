"""The whole campaign on Discord, as Slack's end-to-end test runs it: everything over the gateway stand-in
and real HTTP, the Twilio sender and the Discord relay running, Discord and Twilio stand-ins on the other
side. What is asserted is what went over the wire (and, where a count needs it, the database)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from storage import Database
from storage.models import Contact, PlatformIdentity
from storage.models import Message as Text
from tests.bot.discord.conftest import ADMIN, TEXTER, TEXTER2
from tests.bot.discord.standin import APP_ID, CHANNEL_ID, DiscordStandIn
from tests.bot.discord.test_conversations import World, control_select, running
from tests.bot.discord.test_texting import ask, click, set_up_campaign
from tests.bot.slack.test_end_to_end import CONTACTS

EDITED = "Great, thanks! Polls open at 7 on Tuesday."


@pytest.fixture
async def world(db: Database, db_url: str, discord_api: DiscordStandIn) -> AsyncIterator[World]:
    async with running(db, db_url, discord_api, workers=2) as w:
        yield w


def labels(message: dict[str, Any]) -> list[str]:
    return [c.get("label") or "" for row in message["components"] for c in row["components"]]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    found = [c for row in message["components"] for c in row["components"] if c.get("label") == label]
    assert found, f"no {label!r} button in {message['components']}"
    return found[0]


async def text_until_done(api: DiscordStandIn, user: int) -> int:
    """Click Send (or Request More) on the texter's DM card until neither is offered; the sends clicked."""
    card = api.message(api.find("POST", rf"/channels/{user + 1}/messages")[-1])
    sends = 0
    while True:
        offered = labels(card)
        if "Send" in offered:
            sends += 1
            answer = await click(api, user, card, "Send")
            assert "Sent to" in answer.text, answer.text
        elif "Request More" in offered:
            answer = await click(api, user, card, "Request More")
        else:
            text = json.dumps(card)
            assert "Request More is unavailable" in text or "nothing left" in text.lower(), text
            return sends
        card = api.message(answer)


def thread_of(api: DiscordStandIn, first_name: str) -> str:
    """The private thread opened for the contact named ``first_name`` (its name says whose)."""
    (created,) = [
        c for c in api.find("POST", rf"/channels/{CHANNEL_ID}/threads") if f" {first_name} " in c.body["name"]
    ]
    return str(created.response["id"])


async def thread_ready(api: DiscordStandIn, first_name: str) -> str:
    """Wait until the contact's thread is opened and holds its controls; the thread's id."""

    def ready(s: DiscordStandIn) -> str | None:
        created = [
            c
            for c in s.find("POST", rf"/channels/{CHANNEL_ID}/threads")
            if f" {first_name} " in c.body["name"]
        ]
        if not created or created[0].response is None:
            return None
        thread = str(created[0].response["id"])
        return thread if control_in(s, thread) is not None else None

    return await api.wait_for(ready)


def posted_after(api: DiscordStandIn, after: int, channel: str, text: str) -> bool:
    return any(
        c.method == "POST" and c.path == f"/channels/{channel}/messages" and text in c.text
        for c in api.calls[after:]
    )


def control_in(api: DiscordStandIn, thread: str) -> dict[str, Any] | None:
    """The thread's newest control message (the one with components), as it stands now."""
    posted = [api.message(c) for c in api.find("POST", rf"/channels/{thread}/messages")]
    posted = [m for m in posted if m["components"]]
    return posted[-1] if posted else None


async def test_a_campaign_from_attachments_to_an_edited_reply_and_done_for_the_day(
    world: World, db: Database
) -> None:
    w, api = world, world.api
    # The admin sets the campaign up from attachments, launches it and posts the join message.
    join = await set_up_campaign(api, ADMIN, CONTACTS, imported_count=6)
    assert "Conversation threads open here" in (await ask(api, ADMIN, "threads", "channel")).text

    # Two texters join and text at once, one click per text.
    joined = await asyncio.gather(*(click(api, user, join, "Join") for user in (TEXTER, TEXTER2)))
    assert all("You joined **Test Drive**" in j.text for j in joined)
    sends = await asyncio.gather(*(text_until_done(api, user) for user in (TEXTER, TEXTER2)))
    assert sum(sends) == 6 and min(sends) >= 2  # each got at least the batch Join gave
    await asyncio.to_thread(w.twilio.wait_for, 6)
    with db.read() as session:
        rows = session.execute(
            select(Contact.first_name, Contact.cell, PlatformIdentity.platform_user_id)
            .join(Text, Text.contact_id == Contact.id)
            .join(PlatformIdentity, PlatformIdentity.user_id == Text.user_id)
            .where(Text.direction == "out")
            .order_by(Contact.id)
        ).all()
    assert len(rows) == 6 and len({r.cell for r in rows}) == 6  # every contact texted once, by one texter
    held = {int(user): [r for r in rows if r.platform_user_id == str(user)] for user in (TEXTER, TEXTER2)}
    assert sorted(len(v) for v in held.values()) == sorted(sends)
    assert sorted(m.field("To") or "" for m in w.twilio.messages()) == sorted(r.cell for r in rows)

    # Replies: two of Tess's contacts and one of Theo's, signed as Twilio signs them.
    answered, waiting = held[TEXTER][:2]
    theirs = held[TEXTER2][0]
    for index, (contact, body) in enumerate(
        ((answered, "Yes, I'll vote"), (waiting, "Who is this?"), (theirs, "Maybe"))
    ):
        assert await w.inbound(contact.cell, body, "SM" + str(index) * 32) == 200
    for contact, holder, other in (
        (answered, TEXTER, TEXTER2),
        (waiting, TEXTER, TEXTER2),
        (theirs, TEXTER2, TEXTER),
    ):
        thread = await thread_ready(api, contact.first_name)
        assert api.find("PUT", rf"/channels/{thread}/thread-members/{holder}")
        assert not api.find("PUT", rf"/channels/{thread}/thread-members/{other}")  # the holder's only

    thread = thread_of(api, answered.first_name)
    said = [m["content"] + json.dumps(m["embeds"]) for m in w.posted_in(thread)]
    assert sum("Yes, I'll vote" in t for t in said) == 1
    control = control_in(api, thread)
    assert control is not None

    # Tess picks their answer: the prepared reply fills the control message in place.
    answers = control_select(control, "answer")
    yes = next(o for o in answers["options"] if o["label"] == "Yes")
    before = len(api.calls)
    await api.click(TEXTER, control, answers["custom_id"], values=[yes["value"]])
    filled = await api.wait_call("PATCH", rf"/channels/{thread}/messages/{control['id']}", before)
    assert f"Great, thanks {answered.first_name}!" in filled.text

    # Edit opens a modal holding the draft; she changes the text and submits it.
    control = api.message(filled)
    before = len(api.calls)
    await api.click(TEXTER, control, button(control, "Edit")["custom_id"])
    modal = await api.wait_call("POST", r"/interactions/\d+/.+/callback", before)
    assert modal.body["type"] == 9 and len(modal.body["data"]["title"]) <= 45
    (row,) = modal.body["data"]["components"]
    (field,) = row["components"]
    assert field["value"] == f"Great, thanks {answered.first_name}!"  # the draft, to change
    before = len(api.calls)
    await api.submit(TEXTER, modal.body["data"]["custom_id"], {field["custom_id"]: EDITED}, message=control)
    edited = await api.wait_call("PATCH", rf"/channels/{thread}/messages/{control['id']}", before)
    assert EDITED in edited.text and "Great, thanks" not in edited.text.replace(EDITED, "")

    # Send: the Twilio stand-in receives exactly the edited text, once, to that contact.
    control = api.message(edited)
    before = len(api.calls)
    await api.click(TEXTER, control, button(control, "Send")["custom_id"])
    sent = await asyncio.to_thread(w.twilio.wait_for, 7)
    assert (sent[-1].field("To"), sent[-1].field("Body")) == (answered.cell, EDITED)
    # The thread shows the sent text and fresh controls below it.
    await api.wait_for(lambda s: posted_after(s, before, thread, EDITED))

    # Done for the Day: Tess's unanswered reply goes back; Theo's and her answered one stay.
    waiting_thread = thread_of(api, waiting.first_name)
    waiting_control = control_in(api, waiting_thread)
    assert waiting_control is not None
    done = await ask(api, TEXTER, "done")
    assert "1 unhandled reply went back" in done.text, done.text
    released = await api.wait_call("PATCH", rf"/channels/{waiting_thread}/messages/{waiting_control['id']}")
    assert "released from your list" in released.text and not released.body.get("components")
    with db.read() as session:
        state = {
            cell: (status, holder)
            for cell, status, holder in session.execute(
                select(Contact.cell, Contact.status, PlatformIdentity.platform_user_id).outerjoin(
                    PlatformIdentity, PlatformIdentity.user_id == Contact.assigned_user_id
                )
            )
        }
    assert state[waiting.cell] == ("needs_response", None)
    assert state[answered.cell] == ("convo", str(TEXTER))
    assert state[theirs.cell] == ("needs_response", str(TEXTER2))
    await w.sender.drain()  # whatever is in the outbox has gone out
    bodies = [m.field("Body") for m in w.twilio.messages()]
    assert len(bodies) == 7 and bodies.count(EDITED) == 1  # nothing sent twice, nothing extra
    assert not any(b == f"Great, thanks {answered.first_name}!" for b in bodies)
    assert not [c for c in api.calls if c.path.startswith(f"/webhooks/{APP_ID}/") and "could not" in c.text]

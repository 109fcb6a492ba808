"""One organization on Slack and Discord: one campaign texted from both at once.

The wiring ``textbank run`` uses (``bot.platforms.chat_platforms`` + ``bot.runtime.build_runtime``) starts
the web server (``/slack/events`` and the Twilio webhooks), the sender, the scheduler, the Slack adapter
(HTTP mode, Web API stand-in) and the Discord adapter (REST + gateway stand-in) over one database, with
texts going to the Twilio stand-in. A Slack admin's connect code joins the Discord server to the Slack
workspace's organization; one campaign then has a Slack texter and a Discord texter, and everything is
checked on the wire: who texted whom, where replies, releases and reminders land, what admins count.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from bot.platforms import chat_platforms
from bot.runtime import build_runtime
from bot.scheduler import reminder_job
from bot.twilio.sender import OutboxSender, SenderOptions
from bot.web import WebServer
from storage import Database
from storage.models import Contact, PlatformIdentity, WorkspaceLink
from storage.types import utcnow
from tests.bot.discord.standin import BOT_TOKEN as DISCORD_TOKEN
from tests.bot.discord.standin import CHANNEL_ID, OWNER_ID, Call, DiscordStandIn
from tests.bot.discord.test_conversations import control_select
from tests.bot.discord.test_texting import ask, click
from tests.bot.slack.standin import BOT_TOKEN as SLACK_TOKEN
from tests.bot.slack.standin import SIGNING_SECRET, SlackStandIn, view_submission_body
from tests.bot.slack.test_admin import CAMPAIGN_YAML as TEST_DRIVE
from tests.bot.slack.test_end_to_end import World as SlackWorld
from tests.bot.slack.test_end_to_end import element
from tests.bot.twilio import helpers as h
from tests.bot.twilio.standin import TwilioStandIn

ADMIN = "U0ADMIN"  # Slack: the workspace's first user, its owner
SAM = "U0SAM"  # Slack texter
DEE = 900000000000000012  # Discord texter
DEE_DM = DEE + 1  # the stand-in's DM channel with Dee
BATCH = 3
CONTACTS = 4 * BATCH  # each texter claims two batches; the pool is empty after
SENDS = 2 * BATCH - 1  # each texter sends all but one of what they hold
REMINDER_MINUTES = 10  # the campaign default

# The Slack tests' campaign (reply reminders after the default 10 minutes), batches of BATCH.
CAMPAIGN_YAML = TEST_DRIVE.replace("Test Drive", "Mixed").replace(
    "initials_batch_size: 2", f"initials_batch_size: {BATCH}"
)
CSV = "first name,last name,cell\n" + "".join(
    f"Voter{i},Mixed,+1212555{300 + i:04d}\n" for i in range(CONTACTS)
)


class Mixed(SlackWorld):
    """The Slack end-to-end test's world (signed Slack requests and Twilio webhooks into one web server),
    plus the Discord stand-in the same process is connected to."""

    discord: DiscordStandIn

    def discord_card(self) -> dict[str, Any]:
        """Dee's Send First Texts card: the last message posted in her DM."""
        return self.discord.message(self.discord.find("POST", rf"/channels/{DEE_DM}/messages")[-1])

    def slack_dm(self, user: str) -> list[str]:
        """The messages posted in ``user``'s Slack DM (notices, replies and their threads)."""
        return [
            c.text_dump() for c in self.slack.of("chat.postMessage") if c.body.get("channel") == "D" + user
        ]

    def discord_posts(self, channel: int | str) -> list[Call]:
        return self.discord.find("POST", rf"/channels/{channel}/messages")


@pytest.fixture
async def mixed(db: Database, db_url: str) -> AsyncIterator[Mixed]:
    slack = await SlackStandIn().start()
    slack.add_user(ADMIN, "Ada Admin")
    slack.add_user(SAM, "Sam Slack")
    discord = await DiscordStandIn().start()
    discord.add_member(DEE, "Dee Discord")
    twilio = TwilioStandIn().start()
    both = {
        "slack_bot_token": SLACK_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,  # HTTP mode: no app token
        "slack_api_url": slack.base_url,
        "discord_token": DISCORD_TOKEN,
        "discord_api_url": discord.base_url,
    }
    settings = h.twilio_settings(twilio.url, service=False, database_url=db_url, **both)
    platforms = chat_platforms(db, settings)  # as ``textbank run`` does
    assert [p.off for p in platforms] == [None, None]
    runtime = build_runtime(
        settings,
        db,
        web_hooks=[hook for p in platforms for hook in p.hooks],
        extra_components=[c for p in platforms for c in p.components],
        options=SenderOptions(workers=2, rate=None, poll_interval=0.05),
        host="127.0.0.1",
        port=0,
    )
    await runtime.start()
    web = next(c for c in runtime.components if isinstance(c, WebServer))
    world = Mixed(db, slack, twilio, web)
    world.discord = discord
    world.sender = next(c for c in runtime.components if isinstance(c, OutboxSender))
    try:
        yield world
    finally:
        await world.http.close()
        await runtime.stop()
        twilio.stop()
        await discord.stop()
        await slack.stop()


# --- the texters' clicks -------------------------------------------------------------------------------


async def slack_texting(w: Mixed, sends: int) -> int:
    """Sam clicks Send on his card (Request More at a batch's end) until he has sent ``sends``."""
    channel = "D" + SAM
    seen = len(w.updates_in(channel))
    card = [c for c in w.slack.of("chat.postMessage") if c.body.get("channel") == channel][-1]
    sent = 0
    while True:
        send = element(card.blocks, "tb_send_initial")
        more = element(card.blocks, "tb_request_more")
        if send is not None and sent < sends:
            sent += 1
            action = {"action_id": "tb_send_initial", "value": send["value"]}
        elif send is None and more is not None:
            action = {"action_id": "tb_request_more", "value": more["value"]}
        else:
            return sent
        await w.click(SAM, action, channel_id=channel, message_ts="card-sam")
        card = await w.next_update(channel, seen)
        seen += 1


async def discord_texting(w: Mixed, sends: int) -> int:
    """Dee does the same on her Discord card."""
    card = w.discord_card()
    sent = 0
    while True:
        labels = [c.get("label") for row in card["components"] for c in row["components"]]
        if "Send" in labels and sent < sends:
            sent += 1
            answer = await click(w.discord, DEE, card, "Send")
        elif "Send" not in labels and "Request More" in labels:
            answer = await click(w.discord, DEE, card, "Request More")
        else:
            return sent
        card = w.discord.message(answer)


# --- steps ------------------------------------------------------------------------------------------------


async def connect(w: Mixed) -> None:
    """The Slack admin asks for a code; the Discord server's owner enters it: one organization."""
    await w.command(ADMIN, "help")  # the workspace's first user owns its organization
    await w.command(ADMIN, "connect")
    issued = await w.slack.wait_for("respond", lambda c: "Connect code for" in c.text_dump())
    code = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", issued.text_dump())
    assert code is not None, issued.text_dump()
    joined = await ask(w.discord, OWNER_ID, "connect", options={"code": code.group(0)})
    assert "This Discord server is now part of" in joined.text, joined.text
    again = await ask(w.discord, OWNER_ID, "connect", options={"code": code.group(0)})
    assert "already" in again.text, again.text  # used once
    with w.db.read() as session:
        links = {link.platform: link.organization_id for link in session.scalars(select(WorkspaceLink))}
    assert set(links) == {"slack", "discord"} and links["slack"] == links["discord"], links


async def launch_and_join(w: Mixed, campaign_yaml: str = CAMPAIGN_YAML) -> None:
    """The Slack admin sets the campaign up; join messages on both platforms; both texters join."""
    await w.launch(ADMIN, "Mixed", campaign_yaml, CSV, CONTACTS)

    # The Discord owner (an admin of the organization now) sees the Slack admin's campaign.
    chosen = await ask(w.discord, OWNER_ID, "threads", "channel")
    assert "Conversation threads open here" in chosen.text
    await ask(w.discord, OWNER_ID, "link", "initials", options={"campaign": "Mixed"})
    join = w.discord.message(w.discord_posts(CHANNEL_ID)[-1])
    await w.command(ADMIN, "link initials Mixed", channel="C0VOL")
    slack_join = await w.slack.wait_for("chat.postMessage", lambda c: c.body.get("channel") == "C0VOL")

    await w.click(SAM, {"action_id": "tb_join", "value": slack_join.blocks[1]["elements"][0]["value"]})
    joined = await click(w.discord, DEE, join, "Join")
    assert "You joined **Mixed**" in joined.text
    await w.slack.wait_for("chat.postMessage", lambda c: c.body.get("channel") == "D" + SAM)


def holdings(w: Mixed) -> dict[str, list[tuple[str, str, str]]]:
    """Each platform's texter's contacts: (cell, first name, status), by the texter's platform."""
    with w.db.read() as session:
        rows = session.execute(
            select(PlatformIdentity.platform, Contact.cell, Contact.first_name, Contact.status)
            .join(PlatformIdentity, PlatformIdentity.user_id == Contact.assigned_user_id)
            .where(PlatformIdentity.platform.in_(("slack", "discord")))
            .order_by(Contact.id)
        ).all()
    held: dict[str, list[tuple[str, str, str]]] = {"slack": [], "discord": []}
    for platform, cell, first, status in rows:
        held[platform].append((cell, first, status))
    return held


async def answer_on_slack(w: Mixed, first: str) -> None:
    """Sam picks "Yes" in the reply's thread in his DM and clicks Send."""
    reply = await w.slack.wait_for(
        "chat.postMessage", lambda c: c.body.get("text") == f"*{first} Mixed*: yes from {first}"
    )
    assert reply.body["channel"] == "D" + SAM and reply.body.get("thread_ts")
    control = await w.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("thread_ts") == reply.body["thread_ts"] and element(c.blocks, "tb_answer"),
    )
    yes = next(o for o in element(control.blocks, "tb_answer")["options"] if o["text"]["text"] == "Yes")
    ts = f"ctl-{first}"
    where = {"channel_id": "D" + SAM, "message_ts": ts, "thread_ts": reply.body["thread_ts"]}
    await w.click(SAM, {"action_id": "tb_answer", "type": "static_select", "selected_option": yes}, **where)
    filled = await w.slack.wait_for(
        "chat.update", lambda c: c.body.get("ts") == ts and element(c.blocks, "tb_reply_send") is not None
    )
    send = element(filled.blocks, "tb_reply_send")
    await w.click(SAM, {"action_id": "tb_reply_send", "value": send["value"]}, **where)


async def answer_on_discord(w: Mixed, first: str, reply: str = "") -> str:
    """Dee picks "Yes" in the private thread holding ``reply`` and clicks Send; returns the thread's id."""
    api = w.discord
    reply = reply or f"yes from {first}"

    def thread_with_reply(s: DiscordStandIn) -> str | None:
        for created in s.find("POST", rf"/channels/{CHANNEL_ID}/threads"):
            thread = str(created.response["id"])
            if any(reply in c.text for c in w.discord_posts(thread)):
                return thread
        return None

    thread = await api.wait_for(thread_with_reply)
    await api.wait_call("PUT", rf"/channels/{thread}/thread-members/{DEE}")

    def control_posted(s: DiscordStandIn) -> dict[str, Any] | None:
        posted = [s.message(c) for c in w.discord_posts(thread)]
        return posted[-1] if posted and posted[-1]["components"] else None

    control = await api.wait_for(control_posted)
    answers = control_select(control, "answer")
    yes = next(o for o in answers["options"] if o["label"].startswith("Yes"))
    before = len(api.calls)
    await api.click(DEE, control, answers["custom_id"], values=[yes["value"]])
    redrawn = await api.wait_call("PATCH", rf"/channels/{thread}/messages/\d+", before)
    assert f"Great, thanks {first}!" in redrawn.text
    controls = api.message(redrawn)
    send = next(c for row in controls["components"] for c in row["components"] if c.get("label") == "Send")
    await api.click(DEE, controls, send["custom_id"])  # answered by redrawing the thread, not @original
    return thread


async def open_reminded_replies(w: Mixed) -> None:
    """Each texter clicks their reminder's "Open them": told of the one conversation to answer, at home."""
    reminder = next(
        c
        for c in w.slack.of("chat.postMessage")
        if c.body.get("channel") == "D" + SAM and "has waited" in c.text_dump()
    )
    opener = element(reminder.blocks, "tb_start_replies")
    assert opener is not None, reminder.blocks
    await w.click(SAM, {"action_id": "tb_start_replies", "value": opener["value"]}, channel_id="D" + SAM)
    await w.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("channel") == "D" + SAM and "1 conversation to answer" in c.text_dump(),
    )
    reminded = w.discord.message(next(c for c in w.discord_posts(DEE_DM) if "has waited" in c.text))
    (opens,) = [c for row in reminded["components"] for c in row["components"] if c["label"] == "Open them"]
    await w.discord.click(DEE, reminded, opens["custom_id"])  # said in her DM, not as the click's answer
    opened = "1 conversation to answer"
    await w.discord.wait_for(lambda s: any(opened in c.text for c in w.discord_posts(DEE_DM)))


async def release_from_slack(w: Mixed, name: str) -> None:
    """The Slack admin's texter list: Release unsent… for ``name``, confirmed in its modal."""
    await w.command(ADMIN, "texters Mixed")
    listing = await w.slack.wait_for("respond", lambda c: "Texters of Mixed" in c.text_dump())
    (menu,) = [b["accessory"] for b in listing.blocks if name in json.dumps(b.get("accessory"))]
    options = [o for g in menu.get("option_groups", [menu]) for o in g["options"]]
    release = next(o for o in options if o["text"]["text"].startswith("Release"))
    opened = len(w.slack.of("views.open"))
    await w.click(ADMIN, {"action_id": "tb_texter_menu", "type": "static_select", "selected_option": release})
    view = (await w.slack.wait_count("views.open", opened + 1))[-1].view
    assert await w.slack_post(view_submission_body(view, {}, user_id=ADMIN)) == 200


async def release_from_discord(w: Mixed, name: str) -> None:
    """The Discord owner's texter list: Release unsent… in ``name``'s menu, then the confirmation's button."""
    api = w.discord
    listing = api.message(await ask(api, OWNER_ID, "texters", options={"campaign": "Mixed"}))
    assert "**Sam Slack**" in listing["embeds"][0]["description"]
    assert "**Dee Discord**" in listing["embeds"][0]["description"]
    menus = [c for row in listing["components"] for c in row["components"] if c.get("type") == 3]
    (menu,) = [m for m in menus if name in m["placeholder"]]
    release = next(o for o in menu["options"] if o["label"].startswith("Release"))
    before = len(api.calls)
    token = await api.click(OWNER_ID, listing, menu["custom_id"], values=[release["value"]])
    confirm = api.message(await api.answer(token, before))
    await click(api, OWNER_ID, confirm, "Release")


# --- the scenario ---------------------------------------------------------------------------------------


async def test_a_slack_texter_and_a_discord_texter_share_one_campaign(mixed: Mixed) -> None:
    w = mixed
    await connect(w)
    await launch_and_join(w)

    # Both click Send (and Request More) at the same time: no contact is held or texted by both.
    sent = await asyncio.gather(slack_texting(w, SENDS), discord_texting(w, SENDS))
    assert sent == [SENDS, SENDS]
    texted = await asyncio.to_thread(w.twilio.wait_for, 2 * SENDS)
    held = holdings(w)
    slack_cells = {cell for cell, _, _ in held["slack"]}
    discord_cells = {cell for cell, _, _ in held["discord"]}
    assert len(held["slack"]) == len(held["discord"]) == 2 * BATCH
    assert not slack_cells & discord_cells and len(slack_cells | discord_cells) == CONTACTS
    recipients = Counter(t.field("To") for t in texted)
    assert set(recipients.values()) == {1} and set(recipients) <= slack_cells | discord_cells

    # A reply from a contact of each texter lands on that texter's platform, never on the other.
    sam_contacts = [(cell, first) for cell, first, status in held["slack"] if status == "messaged"]
    dee_contacts = [(cell, first) for cell, first, status in held["discord"] if status == "messaged"]
    (sam_cell, sam_first), (dee_cell, dee_first) = sam_contacts[0], dee_contacts[0]
    for n, (cell, first) in enumerate(((sam_cell, sam_first), (dee_cell, dee_first))):
        assert await w.twilio_inbound(cell, f"yes from {first}", f"SM{n:032d}") == 200
    await answer_on_slack(w, sam_first)
    dee_thread = await answer_on_discord(w, dee_first)
    answered = await asyncio.to_thread(w.twilio.wait_for, 2 * SENDS + 2)
    replies = Counter((t.field("To"), t.field("Body")) for t in answered[2 * SENDS :])
    assert replies == {
        (sam_cell, f"Great, thanks {sam_first}!"): 1,
        (dee_cell, f"Great, thanks {dee_first}!"): 1,
    }
    assert not any(f"yes from {dee_first}" in c.text_dump() for c in w.slack.calls)
    assert not any(f"yes from {sam_first}" in c.text for c in w.discord.calls)
    assert sum(f"yes from {dee_first}" in c.text for c in w.discord_posts(dee_thread)) == 1

    # A second reply each, left waiting: the reminder job (the clock pinned past the reminder time)
    # reaches each texter where they are.
    (sam_cell2, sam_first2), (dee_cell2, dee_first2) = sam_contacts[1], dee_contacts[1]
    for n, (cell, first) in enumerate(((sam_cell2, sam_first2), (dee_cell2, dee_first2)), 2):
        assert await w.twilio_inbound(cell, f"maybe, {first}", f"SM{n:032d}") == 200
    await w.slack.wait_for("chat.postMessage", lambda c: f"maybe, {sam_first2}" in c.text_dump())
    await w.discord.wait_for(lambda s: any(f"maybe, {dee_first2}" in c.text for c in s.calls))
    with time_machine.travel(utcnow() + timedelta(minutes=REMINDER_MINUTES + 1), tick=False):
        reminder_job(w.db)
    await w.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("channel") == "D" + SAM and "has waited for your answer" in c.text_dump(),
    )
    await w.discord.wait_for(
        lambda s: any("has waited for your answer" in c.text for c in w.discord_posts(DEE_DM))
    )
    assert sum("has waited for your answer" in d for d in w.slack_dm(SAM)) == 1
    assert sum("has waited for your answer" in c.text for c in w.discord_posts(DEE_DM)) == 1
    assert any("1 reply in *Mixed* has waited" in d for d in w.slack_dm(SAM))
    assert any("1 reply in **Mixed** has waited" in c.text for c in w.discord_posts(DEE_DM))
    # Its "Open them" brings each texter's waiting reply up where they text.
    await open_reminded_replies(w)

    # An admin on each platform releases the other platform's texter's unsent text: each hears it at home.
    await release_from_slack(w, "Dee Discord")
    await w.discord.wait_for(
        lambda s: any("was released by Ada Admin" in c.text for c in w.discord_posts(DEE_DM))
    )
    await release_from_discord(w, "Sam Slack")
    await w.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("channel") == "D" + SAM and "was released by" in c.text_dump(),
    )
    assert not any("released" in d for d in w.slack_dm(ADMIN))

    # Done for the Day on each platform gives the texter's waiting reply back, said where they are.
    await w.command(SAM, "done")
    await w.slack.wait_for("respond", lambda c: "1 unhandled reply went back" in c.text_dump())
    dee_done = await ask(w.discord, DEE, "done")
    assert "1 unhandled reply went back" in dee_done.text, dee_done.text

    # Stats, review and export count both texters' work, from either platform's admin.
    await w.command(ADMIN, "stats Mixed")
    stats = await w.slack.wait_for("respond", lambda c: "Needs first message" in c.text_dump())
    expected = "Needs first message: 2 (2 unassigned)"
    assert expected in stats.text_dump(), stats.text_dump()
    discord_stats = await ask(w.discord, OWNER_ID, "stats", options={"campaign": "Mixed"})
    assert expected in discord_stats.text, discord_stats.text
    for counts in (stats.text_dump(), discord_stats.text):
        assert "Needs response: 2" in counts and "Conversations: 2" in counts, counts
    review = await ask(w.discord, OWNER_ID, "review", options={"campaign": "Mixed", "status": "all"})
    assert "Sam Slack" in review.text and "Dee Discord" in review.text, review.text
    await w.command(ADMIN, "review Mixed convo")
    slack_review = await w.slack.wait_for("respond", lambda c: "Review of Mixed" in c.text_dump())
    assert "Sam Slack" in slack_review.text_dump() and "Dee Discord" in slack_review.text_dump()

    exported = await ask(w.discord, OWNER_ID, "export", options={"campaign": "Mixed"})
    await w.command(ADMIN, "export Mixed")
    uploaded = await w.slack.wait_for("upload")
    for data in (*exported.files.values(), uploaded.raw):
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert len(rows) == CONTACTS
        by_texter = Counter(r["texter name"] for r in rows)
        # Each kept what they texted but the unsent text an admin released and the reply they gave back.
        assert by_texter["Sam Slack"] == by_texter["Dee Discord"] == 2 * BATCH - 2, by_texter
    await w.sender.drain()
    assert len(w.twilio.messages()) == 2 * SENDS + 2  # nothing sent twice, nothing extra


async def test_a_discord_texters_escalation_reaches_the_admins_of_both_platforms(mixed: Mixed) -> None:
    w = mixed
    await connect(w)
    await launch_and_join(w)
    assert await asyncio.gather(slack_texting(w, 1), discord_texting(w, 1)) == [1, 1]
    await asyncio.to_thread(w.twilio.wait_for, 2)
    (cell, first) = next((c, f) for c, f, status in holdings(w)["discord"] if status == "messaged")
    assert await w.twilio_inbound(cell, f"who is this, {first}?", "SM" + "e" * 32) == 200

    # Dee escalates from her thread's menu: the Slack admin and the Discord owner (both admins of the
    # organization) get the conversation where each of them is.
    api = w.discord
    dee_thread = await api.wait_for(
        lambda s: next(
            (
                str(t.response["id"])
                for t in s.find("POST", rf"/channels/{CHANNEL_ID}/threads")
                if any(f"who is this, {first}?" in c.text for c in w.discord_posts(t.response["id"]))
            ),
            None,
        )
    )
    control = await api.wait_for(
        lambda s: next(
            (m for m in map(s.message, reversed(w.discord_posts(dee_thread))) if m["components"]), None
        )
    )
    menu = control_select(control, "more")
    escalate = next(o for o in menu["options"] if o["label"] == "Escalate to an admin")
    threads_before = len(api.find("POST", rf"/channels/{CHANNEL_ID}/threads"))
    await api.click(DEE, control, menu["custom_id"], values=[escalate["value"]])

    slack_copy = await w.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("channel") == "D" + ADMIN and f"who is this, {first}?" in c.text_dump(),
    )
    assert slack_copy.body.get("thread_ts")
    await api.wait_call("PUT", rf"/channels/\d+/thread-members/{OWNER_ID}")
    owner_thread = str(api.find("POST", rf"/channels/{CHANNEL_ID}/threads")[threads_before].response["id"])
    assert owner_thread != dee_thread
    await api.wait_for(
        lambda s: any(f"who is this, {first}?" in c.text for c in w.discord_posts(owner_thread))
    )
    assert not any(f"who is this, {first}?" in d for d in w.slack_dm(SAM))

    # The Slack admin answers it from Slack: the contact gets that text once.
    control = await w.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("thread_ts") == slack_copy.body["thread_ts"] and element(c.blocks, "tb_answer"),
    )
    yes = next(o for o in element(control.blocks, "tb_answer")["options"] if o["text"]["text"] == "Yes")
    where = {"channel_id": "D" + ADMIN, "message_ts": "ctl-admin", "thread_ts": slack_copy.body["thread_ts"]}
    await w.click(ADMIN, {"action_id": "tb_answer", "type": "static_select", "selected_option": yes}, **where)
    filled = await w.slack.wait_for(
        "chat.update", lambda c: c.body.get("ts") == "ctl-admin" and element(c.blocks, "tb_reply_send")
    )
    send = element(filled.blocks, "tb_reply_send")
    await w.click(ADMIN, {"action_id": "tb_reply_send", "value": send["value"]}, **where)
    *_, answer = await asyncio.to_thread(w.twilio.wait_for, 3)
    assert (answer.field("To"), answer.field("Body")) == (cell, f"Great, thanks {first}!")
    # The Discord owner's thread of the same conversation shows that answer, her controls anew below it,
    # before she could send it a second time.
    answered = f"Great, thanks {first}!"

    def controls_below_the_answer(s: DiscordStandIn) -> bool:
        posted = [s.message(c) for c in w.discord_posts(owner_thread)]
        lines = [i for i, m in enumerate(posted) if answered in (m["content"] or "")]
        return bool(lines) and posted[-1]["components"] != [] and lines[-1] < len(posted) - 1

    await api.wait_for(controls_below_the_answer)
    assert not any(answered in c.text for c in w.discord_posts(dee_thread))  # no longer hers
    await w.sender.drain()
    assert len(w.twilio.messages()) == 3


async def test_a_reply_given_back_on_slack_is_taken_and_answered_on_discord(mixed: Mixed) -> None:
    w = mixed
    await connect(w)
    dynamic_replies = CAMPAIGN_YAML.replace(
        "  dynamic_initials: true\n", "  dynamic_initials: true\n  dynamic_replies: true\n"
    )
    await launch_and_join(w, dynamic_replies)
    assert await asyncio.gather(slack_texting(w, 1), discord_texting(w, 1)) == [1, 1]
    await asyncio.to_thread(w.twilio.wait_for, 2)
    (cell, first) = next((c, f) for c, f, status in holdings(w)["slack"] if status == "messaged")
    assert await w.twilio_inbound(cell, f"tell me more, {first}", "SM" + "f" * 32) == 200
    await w.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("channel") == "D" + SAM and f"tell me more, {first}" in c.text_dump(),
    )
    # Sam is done for the day: the reply goes back to the pool, and Dee takes it from a replies join
    # message in Discord: its thread opens there with the whole conversation.
    await w.command(SAM, "done")
    await w.slack.wait_for("respond", lambda c: "1 unhandled reply went back" in c.text_dump())
    await ask(w.discord, OWNER_ID, "link", "replies", options={"campaign": "Mixed"})
    join = w.discord.message(w.discord_posts(CHANNEL_ID)[-1])
    await click(w.discord, DEE, join, "Join")
    api = w.discord

    def thread_of(text: str) -> str | None:
        for created in api.find("POST", rf"/channels/{CHANNEL_ID}/threads"):
            if any(text in c.text for c in w.discord_posts(created.response["id"])):
                return str(created.response["id"])
        return None

    thread = await api.wait_for(lambda s: thread_of(f"tell me more, {first}"))
    await api.wait_call("PUT", rf"/channels/{thread}/thread-members/{DEE}")
    assert any(f"Hi {first}, it's Sam Slack" in c.text for c in w.discord_posts(thread))  # Sam's first text

    # The contact's next text goes to Dee on Discord, not to Sam's old Slack thread.
    slack_posts = len(w.slack.of("chat.postMessage"))
    assert await w.twilio_inbound(cell, f"still there, {first}?", "SM" + "9" * 32) == 200
    await api.wait_for(lambda s: any(f"still there, {first}?" in c.text for c in w.discord_posts(thread)))
    answered = await answer_on_discord(w, first, f"still there, {first}?")
    assert answered == thread
    *_, sent = await asyncio.to_thread(w.twilio.wait_for, 3)
    assert (sent.field("To"), sent.field("Body")) == (cell, f"Great, thanks {first}!")
    assert not any(
        f"still there, {first}?" in c.text_dump() for c in w.slack.of("chat.postMessage")[slack_posts:]
    )

"""The rest of the surface: App Home, ad-hoc texts, texters and review with their buttons, settings, roles,
export, the Edit modal and escalation."""

from __future__ import annotations

import csv
import io
import json

import time_machine
from sqlalchemy import select

from bot.chat.relay import RelayWorker
from storage.models import Campaign, Contact, Message, User
from tests.bot.slack.conftest import ADMIN, TEXTER, TEXTER2, Driver
from tests.bot.slack.standin import event_body
from tests.bot.slack.test_admin import apply_campaign, setup_admin, upload_contacts
from tests.bot.slack.test_texters import (
    find_action,
    join_and_card,
    launched_with_join,
    reply_in_thread,
)


async def request_card(driver: Driver, user: str) -> dict:
    before = len(driver.slack.of("chat.update"))
    await driver.click(
        user,
        {"action_id": "tb_request_more", "value": json.dumps({"k": 1})},
        channel_id="D" + user,
        message_ts="9.1",
    )
    return (await driver.slack.wait_count("chat.update", before + 1))[-1]


async def test_app_home_shows_counts_and_request_more(driver: Driver) -> None:
    token = await launched_with_join(driver)
    await join_and_card(driver, token, TEXTER)
    await driver.dispatch(
        event_body({"type": "app_home_opened", "user": TEXTER, "tab": "home"}),
        content_type="application/json",
    )
    home = (await driver.slack.wait_for("views.publish")).view
    assert (await driver.slack.wait_for("views.publish")).body["user_id"] == TEXTER
    text = json.dumps(home)
    assert "Send First Texts (2)" in text and "Done for the Day" in text and "Test Drive" in text
    await driver.click(TEXTER, {"action_id": "tb_done_day", "value": json.dumps({"k": 1})}, view={"id": "VH"})
    await driver.slack.wait_for("chat.postMessage", lambda c: "2 unsent first texts" in c.text_dump())
    home_after = (await driver.slack.wait_count("views.publish", 2))[-1].view
    assert "Send First Texts (0)" in json.dumps(home_after)


async def test_app_home_lists_recent_conversations(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    await driver.dispatch(
        event_body({"type": "app_home_opened", "user": TEXTER, "tab": "home"}),
        content_type="application/json",
    )
    home = json.dumps((await driver.slack.wait_for("views.publish")).view)
    assert "Recent conversations" in home and "Ann One" in home and f"p{thread_ts}" in home


# Ad-hoc texts keep the campaign's texting hours (09:00-21:00 in the contact's zone): noon in New York.
@time_machine.travel("2026-03-10 16:00:00+00:00", tick=True)
async def test_adhoc_text_with_routing_choice(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(TEXTER, "text (212) 555-0142 Hi, this is Tess from the campaign")
    offer = driver.slack.of("respond")[-1]
    buttons = {b["value"]: b for blk in offer.blocks for b in blk.get("elements", []) if b.get("action_id")}
    routes = {json.loads(v)["r"]: v for v in buttons}
    assert set(routes) == {"open", "me", "anyone"}
    await driver.click(TEXTER, {"action_id": "tb_adhoc_send", "value": routes["open"]})
    done = await driver.slack.wait_for("respond", lambda c: "Sent to" in c.text_dump())
    assert "0142" in done.text_dump() and "+12125550142" not in done.text_dump()
    with driver.db.read() as session:
        row = session.execute(
            select(Contact.status, Contact.assigned_user_id, Message.body).join(
                Message, Message.contact_id == Contact.id
            )
        ).one()
    assert row.body == "Hi, this is Tess from the campaign" and row.assigned_user_id is not None
    # "open" starts the conversation's thread in the texter's DM right away.
    await driver.slack.wait_for(
        "chat.postMessage", lambda c: "Hi, this is Tess" in c.text_dump() and c.body.get("thread_ts")
    )


async def test_texters_list_with_release_and_review_unassign(driver: Driver) -> None:
    token = await launched_with_join(driver)
    await join_and_card(driver, token, TEXTER)
    await driver.command(ADMIN, 'texters "Test Drive"')
    listing = driver.slack.of("respond")[-1]
    assert "Tess Texter" in listing.text_dump() and "2 unsent" in listing.text_dump()
    menu = find_action(listing.blocks, "tb_texter_menu")
    release = next(o for o in menu["options"] if o["text"]["text"] == "Release unsent…")
    choose = {"action_id": "tb_texter_menu", "type": "static_select", "selected_option": release}
    await driver.click(TEXTER, choose)
    refused = await driver.slack.wait_for("respond", lambda c: "only an admin" in c.text_dump())
    assert refused.path.endswith(TEXTER)
    await driver.click(ADMIN, choose)
    form = await driver.slack.wait_for(
        "views.open", lambda c: c.view.get("callback_id") == "tb_release_texter"
    )
    assert "2 unsent first texts go back to the pool" in form.text_dump()  # asked first, as Unassign is
    await driver.submit(ADMIN, form.view, {})
    await driver.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.body.get("channel") == "D" + ADMIN
            and "Released 2 unsent first texts of Tess Texter" in c.text_dump()
        ),
    )
    await request_card(driver, TEXTER)
    await driver.command(ADMIN, f'review "Test Drive" needs-first-message <@{TEXTER}|tess>')
    review = driver.slack.of("respond")[-1]
    assert "+12125550101" in review.text_dump()  # admins see whole numbers
    unassign = find_action(review.blocks, "tb_review_unassign")
    await driver.click(ADMIN, {"action_id": "tb_review_unassign", "value": unassign["value"]})
    await driver.slack.wait_for("respond", lambda c: "Unassigned 2 contacts" in c.text_dump())
    with driver.db.read() as session:
        assert session.scalar(select(Contact.id).where(Contact.assigned_user_id.is_not(None))) is None


async def test_settings_modal_saves_and_refuses_bad_values(driver: Driver) -> None:
    await setup_admin(driver)
    await apply_campaign(driver)
    await driver.command(ADMIN, 'settings "Test Drive"')
    view = (await driver.slack.wait_count("views.open", 2))[-1].view
    assert view["callback_id"] == "tb_settings"

    def values(batch: str) -> dict:
        return {
            "flags": {"v": {"type": "checkboxes", "selected_options": [{"value": "dynamic_replies"}]}},
            "initials_batch_size": {"v": {"type": "number_input", "value": batch}},
            "replies_batch_size": {"v": {"type": "number_input", "value": "10"}},
            "max_initials_per_texter": {"v": {"type": "number_input", "value": "50"}},
            "release_unhandled_after_minutes": {"v": {"type": "number_input", "value": None}},
        }

    bad = json.loads((await driver.submit(ADMIN, view, values("0"))).body)
    assert "initials_batch_size" in bad["errors"]
    # Past every bound: the same refusal under the field, not an OverflowError from the database.
    huge = json.loads((await driver.submit(ADMIN, view, values("99999999999999999999999"))).body)
    assert "must be a whole number from 1 to 1,000,000" in huge["errors"]["initials_batch_size"]
    digits = json.loads((await driver.submit(ADMIN, view, values("9" * 5000))).body)
    assert digits["errors"] == {"initials_batch_size": "give a whole number"}
    ok = await driver.submit(ADMIN, view, values("25"))
    assert ok.status == 200 and not ok.body
    with driver.db.read() as session:
        c = session.execute(
            select(
                Campaign.dynamic_initials,
                Campaign.dynamic_replies,
                Campaign.initials_batch_size,
                Campaign.max_initials_per_texter,
            )
        ).one()
    assert tuple(c) == (False, True, 25, 50)


async def test_admin_add_and_export(driver: Driver) -> None:
    await setup_admin(driver)
    await apply_campaign(driver)
    await upload_contacts(driver)
    await driver.command(ADMIN, f"admin add <@{TEXTER2}|theo>")
    assert "Theo Texter is now an admin" in driver.slack.of("respond")[-1].text_dump()
    with driver.db.read() as session:
        assert session.scalar(select(User.role).where(User.name == "Theo Texter")) == "admin"
    await driver.command(TEXTER2, 'export "Test Drive"')
    complete = await driver.slack.wait_for("files.completeUploadExternal")
    assert complete.body.get("channel_id") == "C0CHAN"
    assert driver.slack.of("files.getUploadURLExternal")[0].body["filename"] == "test-drive-contacts.csv"
    uploaded = b"".join(driver.slack.uploads.values()).decode()
    rows = list(csv.DictReader(io.StringIO(uploaded)))
    assert [(r["first name"], r["cell"], r["status"]) for r in rows] == [
        ("Ann", "+12125550101", "needs_message"),
        ("Bob", "+12125550102", "needs_message"),
        ("Cat", "+12125550103", "needs_message"),
    ]
    assert "Will they vote?" in rows[0] and "tags" in rows[0]
    assert "3 contacts" in driver.responses(TEXTER2)[-1]

    await driver.command(TEXTER, 'export "Test Drive"')
    assert "only an admin" in driver.responses(TEXTER)[-1]
    assert len(driver.slack.of("files.completeUploadExternal")) == 1


async def test_edit_modal_then_send_and_escalate(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    control = [c for c in driver.slack.of("chat.postMessage") if c.body.get("thread_ts") == thread_ts][-1]
    edit = find_action(control.blocks, "tb_reply_edit")
    await driver.click(
        TEXTER,
        {"action_id": "tb_reply_edit", "value": edit["value"]},
        channel_id="D" + TEXTER,
        message_ts="ctl-9",
    )
    modal = (
        await driver.slack.wait_for("views.open", lambda c: c.view.get("callback_id") == "tb_reply_edit")
    ).view
    await driver.submit(
        TEXTER, modal, {"body": {"v": {"type": "plain_text_input", "value": "Thank you, Ann!"}}}
    )
    drafted = await driver.slack.wait_for("chat.update", lambda c: "Thank you, Ann!" in c.text_dump())
    assert drafted.body["ts"] == "ctl-9"
    send = find_action(drafted.blocks, "tb_reply_send")
    await driver.click(
        TEXTER, {"action_id": "tb_reply_send", "value": send["value"]}, channel_id="D" + TEXTER
    )
    await driver.slack.wait_for("chat.postMessage", lambda c: c.body.get("text") == "*You*: Thank you, Ann!")
    newest = [c for c in driver.slack.of("chat.postMessage") if c.body.get("thread_ts") == thread_ts][-1]
    menu = find_action(newest.blocks, "tb_menu")
    options = {o["text"]["text"]: o for g in menu["option_groups"] for o in g["options"]}
    await driver.click(
        TEXTER,
        {"action_id": "tb_menu", "type": "static_select", "selected_option": options["Escalate to an admin"]},
        channel_id="D" + TEXTER,
    )
    await driver.slack.wait_for("chat.update", lambda c: "Escalated" in c.text_dump())
    with driver.db.read() as session:
        row = session.execute(
            select(Contact.escalated, Contact.assigned_user_id).where(Contact.id == contact_id)
        ).one()
    assert tuple(row) == (True, None)
    # The admin hears of it through the relay, with the conversation in their own thread.
    await RelayWorker(driver.app.textbank_deps.chat.threads).run_once()
    await driver.slack.wait_for(
        "chat.postMessage", lambda c: c.body.get("channel") == "D" + ADMIN and "escalated" in c.text_dump()
    )


async def test_join_refusals_say_why(driver: Driver) -> None:
    await setup_admin(driver)
    await apply_campaign(driver)
    await driver.command(ADMIN, 'link initials "Test Drive"', channel_id="C0VOL")
    await driver.command(ADMIN, 'link replies "Test Drive"', channel_id="C0VOL")
    posts = await driver.slack.wait_count("chat.postMessage", 2)
    initials, replies = (json.loads(p.blocks[1]["elements"][0]["value"]) for p in posts[-2:])
    await driver.click(TEXTER, {"action_id": "tb_join", "value": json.dumps(initials)}, channel_id="C0VOL")
    assert "has not launched yet" in driver.responses(TEXTER)[-1]
    from tests.bot.slack.test_admin import upload_contacts

    await upload_contacts(driver)
    await driver.command(ADMIN, 'launch "Test Drive"')
    await driver.click(TEXTER, {"action_id": "tb_join", "value": json.dumps(replies)}, channel_id="C0VOL")
    assert "dynamic assignment for replies is turned off" in driver.responses(TEXTER)[-1]

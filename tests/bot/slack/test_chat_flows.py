"""The chat layer's flows seen through Slack: typed replies, drafts as rows, buttons that carry ids only,
notes that say what happened to whom, closed and released conversations, and the checks before sending."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import time_machine
from sqlalchemy import select, update

from bot.chat.actions import MAX_ENCODED
from core.optouts import opt_out
from storage.models import Campaign, Message, ReplyDraft, User
from tests.bot.slack.conftest import ADMIN, TEXTER, Driver
from tests.bot.slack.standin import Call, event_body
from tests.bot.slack.test_admin import CAMPAIGN_YAML, apply_campaign, setup_admin, upload_contacts
from tests.bot.slack.test_texters import find_action, join_and_card, launched_with_join, reply_in_thread

TAGGED_YAML = (
    CAMPAIGN_YAML
    + """\
tags:
  - name: Volunteer
"""
)


def controls(driver: Driver, thread_ts: str) -> list[Call]:
    return [
        c
        for c in driver.slack.of("chat.postMessage")
        if c.body.get("thread_ts") == thread_ts and find_action(c.blocks, "tb_menu") is not None
    ]


def values(node: Any) -> Iterator[str]:
    """Every ``value`` (buttons, options) anywhere in a block tree."""
    if isinstance(node, dict):
        for key, item in node.items():
            if key == "value" and isinstance(item, str):
                yield item
            else:
                yield from values(item)
    elif isinstance(node, list):
        for item in node:
            yield from values(item)


async def pick(driver: Driver, control: Call, option: str, ts: str = "ctl-1") -> None:
    menu = find_action(control.blocks, "tb_menu")
    assert menu is not None
    options = {o["text"]["text"]: o for g in menu["option_groups"] for o in g["options"]}
    await driver.click(
        TEXTER,
        {"action_id": "tb_menu", "type": "static_select", "selected_option": options[option]},
        channel_id="D" + TEXTER,
        message_ts=ts,
    )


async def test_a_typed_reply_becomes_the_draft_and_goes_with_one_send(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    typed = {
        "type": "message",
        "channel": "D" + TEXTER,
        "channel_type": "im",
        "user": TEXTER,
        "text": "Thanks Ann &amp; see you at the polls!",
        "ts": "50.1",
        "thread_ts": thread_ts,
    }
    before = len(controls(driver, thread_ts))
    response = await driver.dispatch(event_body(typed), content_type="application/json")
    assert response.status == 200
    control = controls(driver, thread_ts)[before]  # re-posted below the typed text
    assert "Thanks Ann &amp; see you at the polls!" in control.text_dump()
    with driver.db.read() as session:
        assert session.scalar(select(ReplyDraft.body)) == "Thanks Ann & see you at the polls!"
    send = find_action(control.blocks, "tb_reply_send")
    assert send is not None and "polls" not in send["value"]  # the button names the draft, not its text
    await driver.click(
        TEXTER, {"action_id": "tb_reply_send", "value": send["value"]}, channel_id="D" + TEXTER
    )
    with driver.db.read() as session:
        bodies = list(
            session.scalars(select(Message.body).where(Message.direction == "out").order_by(Message.id))
        )
        assert session.scalar(select(ReplyDraft.id)) is None  # sent: the draft is gone
    assert bodies[-1] == "Thanks Ann & see you at the polls!"
    # A text typed outside a conversation thread is not a reply.
    stray = {**typed, "ts": "51.1", "thread_ts": "no-such-thread", "text": "hello?"}
    await driver.dispatch(event_body(stray), content_type="application/json")
    with driver.db.read() as session:
        assert session.scalar(select(ReplyDraft.id)) is None


async def test_no_button_value_is_longer_than_discords_custom_id(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    control = controls(driver, thread_ts)[-1]
    answer = find_action(control.blocks, "tb_answer")
    yes = next(o for o in answer["options"] if o["text"]["text"] == "Yes")
    await driver.click(
        TEXTER,
        {"action_id": "tb_answer", "type": "static_select", "selected_option": yes},
        channel_id="D" + TEXTER,
        message_ts="ctl-1",
    )
    filled = await driver.slack.wait_for(
        "chat.update", lambda c: find_action(c.blocks, "tb_reply_send") is not None
    )
    assert "Great, thanks Ann!" in filled.text_dump()
    await driver.command(ADMIN, 'texters "Test Drive"')
    await driver.command(ADMIN, 'review "Test Drive" all')
    with time_machine.travel("2026-03-10 16:00:00+00:00", tick=True):
        await driver.command(TEXTER, "text (212) 555-0142 " + "A long text. " * 100)
    seen = [v for call in driver.slack.calls for v in values(call.blocks)]
    assert len(seen) > 10
    assert max(len(v) for v in seen) <= MAX_ENCODED, max(seen, key=len)


async def test_escalation_says_whom_and_that_it_left_the_list(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    await pick(driver, controls(driver, thread_ts)[-1], "Escalate to an admin")
    note = (await driver.slack.wait_for("chat.update", lambda c: "Escalated" in c.text_dump())).text_dump()
    assert "*Ann* (***-***-0101)" in note or "*Ann* (" in note
    assert "0101" in note and "+12125550101" not in note
    assert "Test Drive" in note and "left your list" in note
    assert '"tb_answer"' not in note and '"tb_reply_send"' not in note


async def test_an_applied_tag_shows_in_the_thread_and_is_named(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver, TAGGED_YAML)
    await pick(driver, controls(driver, thread_ts)[-1], "Volunteer")
    tagged = await driver.slack.wait_for("chat.update", lambda c: "Tagged" in c.text_dump())
    dump = tagged.text_dump()
    assert "Tagged *Ann*" in dump and "Test Drive" in dump and "*Volunteer*" in dump
    assert "Tags: Volunteer" in dump
    menu = find_action(tagged.blocks, "tb_menu")
    offered = [o["text"]["text"] for g in menu["option_groups"] for o in g["options"]]
    assert "Volunteer" not in offered  # said once: not offered again


async def test_a_closed_conversation_shows_its_state_without_an_answer_select(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    await pick(driver, controls(driver, thread_ts)[-1], "Close")
    closed = await driver.slack.wait_for("chat.update", lambda c: "Closed the conversation" in c.text_dump())
    dump = closed.text_dump()
    assert "*Closed*" in dump and "Test Drive" in dump
    assert (
        find_action(closed.blocks, "tb_answer") is None
        and find_action(closed.blocks, "tb_reply_send") is None
    )
    assert dump.count("Closed the conversation") == 1


async def test_an_opted_out_conversation_shows_its_state(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    await pick(driver, controls(driver, thread_ts)[-1], "Opt out")
    done = await driver.slack.wait_for("chat.update", lambda c: "Opted out *Ann*" in c.text_dump())
    dump = done.text_dump()
    assert "never texted again" in dump and find_action(done.blocks, "tb_answer") is None
    menu = find_action(done.blocks, "tb_menu")
    offered = [o["text"]["text"] for g in menu["option_groups"] for o in g["options"]]
    assert "Opt out" not in offered


async def test_done_for_the_day_marks_the_released_conversations_controls_at_once(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    control = controls(driver, thread_ts)[-1]
    await driver.command(TEXTER, "done")
    assert "1 unhandled reply went back" in driver.responses(TEXTER)[-1]
    released = await driver.slack.wait_for(
        "chat.update", lambda c: c.body.get("ts") == control.body.get("ts") or "released" in c.text_dump()
    )
    assert "released from your list" in released.text_dump()
    assert (
        find_action(released.blocks, "tb_reply_send") is None
        and find_action(released.blocks, "tb_menu") is None
    )


async def test_text_command_checks_the_number_and_the_opt_out_list_before_offering_routes(
    driver: Driver,
) -> None:
    await setup_admin(driver)
    await driver.command(TEXTER, "text 555 Hi there")
    bad = driver.slack.of("respond")[-1]
    assert "tb_adhoc_send" not in bad.text_dump()
    with driver.db.session() as session:
        org_id = session.scalar(select(User.organization_id))
        opt_out(session, org_id, "+12125550142", source="carrier", reason="test")
    await driver.command(TEXTER, "text (212) 555-0142 Hi there")
    refused = driver.slack.of("respond")[-1].text_dump()
    assert "opted out" in refused and "tb_adhoc_send" not in refused


async def test_assign_and_max_as_commands_and_as_actions_on_the_texters_list(driver: Driver) -> None:
    token = await launched_with_join(driver)
    await join_and_card(driver, token, TEXTER)  # Tess holds 2 of the 3 contacts
    await driver.command(ADMIN, f'assign "Test Drive" <@{TEXTER}|tess> 1')
    refused = driver.responses(ADMIN)[-1]
    assert "dynamic assignment for initials is on" in refused and "Test Drive" in refused
    with driver.db.session() as session:
        session.execute(update(Campaign).values(dynamic_initials=False))
    await driver.command(ADMIN, f'assign "Test Drive" <@{TEXTER}|tess> 5')
    assert "Gave 1 first text to Tess Texter" in driver.responses(ADMIN)[-1]
    assert "only 1 unassigned initials were left" in driver.responses(ADMIN)[-1]
    await driver.command(ADMIN, f'max "Test Drive" <@{TEXTER}|tess> 5')
    assert "maximum in *Test Drive* is now 5" in driver.responses(ADMIN)[-1]
    await driver.command(ADMIN, f'max "Test Drive" <@{TEXTER}|tess> none')
    assert "the campaign's applies (no limit)" in driver.responses(ADMIN)[-1]
    await driver.command(TEXTER, f'max "Test Drive" <@{TEXTER}|tess> 500')
    assert "only an admin" in driver.responses(TEXTER)[-1]

    await driver.command(ADMIN, 'texters "Test Drive"')
    menu = find_action(driver.slack.of("respond")[-1].blocks, "tb_texter_menu")
    assert all(len(o["value"]) <= MAX_ENCODED for o in menu["options"])
    maximum = next(o for o in menu["options"] if o["text"]["text"] == "Set maximum…")
    await driver.click(
        ADMIN, {"action_id": "tb_texter_menu", "type": "static_select", "selected_option": maximum}
    )
    form = await driver.slack.wait_for("views.open", lambda c: c.view.get("callback_id") == "tb_set_max")
    bad = await driver.submit(ADMIN, form.view, {"max": {"v": {"type": "plain_text_input", "value": "lots"}}})
    assert "max" in json.loads(bad.body)["errors"]
    ok = await driver.submit(ADMIN, form.view, {"max": {"v": {"type": "plain_text_input", "value": "7"}}})
    assert ok.status == 200
    await driver.slack.wait_for(
        "chat.postMessage", lambda c: c.body.get("channel") == "D" + ADMIN and "is now 7" in c.text_dump()
    )


async def test_suggested_commands_quote_titles_with_spaces(driver: Driver) -> None:
    await setup_admin(driver)
    await apply_campaign(driver)
    await upload_contacts(driver)
    await driver.command(ADMIN, 'launch "Test Drive"')
    launched = driver.responses(ADMIN)[-1]
    assert '/textbank link initials \\"Test Drive\\"' in launched


async def test_optout_list_pages_the_organizations_opt_outs(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(ADMIN, "optout list")
    assert "The opt-out list is empty." in driver.responses(ADMIN)[-1]
    await driver.command(ADMIN, "optout (212) 555-0199")
    await driver.command(ADMIN, "optout list")
    listing = driver.responses(ADMIN)[-1]
    assert "+12125550199" in listing and "1 number, page 1 of 1" in listing
    await driver.command(ADMIN, "optout list 2")
    assert "there is no page 2" in driver.responses(ADMIN)[-1]
    await driver.command(TEXTER, "optout list")
    assert "only an admin" in driver.responses(TEXTER)[-1]
    await driver.command(ADMIN, "optout add (212) 555-0198")  # the words Discord's command uses work too
    await driver.command(ADMIN, "optout list")
    assert "+12125550198" in driver.responses(ADMIN)[-1] and "2 numbers" in driver.responses(ADMIN)[-1]
    await driver.command(ADMIN, "optout add")
    assert "optout add NUMBER" in driver.responses(ADMIN)[-1]


async def test_the_admin_home_shows_progress_and_what_waits_with_its_action(driver: Driver) -> None:
    contact_id, _thread = await reply_in_thread(driver)
    await pick(driver, controls(driver, _thread)[-1], "Escalate to an admin")
    await driver.slack.wait_for("chat.update", lambda c: "Escalated" in c.text_dump())
    await driver.dispatch(
        event_body({"type": "app_home_opened", "user": ADMIN, "tab": "home"}), content_type="application/json"
    )
    home = await driver.slack.wait_for("views.publish", lambda c: c.body.get("user_id") == ADMIN)
    text = json.dumps(home.view)
    assert "Admin" in text and "Test Drive" in text and "textable contact" in text
    assert "1 escalated conversation" in text and "0 unassigned replies" in text
    opener = find_action(home.view["blocks"], "tb_open")
    assert opener is not None and json.loads(opener["value"]) == {"c": contact_id}
    await driver.click(ADMIN, {"action_id": "tb_open", "value": opener["value"]}, view={"id": "VH"})
    await driver.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.body.get("channel") == "D" + ADMIN
            and c.body.get("thread_ts")
            and "Yes I will!" in c.text_dump()
        ),
    )
    # A texter's Home tab has no admin part.
    await driver.dispatch(
        event_body({"type": "app_home_opened", "user": TEXTER, "tab": "home"}),
        content_type="application/json",
    )
    texter_home = await driver.slack.wait_for("views.publish", lambda c: c.body.get("user_id") == TEXTER)
    assert "escalated conversation" not in json.dumps(texter_home.view)

"""Texters in Slack: join, the Send First Texts card, replies in threads, authorization, the relay."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bot.chat.relay import RelayWorker
from core.inbound import receive_inbound
from storage.models import ChatThread, Contact, Message, Notice, QuestionResponse, User
from tests.bot.slack.conftest import ADMIN, TEXTER, TEXTER2, Driver
from tests.bot.slack.standin import Call
from tests.bot.slack.test_admin import CAMPAIGN_YAML, apply_campaign, setup_admin, upload_contacts


async def launched_with_join(driver: Driver, campaign_yaml: str = CAMPAIGN_YAML) -> str:
    """A launched campaign with 3 contacts (batch size 2) and its initials join button; returns the token."""
    await setup_admin(driver)
    await apply_campaign(driver, campaign_yaml)
    await upload_contacts(driver)
    await driver.command(ADMIN, 'launch "Test Drive"')
    await driver.command(ADMIN, 'link initials "Test Drive"', channel_id="C0VOL")
    join = await driver.slack.wait_for("chat.postMessage", lambda c: c.body.get("channel") == "C0VOL")
    return json.loads(join.blocks[1]["elements"][0]["value"])["t"]


def dm_cards(driver: Driver, user_id: str) -> list[Call]:
    return [c for c in driver.slack.of("chat.postMessage") if c.body.get("channel") == "D" + user_id]


def send_button(blocks: list[dict]) -> dict | None:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == "tb_send_initial":
                return element
    return None


def find_action(blocks: list[dict], action_id: str) -> dict | None:
    for block in blocks:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return element
    return None


async def join_and_card(driver: Driver, token: str, user_id: str) -> Call:
    await driver.click(
        user_id, {"action_id": "tb_join", "value": json.dumps({"t": token})}, channel_id="C0VOL"
    )
    return dm_cards(driver, user_id)[-1]


async def click_send(driver: Driver, user_id: str, card_blocks: list[dict], card_ts: str = "9.1") -> Call:
    button = send_button(card_blocks)
    assert button is not None, card_blocks
    before = len(driver.slack.of("chat.update"))
    await driver.click(
        user_id,
        {"action_id": "tb_send_initial", "value": button["value"]},
        channel_id="D" + user_id,
        message_ts=card_ts,
    )
    return (await driver.slack.wait_count("chat.update", before + 1))[-1]


async def test_join_then_send_first_texts_one_click_per_text(driver: Driver) -> None:
    token = await launched_with_join(driver)
    first = await join_and_card(driver, token, TEXTER)
    # Joining gives the first batch at once: the card shows the first contact, never "batch done".
    dump = first.text_dump()
    assert "You joined" in dump and "2 contacts are yours to text" in dump
    assert "sent every text" not in dump and find_action(first.blocks, "tb_request_more") is None
    assert "Hi Ann, it's Tess Texter. Will you vote?" in dump
    assert "+12125550101" not in dump and "0101" in dump  # masked for texters
    second = await click_send(driver, TEXTER, first.blocks)
    assert "Sent to Ann One" in second.text_dump() and "Hi Bob" in second.text_dump()
    # The same (stale) first card clicked again sends nothing twice.
    again = await click_send(driver, TEXTER, first.blocks)
    assert "already sent" in again.text_dump()
    done = await click_send(driver, TEXTER, second.blocks)
    assert "sent every text of your batch" in done.text_dump()
    assert find_action(done.blocks, "tb_request_more") is not None
    assert find_action(done.blocks, "tb_done_for_now") is not None
    with driver.db.read() as session:
        bodies = list(session.scalars(select(Message.body).order_by(Message.id)))
    assert bodies == ["Hi Ann, it's Tess Texter. Will you vote?", "Hi Bob, it's Tess Texter. Will you vote?"]


async def test_another_texter_cannot_click_my_card(driver: Driver) -> None:
    token = await launched_with_join(driver)
    card = await join_and_card(driver, token, TEXTER)
    await join_and_card(driver, token, TEXTER2)
    stolen = await click_send(driver, TEXTER2, card.blocks, card_ts="9.2")
    assert "no longer assigned to you" in stolen.text_dump()
    with driver.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


async def test_retried_request_sends_once(driver: Driver) -> None:
    token = await launched_with_join(driver)
    card = await join_and_card(driver, token, TEXTER)
    from tests.bot.slack.standin import block_actions_body

    body = block_actions_body(
        {"action_id": "tb_send_initial", "value": send_button(card.blocks)["value"]},
        user_id=TEXTER,
        channel_id="D" + TEXTER,
        message_ts="9.1",
    )
    for retry in (None, 1, 2):
        response = await driver.dispatch(body, retry_num=retry)
        assert response.status == 200
    with driver.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


async def reply_in_thread(driver: Driver, campaign_yaml: str = CAMPAIGN_YAML) -> tuple[int, str]:
    """Tess texts Ann, Ann replies; the relay opens the thread. Returns (contact id, thread ts)."""
    token = await launched_with_join(driver, campaign_yaml)
    card = await join_and_card(driver, token, TEXTER)
    await click_send(driver, TEXTER, card.blocks)
    with driver.db.session() as session:
        session.execute(Message.__table__.update().values(status="sent"))
        result = receive_inbound(
            session, from_cell="+12125550101", to="+15005550006", body="Yes I will!", provider_sid="SM-in-1"
        )
    relay = RelayWorker(driver.app.textbank_deps.chat.threads)
    assert await relay.run_once() == (1, 0)
    with driver.db.read() as session:
        thread = session.scalars(select(ChatThread.thread_id)).one()
    return result.contact_id, thread


async def test_reply_lands_in_its_thread_and_the_prepared_answer_is_sent(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    in_thread = [c for c in driver.slack.of("chat.postMessage") if c.body.get("thread_ts") == thread_ts]
    texts = [c.body.get("text") for c in in_thread]
    assert texts[:2] == ["*You*: Hi Ann, it's Tess Texter. Will you vote?", "*Ann One*: Yes I will!"]
    control = in_thread[-1]
    select_el = find_action(control.blocks, "tb_answer")
    yes = next(o for o in select_el["options"] if o["text"]["text"] == "Yes")
    await driver.click(
        TEXTER,
        {"action_id": "tb_answer", "type": "static_select", "selected_option": yes},
        channel_id="D" + TEXTER,
        message_ts=control.body.get("ts", "c.1"),
    )
    updated = await driver.slack.wait_for("chat.update", lambda c: "Great, thanks Ann!" in c.text_dump())
    send = find_action(updated.blocks, "tb_reply_send")
    await driver.click(
        TEXTER, {"action_id": "tb_reply_send", "value": send["value"]}, channel_id="D" + TEXTER
    )
    await driver.click(
        TEXTER, {"action_id": "tb_reply_send", "value": send["value"]}, channel_id="D" + TEXTER
    )
    await driver.slack.wait_for(
        "chat.postMessage", lambda c: c.body.get("text") == "*You*: Great, thanks Ann!"
    )
    with driver.db.read() as session:
        outs = list(
            session.scalars(select(Message.body).where(Message.direction == "out").order_by(Message.id))
        )
        status = session.scalar(select(Contact.status).where(Contact.id == contact_id))
        answers = list(session.scalars(select(QuestionResponse.value)))
    assert outs[-1] == "Great, thanks Ann!" and outs.count("Great, thanks Ann!") == 1
    assert status == "convo" and answers == ["Yes"]
    # A second relay round posts nothing twice.
    posted = len(driver.slack.of("chat.postMessage"))
    assert await RelayWorker(driver.app.textbank_deps.chat.threads).run_once() == (0, 0)
    assert len(driver.slack.of("chat.postMessage")) == posted


async def test_menu_opt_out_and_done_for_the_day(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    control = [c for c in driver.slack.of("chat.postMessage") if c.body.get("thread_ts") == thread_ts][-1]
    menu = find_action(control.blocks, "tb_menu")
    options = {o["text"]["text"]: o for g in menu["option_groups"] for o in g["options"]}
    await driver.click(
        TEXTER,
        {"action_id": "tb_menu", "type": "static_select", "selected_option": options["Opt out"]},
        channel_id="D" + TEXTER,
    )
    await driver.slack.wait_for("chat.update", lambda c: "Opted out" in c.text_dump())
    await driver.command(TEXTER, "done")
    assert "Done for the day" in driver.responses(TEXTER)[-1]
    with driver.db.read() as session:
        contact = session.execute(
            select(Contact.opted_out, Contact.status).where(Contact.id == contact_id)
        ).one()
        held = session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.assigned_user_id.is_not(None), Contact.status == "needs_message")
        )
    assert tuple(contact) == (True, "closed") and held == 0


async def test_relay_waits_out_rate_limits(driver: Driver) -> None:
    await setup_admin(driver)
    with driver.db.session() as session:
        from core.notices import add_notice

        admin = session.scalars(select(User)).one()
        add_notice(
            session,
            user_id=admin.id,
            kind="released",
            payload={"campaign_title": "X", "total": 3, "initials": 3, "replies": 0},
        )
    driver.slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    assert await RelayWorker(driver.app.textbank_deps.chat.threads).run_once() == (1, 0)
    assert [c.method for c in driver.slack.calls if c.method.startswith("chat.postMessage")][-2:] == [
        "chat.postMessage#429",
        "chat.postMessage",
    ]
    with driver.db.read() as session:
        assert session.scalar(select(Notice.status)) == "posted"


async def test_another_texter_cannot_use_my_thread_controls(driver: Driver) -> None:
    contact_id, thread_ts = await reply_in_thread(driver)
    control = [c for c in driver.slack.of("chat.postMessage") if c.body.get("thread_ts") == thread_ts][-1]
    yes = next(o for o in find_action(control.blocks, "tb_answer")["options"] if o["text"]["text"] == "Yes")
    await driver.click(
        TEXTER2,
        {"action_id": "tb_answer", "type": "static_select", "selected_option": yes},
        channel_id="D" + TEXTER2,
        message_ts="x.1",
    )
    refused = await driver.slack.wait_for("chat.update", lambda c: c.body.get("ts") == "x.1")
    assert "Great, thanks" not in refused.text_dump() and "assigned" in refused.text_dump()
    forged = json.dumps({"c": contact_id, "s": "needs_response", "m": 0, "b": "hijacked"})
    await driver.click(
        TEXTER2, {"action_id": "tb_reply_send", "value": forged}, channel_id="D" + TEXTER2, message_ts="x.2"
    )
    await driver.slack.wait_for("chat.update", lambda c: c.body.get("ts") == "x.2")
    with driver.db.read() as session:
        assert (
            session.scalar(select(func.count()).select_from(Message).where(Message.body == "hijacked")) == 0
        )
        assert session.scalar(select(func.count()).select_from(QuestionResponse)) == 0

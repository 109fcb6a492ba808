"""Send Replies in Slack: a reply a texter let go is claimed by another through the replies join link, and
the Home tab's Send Replies button opens the threads of the replies a texter holds."""

from __future__ import annotations

from sqlalchemy import select, update

from storage.models import Campaign, Contact, PlatformIdentity
from tests.bot.slack.conftest import ADMIN, TEXTER, TEXTER2, Driver
from tests.bot.slack.standin import event_body
from tests.bot.slack.test_escalated_replies import in_dm, thread_of
from tests.bot.slack.test_texters import find_action, reply_in_thread

TO_ANSWER = "1 conversation to answer."  # plural right


async def replies_join_value(driver: Driver) -> str:
    """Turn on dynamic assignment for replies and post the campaign's replies join button."""
    with driver.db.session() as session:
        session.execute(update(Campaign).values(dynamic_replies=True))
    before = len(driver.slack.of("chat.postMessage"))
    await driver.command(ADMIN, 'link replies "Test Drive"', channel_id="C0VOL")
    join = (await driver.slack.wait_count("chat.postMessage", before + 1))[-1]
    assert join.body.get("channel") == "C0VOL"
    return str(join.blocks[1]["elements"][0]["value"])


def told_to_answer(driver: Driver, user: str) -> int:
    return sum(c.body.get("text") == TO_ANSWER for c in in_dm(driver, user))


async def test_a_released_reply_is_claimed_through_the_replies_join_link_and_send_replies(
    driver: Driver,
) -> None:
    contact_id, _tess_thread = await reply_in_thread(driver)
    await driver.command(TEXTER, "done")  # Tess lets Ann's unhandled reply go
    await driver.slack.wait_for("respond", lambda c: "1 unhandled reply went back" in c.text_dump())
    value = await replies_join_value(driver)

    await driver.click(TEXTER2, {"action_id": "tb_join", "value": value}, channel_id="C0VOL")
    await driver.slack.wait_for(
        "chat.postMessage",
        lambda c: c.body.get("channel") == "D" + TEXTER2 and c.body.get("text") == TO_ANSWER,
    )
    with driver.db.read() as session:
        holder = session.scalars(
            select(PlatformIdentity.platform_user_id)
            .join(Contact, Contact.assigned_user_id == PlatformIdentity.user_id)
            .where(Contact.id == contact_id)
        ).one()
    assert holder == TEXTER2
    theo_thread = thread_of(driver, contact_id, TEXTER2)
    assert any(
        c.body.get("thread_ts") == theo_thread and c.body.get("text") == "*Ann One*: Yes I will!"
        for c in in_dm(driver, TEXTER2)
    )

    # Theo's Home tab offers Send Replies for the reply he now holds; clicking it lists that reply again.
    await driver.dispatch(
        event_body({"type": "app_home_opened", "user": TEXTER2, "tab": "home"}),
        content_type="application/json",
    )
    home = await driver.slack.wait_for("views.publish", lambda c: c.body.get("user_id") == TEXTER2)
    button = find_action(home.view["blocks"], "tb_start_replies")
    assert button is not None and button["text"]["text"] == "Send Replies (1)"
    click = {"action_id": "tb_start_replies", "value": button["value"]}
    await driver.click(TEXTER2, click, view={"id": "VH"})
    await driver.slack.wait_for("chat.postMessage", lambda c: told_to_answer(driver, TEXTER2) == 2)
    assert thread_of(driver, contact_id, TEXTER2) == theo_thread

"""A reply on an escalated conversation reaches its new holders in Slack: the relay posts the contact's text
into the conversation's thread in the admin's DM (or a team member's), not into the texter's who let it go."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.chat.relay import RelayWorker
from core.conversations import escalate
from core.inbound import receive_inbound
from storage.models import ChatThread, Notice, PlatformIdentity, User
from tests.bot.slack.conftest import ADMIN, TEXTER, TEXTER2, Driver
from tests.bot.slack.standin import Call
from tests.bot.slack.test_texters import find_action, reply_in_thread
from tests.core.factories import add_team_member, make_team

ANN = "+12125550101"
OUR_NUMBER = "+15005550006"


def in_dm(driver: Driver, user: str) -> list[Call]:
    return [c for c in driver.slack.of("chat.postMessage") if c.body.get("channel") == "D" + user]


def user_of(session: Session, slack_id: str) -> User:
    return session.scalars(
        select(User).join(PlatformIdentity).where(PlatformIdentity.platform_user_id == slack_id)
    ).one()


def thread_of(driver: Driver, contact_id: int, user: str) -> str:
    with driver.db.read() as session:
        return session.scalars(
            select(ChatThread.thread_id)
            .join(PlatformIdentity, PlatformIdentity.user_id == ChatThread.user_id)
            .where(ChatThread.contact_id == contact_id, PlatformIdentity.platform_user_id == user)
        ).one()


async def escalate_from_the_menu(driver: Driver, thread_ts: str, option: str) -> None:
    """Tess picks ``option`` in her thread's menu."""
    control = [c for c in driver.slack.of("chat.postMessage") if c.body.get("thread_ts") == thread_ts][-1]
    menu = find_action(control.blocks, "tb_menu")
    options = {o["text"]["text"]: o for g in menu["option_groups"] for o in g["options"]}
    await driver.click(
        TEXTER,
        {"action_id": "tb_menu", "type": "static_select", "selected_option": options[option]},
        channel_id="D" + TEXTER,
    )


async def contact_replies(driver: Driver, body: str, sid: str) -> None:
    with driver.db.session() as session:
        assert receive_inbound(session, from_cell=ANN, to=OUR_NUMBER, body=body, provider_sid=sid).stored


async def test_a_reply_on_a_conversation_escalated_to_the_admins_lands_in_the_admins_thread(
    driver: Driver,
) -> None:
    contact_id, tess_thread = await reply_in_thread(driver)
    await escalate_from_the_menu(driver, tess_thread, "Escalate to an admin")
    await driver.slack.wait_for("chat.update", lambda c: "Escalated" in c.text_dump())
    relay = RelayWorker(driver.app.textbank_deps.chat.threads)
    # The escalation itself opens the conversation's thread in the admin's DM, history included.
    assert await relay.run_once() == (1, 0)
    admin_thread = thread_of(driver, contact_id, ADMIN)
    assert any(
        c.body.get("thread_ts") == admin_thread and c.body.get("text") == "*Ann One*: Yes I will!"
        for c in in_dm(driver, ADMIN)
    )
    tess_before, admin_before = len(in_dm(driver, TEXTER)), len(in_dm(driver, ADMIN))

    await contact_replies(driver, "Can a real organizer call me?", "SM-esc-1")
    with driver.db.read() as session:
        told = session.execute(
            select(Notice.kind, Notice.platform, PlatformIdentity.platform_user_id)
            .join(PlatformIdentity, PlatformIdentity.user_id == Notice.user_id)
            .where(Notice.status == "pending")
        ).all()
    assert [tuple(row) for row in told] == [("reply", "slack", ADMIN)]
    assert await relay.run_once() == (1, 0)

    posted = in_dm(driver, ADMIN)[admin_before:]
    reply = [c for c in posted if c.body.get("text") == "*Ann One*: Can a real organizer call me?"]
    assert len(reply) == 1 and reply[0].body.get("thread_ts") == admin_thread
    # The thread's controls are posted anew under it, so the admin can answer from there.
    control = posted[-1]
    assert control.body.get("thread_ts") == admin_thread and control.body.get("text") == "Reply controls"
    assert find_action(control.blocks, "tb_answer") is not None
    # The texter who let it go hears nothing of it.
    assert in_dm(driver, TEXTER)[tess_before:] == []
    # Another round posts nothing twice.
    assert await relay.run_once() == (0, 0)
    assert len(in_dm(driver, ADMIN)) == admin_before + len(posted)


async def test_a_reply_on_a_conversation_escalated_to_a_team_lands_in_each_members_thread(
    driver: Driver,
) -> None:
    contact_id, _thread = await reply_in_thread(driver)
    await driver.command(TEXTER2, "help")  # Theo gets his textbank account
    with driver.db.session() as session:
        tess, theo = (user_of(session, slack_id) for slack_id in (TEXTER, TEXTER2))
        team = make_team(session, tess.organization_id, "Callers")
        add_team_member(session, team, theo)
        escalate(session, tess, contact_id, team.id)
    relay = RelayWorker(driver.app.textbank_deps.chat.threads)
    await relay.run_once()
    tess_before, admin_before = len(in_dm(driver, TEXTER)), len(in_dm(driver, ADMIN))

    await contact_replies(driver, "Llámenme, por favor", "SM-esc-2")
    await relay.run_once()
    theo_thread = thread_of(driver, contact_id, TEXTER2)
    assert [
        c.body.get("thread_ts")
        for c in in_dm(driver, TEXTER2)
        if c.body.get("text") == "*Ann One*: Llámenme, por favor"
    ] == [theo_thread]
    # The admins do not hold a team's escalation, nor does Tess any more: nothing new for them.
    assert in_dm(driver, ADMIN)[admin_before:] == [] and in_dm(driver, TEXTER)[tess_before:] == []

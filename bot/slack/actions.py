"""Clicks on textbank's buttons and selects: each one neutral call, its answer rendered in place.

Every click is acked first. A click on a card replaces the card with what the chat layer returns (on the
Home tab the card goes to the DM instead); a click on a thread's control message is redrawn by the chat
layer's thread keeper; admin buttons answer ephemerally.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.chat import actions as A
from bot.chat import adhoc, admin, replies, texting, texts
from bot.chat.actions import Action
from bot.chat.actor import Actor
from bot.chat.admin import FieldRefused
from bot.chat.surface import MessageRef
from bot.chat.views import Message
from bot.slack import home, render
from bot.slack.deps import SlackDeps, respond_with
from core.errors import Refused

CardFlow = Callable[[Actor, Action], Awaitable[Message]]


def clicked(body: dict[str, Any]) -> MessageRef | None:
    """The message the click was on (None on the Home tab)."""
    container = body.get("container") or {}
    if container.get("type") != "message":
        return None
    return MessageRef(str(container.get("channel_id", "")), str(container.get("message_ts", "")))


def register(app: AsyncApp, deps: SlackDeps) -> None:
    chat = deps.chat

    def on_card(name: str) -> None:
        """A card button: the card is replaced in place by the flow's answer (on the Home tab: a new DM)."""

        @app.action(name)
        async def handle(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            actor = await deps.actor(body["team"]["id"], body["user"]["id"])
            where = clicked(body)

            async def show(answer: Message) -> None:
                if where is not None:
                    await chat.surface.update(where, answer)
                else:
                    await deps.dm(actor.platform_user_id, answer)

            await texting.card_click(chat, actor, render.clicked_action(action), show)

    for name in texting.CARD_FLOWS:
        on_card(name)

    def on_control(name: str, flow: Callable[[Actor, Action, MessageRef], Awaitable[None]]) -> None:
        """A click on a conversation's control message: the chat layer redraws or re-posts it."""

        @app.action(name)
        async def handle(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            where = clicked(body)
            if where is None:
                return
            actor = await deps.actor(body["team"]["id"], body["user"]["id"])
            await flow(actor, render.clicked_action(action), where)

    on_control(A.ANSWER, lambda actor, a, where: replies.answer(chat, actor, a, where))
    on_control(A.REPLY_SEND, lambda actor, a, where: replies.send(chat, actor, a, where))
    on_control(A.MENU, lambda actor, a, where: replies.menu(chat, actor, a, where))

    def on_answer(name: str, flow: CardFlow, *, replace: bool = False) -> None:
        """A button answered ephemerally (or in place of the clicked message with ``replace``)."""

        @app.action(name)
        async def handle(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
            await ack()
            actor = await deps.actor(body["team"]["id"], body["user"]["id"])
            await respond_with(respond, await flow(actor, render.clicked_action(action)), replace=replace)

    on_answer(A.JOIN, lambda actor, a: texting.join(chat, actor, a.text("t")))
    on_answer(A.ADHOC_SEND, lambda actor, a: adhoc.send(chat, actor, a), replace=True)
    on_answer(A.RELEASE_TEXTER, lambda actor, a: admin.release_texter(chat, actor, a))
    on_answer(A.REVIEW_UNASSIGN, lambda actor, a: admin.review_unassign(chat, actor, a))

    @app.action(A.START_REPLIES)
    async def start_replies(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        await replies.send_replies(chat, actor, render.clicked_action(action).number("k"))

    @app.action(A.OPEN_CONVERSATION)
    async def open_conversation(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        await replies.open_conversation(chat, actor, render.clicked_action(action).number("c"))

    @app.action(A.DONE_FOR_THE_DAY)
    async def done_day(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        answer = await texting.done_for_the_day(chat, actor, render.clicked_action(action).maybe_number("k"))
        await deps.dm(actor.platform_user_id, answer)
        await home.publish(deps, actor)

    @app.action(A.REPLY_EDIT)
    async def edit(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        form = await replies.edit_form(chat, actor, render.clicked_action(action))
        await deps.client.views_open(trigger_id=body["trigger_id"], view=render.modal(form, clicked(body)))

    @app.action(A.TEXTER_MENU)
    async def texter_menu(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        try:
            form = await admin.texter_form(chat, actor, render.clicked_action(action))
        except Refused as exc:
            await respond_with(respond, texts.refusal(exc.reason))
            return
        await deps.client.views_open(trigger_id=body["trigger_id"], view=render.modal(form))

    def on_form(name: str, flow: Callable[[Actor, Action, dict[str, str]], Awaitable[Message]]) -> None:
        """A submitted admin form: a field refused keeps the form open with the reason under it; else the
        answer goes to the admin's DM."""

        @app.view(name)
        async def handle(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
            actor = await deps.actor(body["team"]["id"], body["user"]["id"])
            action, _where, values = render.submitted(view)
            try:
                answer = await flow(actor, action, values)
            except FieldRefused as exc:
                await ack(response_action="errors", errors={exc.field: exc.reason[:1900]})
                return
            except Refused as exc:
                answer = texts.refusal(exc.reason)
            await ack()
            await deps.dm(actor.platform_user_id, answer)

    on_form(
        A.ASSIGN,
        lambda actor, a, v: admin.assign(
            chat, actor, str(a.number("k")), a.number("u"), admin.whole_number(v.get("count", ""), "count")
        ),
    )
    on_form(
        A.SET_MAX,
        lambda actor, a, v: admin.set_max(chat, actor, str(a.number("k")), a.number("u"), v.get("max", "")),
    )
    on_form(A.RELEASE_TEXTER, lambda actor, a, _v: admin.release_texter(chat, actor, a))

    @app.view(A.REPLY_EDIT)
    async def edited(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        action, where, values = render.submitted(view)
        await replies.edited(chat, actor, action, values.get("body", ""), where)

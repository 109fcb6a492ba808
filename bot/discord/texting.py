"""What texters click on Discord: each click one call into the chat layer, its answer rendered in place.

Every click is deferred first (Discord's 3-second rule). A click on the Send First Texts card edits the
card into what the chat layer returns; a click on a conversation's control message is redrawn (or posted
anew) by the chat layer's thread keeper; the rest answer ephemerally. Buttons carry the neutral actions
(``bot.chat.actions``): ids and the state the person saw, never a text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.chat import actions as A
from bot.chat import adhoc, admin, replies, texting, texts
from bot.chat.actions import Action
from bot.chat.actor import Actor
from bot.chat.surface import MessageRef
from bot.chat.views import Button, Controls, Message, Section
from bot.discord.client import TextbankBot
from bot.discord.render import FormModal, render, submitted_fields
from core.errors import Refused

Flow = Callable[[Actor, Action], Awaitable[Message]]
FormFlow = Callable[[Actor, Action, dict[str, str]], Awaitable[Message]]
ControlFlow = Callable[[Actor, Action, MessageRef], Awaitable[None]]


def _clicked(interaction: discord.Interaction) -> MessageRef | None:
    message = interaction.message
    return MessageRef(str(message.channel.id), str(message.id)) if message is not None else None


async def show(interaction: discord.Interaction, message: Message) -> None:
    """Edit the deferred answer (or the clicked card) into ``message``."""
    await interaction.edit_original_response(**render(message).kwargs())


async def _actor_or_say(bot: TextbankBot, interaction: discord.Interaction) -> Actor | None:
    try:
        return await bot.actor(interaction)
    except Refused as exc:
        await show(interaction, texts.refusal(exc.reason))
        return None


async def _refused_elsewhere(interaction: discord.Interaction, actor: Actor) -> bool:
    """A click in another texter's conversation thread (anyone who can see a thread can click in it):
    the clicker is told, ephemerally, and nothing else happens."""
    bot: TextbankBot = interaction.client  # type: ignore[assignment]
    refusal = await replies.refused_elsewhere(bot.chat, actor, _clicked(interaction))
    if refusal is None:
        return False
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=True, **render(refusal).kwargs())
    else:
        await interaction.response.send_message(ephemeral=True, **render(refusal).kwargs())
    return True


def register(bot: TextbankBot) -> None:
    chat = bot.chat

    def on_card(name: str) -> None:
        """A card button: the card is replaced in place by the flow's answer."""

        async def handle(interaction: discord.Interaction, action: Action, _data: dict[str, Any]) -> None:
            await interaction.response.defer()
            actor = await _actor_or_say(bot, interaction)
            if actor is not None:
                await texting.card_click(chat, actor, action, lambda answer: show(interaction, answer))

        bot.handlers[name] = handle

    for name in texting.CARD_FLOWS:
        on_card(name)

    def on_answer(name: str, flow: Flow) -> None:
        """A button answered ephemerally."""

        async def handle(interaction: discord.Interaction, action: Action, _data: dict[str, Any]) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor = await _actor_or_say(bot, interaction)
            if actor is not None:
                await show(interaction, await flow(actor, action))

        bot.handlers[name] = handle

    on_answer(A.JOIN, lambda actor, a: _join(bot, actor, a))
    on_answer(A.DONE_FOR_THE_DAY, lambda actor, a: texting.done_for_the_day(chat, actor, a.maybe_number("k")))
    on_answer(A.ADHOC_SEND, lambda actor, a: adhoc.send(chat, actor, a))
    on_answer(A.RELEASE_TEXTER, lambda actor, a: admin.release_texter(chat, actor, a))
    on_answer(A.REVIEW_UNASSIGN, lambda actor, a: admin.review_unassign_asked(chat, actor, a))

    def on_threads(name: str, flow: Callable[[Actor, Action], Awaitable[None]]) -> None:
        """Send Replies or Open: the threads (and what is said) come where conversations go; the clicked
        message stays as it is."""

        async def handle(interaction: discord.Interaction, action: Action, _data: dict[str, Any]) -> None:
            await interaction.response.defer()
            actor = await _actor_or_say(bot, interaction)
            if actor is not None:
                await flow(actor, action)

        bot.handlers[name] = handle

    on_threads(A.START_REPLIES, lambda actor, a: replies.send_replies(chat, actor, a.number("k")))
    on_threads(A.OPEN_CONVERSATION, lambda actor, a: replies.open_conversation(chat, actor, a.number("c")))

    def on_control(name: str, flow: ControlFlow) -> None:
        """A click on a conversation's control message: the chat layer redraws or re-posts it."""

        async def handle(interaction: discord.Interaction, action: Action, _data: dict[str, Any]) -> None:
            await interaction.response.defer()
            where = _clicked(interaction)
            actor = await _actor_or_say(bot, interaction)
            if actor is not None and where is not None and not await _refused_elsewhere(interaction, actor):
                await flow(actor, action, where)

        bot.handlers[name] = handle

    on_control(A.ANSWER, lambda actor, a, where: replies.answer(chat, actor, a, where))
    on_control(A.REPLY_SEND, lambda actor, a, where: replies.send(chat, actor, a, where))
    on_control(A.MENU, lambda actor, a, where: replies.menu(chat, actor, a, where))

    async def edit(interaction: discord.Interaction, action: Action, data: dict[str, Any]) -> None:
        """Edit opens a form holding the draft; its submission (same action) sets the draft."""
        if interaction.type == discord.InteractionType.modal_submit:
            await interaction.response.defer()
            actor = await _actor_or_say(bot, interaction)
            if actor is not None and not await _refused_elsewhere(interaction, actor):
                body = submitted_fields(data).get("body", "")
                await replies.edited(chat, actor, action, body, _clicked(interaction))
            return
        actor = await bot.actor(interaction)
        if not await _refused_elsewhere(interaction, actor):
            await interaction.response.send_modal(FormModal(await replies.edit_form(chat, actor, action)))

    bot.handlers[A.REPLY_EDIT] = edit

    async def texter_menu(interaction: discord.Interaction, action: Action, _data: dict[str, Any]) -> None:
        """A choice on a texter of ``/textbank texters``: its form (a confirmation, without fields: a
        button)."""
        actor = await bot.actor(interaction)
        try:
            form = await admin.texter_form(chat, actor, action)
        except Refused as exc:
            await interaction.response.send_message(
                ephemeral=True, **render(texts.refusal(exc.reason)).kwargs()
            )
            return
        if form.fields:
            await interaction.response.send_modal(FormModal(form))
            return
        confirm = Message(
            "info", form.title, (Section(form.intro), Controls((Button(form.submit, form.action, "danger"),)))
        )
        await interaction.response.send_message(ephemeral=True, **render(confirm).kwargs())

    bot.handlers[A.TEXTER_MENU] = texter_menu

    def on_form(name: str, flow: FormFlow) -> None:
        """A submitted admin form, answered ephemerally (a refused field: its reason, to submit again)."""

        async def handle(interaction: discord.Interaction, action: Action, data: dict[str, Any]) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor = await _actor_or_say(bot, interaction)
            if actor is None:
                return
            try:
                answer = await flow(actor, action, submitted_fields(data))
            except Refused as exc:
                answer = texts.refusal(exc.reason)
            await show(interaction, answer)

        bot.handlers[name] = handle

    async def assign(actor: Actor, action: Action, fields: dict[str, str]) -> Message:
        count = admin.whole_number(fields.get("count", ""), "count")
        return await admin.assign(chat, actor, str(action.number("k")), action.number("u"), count)

    async def set_max(actor: Actor, action: Action, fields: dict[str, str]) -> Message:
        campaign, texter = str(action.number("k")), action.number("u")
        return await admin.set_max(chat, actor, campaign, texter, fields.get("max", ""))

    on_form(A.ASSIGN, assign)
    on_form(A.SET_MAX, set_max)


async def _join(bot: TextbankBot, actor: Actor, action: Action) -> Message:
    """Join; the first card goes to the DM, which a member may have closed to the server."""
    try:
        return await texting.join(bot.chat, actor, action.text("t"))
    except discord.Forbidden:
        return texts.refusal(texts.no_dm())

"""The texter's reply flows: Send Replies, and every click on a conversation thread's control message.

Picking an answer, a canned response, an edit or a text typed in the thread sets the conversation's draft
(``core.drafts``); **Send** sends the draft, guarded by the status and the last message the texter saw.
Menu actions (tag, escalate, opt out, close) run in core and are said back naming the contact (first
name, masked number) and the campaign.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.chat import texts
from bot.chat.actions import Action
from bot.chat.actor import Actor
from bot.chat.context import Chat
from bot.chat.surface import MessageRef, NoThreadChannel, Place
from bot.chat.threads import snapshot
from bot.chat.views import Form, Message
from core import adhoc, assignment, campaigns, conversations, drafts, orgs, stats
from core.errors import Refused
from storage import chat_threads

MAX_THREADS_PER_CLICK = 25


def _replies_to_show(session: Session, actor: Actor, campaign_id: int) -> tuple[list[int], str | None]:
    """Claim more replies when dynamic assignment allows, and list the texter's unhandled replies."""
    user = orgs.get_user(session, actor.user_id)
    campaign = campaigns.get_campaign(session, actor.org_id, str(campaign_id))
    claimed = assignment.request_replies(session, campaign, user)
    query = stats.filtered_contacts(session, campaign, status="needs_response", texter=user)
    mine = list(session.scalars(query))
    ids: list[int] = sorted({*mine, *claimed.contact_ids})
    return ids, (None if ids else claimed.reason)


async def send_replies(chat: Chat, actor: Actor, campaign_id: int) -> None:
    """Send Replies: a thread for each of the texter's unhandled replies (claiming more if allowed).

    Everything is said in the texter's direct messages (the click may come from a dashboard).
    """
    try:
        ids, reason = await chat.work.serial(lambda s: _replies_to_show(s, actor, campaign_id))
    except Refused as exc:
        await chat.dm(actor.platform_user_id, texts.refusal(exc.reason))
        return
    if not ids:
        await chat.dm(actor.platform_user_id, texts.no_replies(reason))
        return
    shown = ids[:MAX_THREADS_PER_CLICK]
    try:
        for contact_id in shown:
            await chat.threads.sync(actor.platform_user_id, actor.user_id, contact_id)
    except NoThreadChannel as exc:  # the same for every one of them: said once
        await chat.dm(actor.platform_user_id, texts.refusal(exc.reason))
        return
    await chat.dm(actor.platform_user_id, texts.replies_opened(len(shown), len(ids) - len(shown)))


async def open_conversation(chat: Chat, actor: Actor, contact_id: int) -> None:
    """Open (or bring up to date) a conversation's thread: an admin's escalated conversation, say."""
    try:
        opened = await chat.threads.sync(actor.platform_user_id, actor.user_id, contact_id)
    except NoThreadChannel as exc:
        await chat.dm(actor.platform_user_id, texts.refusal(exc.reason))
        return
    if not opened:
        await chat.dm(actor.platform_user_id, texts.refusal(texts.not_yours()))


def _answer(session: Session, actor: Actor, action: Action) -> None:
    user = orgs.get_user(session, actor.user_id)
    contact_id = action.number("c")
    prepared = conversations.choose_answer(session, user, contact_id, action.number("q"), action.number("a"))
    if prepared.strip():
        drafts.set_draft(session, user, contact_id, prepared)
    else:
        drafts.clear_draft(session, user.id, contact_id)


async def answer(chat: Chat, actor: Actor, action: Action, clicked: MessageRef) -> None:
    """Their answer picked: recorded, and its prepared response becomes the draft."""
    try:
        await chat.work.write(lambda s: _answer(s, actor, action))
        note = ""
    except Refused as exc:
        note = texts.warn(exc.reason)
    await chat.threads.redraw(actor.user_id, action.number("c"), clicked, note=note)


async def send(chat: Chat, actor: Actor, action: Action, clicked: MessageRef) -> None:
    """Send: the draft goes to the contact if the conversation is as the texter saw it."""
    contact_id = action.number("c")

    def reply(session: Session) -> drafts.SendResult:
        user = orgs.get_user(session, actor.user_id)
        return drafts.send_draft(session, user, contact_id, action.text("s"), action.maybe_number("m"))

    try:
        result = await chat.work.batched(reply)
    except Refused as exc:
        await chat.threads.redraw(actor.user_id, contact_id, clicked, note=texts.warn(exc.reason))
        return
    if result.sent:
        await chat.threads.sync(
            actor.platform_user_id, actor.user_id, contact_id, note=texts.reply_sent_note()
        )
    else:
        await chat.threads.redraw(actor.user_id, contact_id, clicked, note=texts.not_sent_note(result.reason))


async def refused_elsewhere(chat: Chat, actor: Actor, clicked: MessageRef | None) -> Message | None:
    """The refusal for a click on a control message in someone else's conversation thread, where a
    platform lets others see it (a Discord thread): told to the clicker, that message left as it is."""
    if clicked is None:
        return None
    channel = clicked.channel_id
    if await chat.work.read(lambda s: chat_threads.held_by_others(s, chat.platform, actor.user_id, channel)):
        return texts.refusal(texts.not_yours())
    return None


async def edit_form(chat: Chat, actor: Actor, action: Action) -> Form:
    """Edit: a form holding the current draft."""
    contact_id = action.number("c")
    draft = await chat.work.read(lambda s: drafts.get_draft(s, actor.user_id, contact_id))
    return texts.edit_form(contact_id, draft)


async def edited(chat: Chat, actor: Actor, action: Action, body: str, clicked: MessageRef | None) -> None:
    """The edit form submitted: its text becomes the draft; the control message shows it."""
    contact_id = action.number("c")
    note = ""
    try:
        await chat.work.write(
            lambda s: drafts.set_draft(s, orgs.get_user(s, actor.user_id), contact_id, body)
        )
    except Refused as exc:
        note = texts.warn(exc.reason)
    if clicked is not None:
        await chat.threads.redraw(actor.user_id, contact_id, clicked, note=note)
    else:
        await chat.threads.sync(actor.platform_user_id, actor.user_id, contact_id, note=note)


async def typed(chat: Chat, actor: Actor, thread: Place, text: str) -> bool:
    """A text the texter typed in a conversation thread becomes its draft, with the controls below it.

    Returns False when the thread is not one of the texter's conversations (nothing happens then).
    """
    thread_id = thread.thread_id or thread.channel_id

    def set_typed(session: Session) -> int | None:
        contact_id = chat_threads.contact_at(
            session, chat.platform, actor.user_id, thread.channel_id, thread_id
        )
        if contact_id is None:
            return None
        drafts.set_draft(session, orgs.get_user(session, actor.user_id), contact_id, text)
        return contact_id

    try:
        contact_id = await chat.work.write(set_typed)
    except Refused as exc:
        found = await chat.work.read(
            lambda s: chat_threads.contact_at(s, chat.platform, actor.user_id, thread.channel_id, thread_id)
        )
        if found is None:
            return False
        await chat.threads.sync(actor.platform_user_id, actor.user_id, found, note=texts.warn(exc.reason))
        return True
    if contact_id is None:
        return False
    await chat.threads.sync(
        actor.platform_user_id, actor.user_id, contact_id, note=texts.draft_set_note(True)
    )
    return True


def _menu_action(session: Session, actor: Actor, action: Action) -> str:
    """Run the menu choice in core; returns the note to show."""
    user = orgs.get_user(session, actor.user_id)
    contact_id = action.number("c")
    what = action.text("x")
    view = conversations.conversation_view(session, user, contact_id)
    name, cell, title = view.contact_name, view.cell, view.campaign_title
    if what == "canned":
        for item in conversations.canned_responses(session, user, contact_id):
            if item.id == action.number("i"):
                drafts.set_draft(session, user, contact_id, item.text)
                return texts.canned_note(item.title)
        raise Refused(texts.canned_gone())
    if what == "tag":
        tag_id = action.number("i")
        tag = next((t for t in view.tags if t.id == tag_id), None)
        escalated = conversations.add_tag(session, user, contact_id, tag_id)
        tag_name = tag.name if tag is not None else "the tag"
        if escalated:
            return texts.escalated_note(name, cell, title, tag_name)
        return texts.tagged_note(tag_name, name, cell, title)
    if what == "escalate":
        conversations.escalate(session, user, contact_id)
        return texts.escalated_note(name, cell, title)
    if what == "optout":
        result = conversations.opt_out_contact(session, user, contact_id)
        return texts.opted_out_note(name, cell, title, result.note)
    if what == "close":
        is_adhoc = campaigns.campaign_kind(session, view.campaign_id) == "adhoc"
        if is_adhoc:
            adhoc.complete(session, user, contact_id)
        else:
            conversations.close(session, user, contact_id)
        return texts.closed_note(name, cell, title, is_adhoc)
    raise Refused(texts.unknown_menu_choice(what))


async def menu(chat: Chat, actor: Actor, action: Action, clicked: MessageRef) -> None:
    """A menu choice: canned response (the draft), tag, escalate, opt out, close.

    A close or an opt-out also queues the thread's closing (core's ``finished`` notice): the relay waits
    for this redraw (``hold``), so the controls are redrawn before the thread is archived.
    """
    contact_id = action.number("c")
    async with chat.threads.hold(actor.user_id, contact_id):
        try:
            note = await chat.work.write(lambda s: _menu_action(s, actor, action))
        except Refused as exc:
            note = texts.warn(exc.reason)
        await chat.threads.redraw(actor.user_id, contact_id, clicked, note=note)


def current(session: Session, actor: Actor, contact_id: int) -> Message:
    """The conversation's control message as it is now (for a platform that redraws on its own)."""
    return snapshot(session, actor.user_id, contact_id).control()

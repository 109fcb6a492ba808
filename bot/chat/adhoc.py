"""``/textbank text NUMBER MESSAGE`` (seed 001): a text with no campaign task, and where its replies go.

The command checks the number and the opt-out list, keeps the text as a draft and offers the three
routes; the click sends the draft through core.adhoc.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.chat import texts
from bot.chat.actions import Action
from bot.chat.actor import Actor
from bot.chat.context import Chat
from bot.chat.views import Message
from core import adhoc, drafts, orgs
from core.errors import Refused


async def prepare(chat: Chat, actor: Actor, raw_number: str, body: str) -> Message:
    """The text and its three routing choices (refused first for a bad or opted-out number)."""
    try:
        draft_id, masked = await chat.work.write(
            lambda s: drafts.set_adhoc_draft(s, orgs.get_user(s, actor.user_id), raw_number, body)
        )
    except Refused as exc:
        return texts.refusal(exc.reason)
    return texts.adhoc_choices(draft_id, masked, drafts.check_body(body))


async def send(chat: Chat, actor: Actor, action: Action) -> Message:
    """A route clicked: the text goes, and with "open" its conversation thread opens."""

    def work(session: Session) -> adhoc.AdhocResult:
        user = orgs.get_user(session, actor.user_id)
        cell, body = drafts.take_adhoc_draft(session, user, action.number("d"))
        return adhoc.send_adhoc(session, user, cell, body, action.text("r"))

    try:
        result = await chat.work.write(work)
    except Refused as exc:
        return texts.refusal(exc.reason)
    if result.assigned:
        await chat.threads.sync(actor.platform_user_id, actor.user_id, result.contact_id)
    return texts.adhoc_sent(result.masked_cell, result.route)

"""The texter's flows: join, the Send First Texts card, Request More, Done For Now, Done for the Day, and
the dashboard. One call per click; each answers with the neutral view to show.

A send names the contact and the state the texter saw, so a double click, a retried request or a stale
card is a no-op that says so (core's guard). Sends share transactions (``DbWork.batched``); claims run
one at a time per process (``DbWork.serial``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session

from bot.chat import actions as A
from bot.chat import replies, texts
from bot.chat.actions import Action
from bot.chat.actor import Actor
from bot.chat.context import Chat
from bot.chat.surface import MessageRef
from bot.chat.views import Message
from bot.metrics import CLICK_SECONDS
from core import assignment, campaigns, conversations, joining, orgs, releases, sending, stats
from core import dashboard as core_dashboard
from core.errors import Refused
from storage import chat_threads
from storage.models import Campaign, User

MAX_RECENT = 10
Runner = Callable[[Callable[[Session], Message]], Awaitable[Message]]


def _user(session: Session, actor: Actor) -> User:
    return orgs.get_user(session, actor.user_id)


def _texter(actor: Actor) -> orgs.Texter:
    """The texter as the click carries them (no user row loaded)."""
    return orgs.Texter(actor.user_id, actor.org_id, actor.name)


def _campaign(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    return campaigns.get_campaign(session, actor.org_id, str(campaign_id))


def card(
    session: Session, actor: Actor, campaign_id: int, note: str = "", campaign: Campaign | None = None
) -> Message:
    """The card as it should look now: the next contact to text, else Request More / Done For Now
    (``campaign``: the campaign ``campaign_id`` names, when the click has read it already)."""
    campaign = campaign or _campaign(session, actor, campaign_id)
    user = _user(session, actor)
    initial = sending.next_initial(session, campaign, user)
    if initial is not None:
        return texts.initial_card(campaign.title, initial, note)
    available = assignment.availability(session, campaign, user, "initials")
    held_any = assignment.assigned_count(session, campaign, user) > 0
    return texts.batch_done(
        campaign.id, campaign.title, available.can_request, available.reason, held_any, note
    )


def _send_and_next(session: Session, actor: Actor, action: Action) -> Message:
    """The send and the next card in one core call, the texter and campaign as the click carries them."""
    campaign_id = action.number("k")
    texter = _texter(actor)
    expected = action.text("s", sending.INITIAL_STATUS)
    clicked = sending.send_and_next(session, texter, campaign_id, action.number("c"), expected)
    if clicked.result.sent:
        note = texts.sent_note(clicked.contact_name)
    else:
        note = texts.not_sent_note(clicked.result.reason)
    if clicked.card is not None:
        return texts.initial_card(clicked.campaign_title, clicked.card, note)
    return card(session, actor, campaign_id, note)


def _request_more(session: Session, actor: Actor, campaign_id: int) -> Message:
    """The claim with the campaign read as the membership is locked, then the card."""
    claimed = assignment.request_initials_for(session, _texter(actor), campaign_id)
    if claimed.result.contact_ids:
        note = texts.claimed_note(len(claimed.result.contact_ids))
    else:
        note = texts.nothing_claimed_note(claimed.result.reason)
    return card(session, actor, campaign_id, note, claimed.campaign)


def _first_batch(session: Session, actor: Actor, campaign_id: int, joined_now: bool) -> Message:
    """A new texter's first card: their first batch claimed at once when they hold nothing, or why not."""
    campaign = _campaign(session, actor, campaign_id)
    user = _user(session, actor)
    count, reason = 0, None
    if sending.next_initial(session, campaign, user) is None:
        claimed = assignment.request_initials(session, campaign, user)
        count, reason = len(claimed.contact_ids), claimed.reason
    return card(
        session, actor, campaign_id, texts.first_batch_note(campaign.title, joined_now, count, reason)
    )


def _done_for_now(session: Session, actor: Actor, campaign_id: int) -> Message:
    campaign = _campaign(session, actor, campaign_id)
    left = releases.done_for_now(session, campaign, _user(session, actor))
    return texts.done_for_now(campaign.title, left.unsent_initials, left.unhandled_replies)


def _done_for_the_day(session: Session, actor: Actor, campaign_id: int | None) -> Message:
    campaign = _campaign(session, actor, campaign_id) if campaign_id else None
    counts = releases.done_for_the_day(session, campaign, _user(session, actor))
    return texts.done_for_the_day(campaign.title if campaign else None, counts.initials, counts.replies)


async def _or_refusal(run: Runner, unit: Callable[[Session], Message]) -> Message:
    """``unit`` run by ``run`` (a ``DbWork`` mode); core's refusal as the answer when it refuses."""
    try:
        return await run(unit)
    except Refused as exc:
        return texts.refusal(exc.reason)


async def show_card(chat: Chat, actor: Actor, campaign_id: int) -> Message:
    """Send First Texts (from the dashboard): the card as it is now."""
    return await _or_refusal(chat.work.read, lambda s: card(s, actor, campaign_id))


async def send_initial(chat: Chat, actor: Actor, action: Action) -> Message:
    """Send: the text to the contact the card showed, then the next card (sends share transactions)."""
    return await _or_refusal(chat.work.batched, lambda s: _send_and_next(s, actor, action))


async def request_more(chat: Chat, actor: Actor, campaign_id: int) -> Message:
    """Request More: a claim, one at a time per process."""
    return await _or_refusal(chat.work.serial, lambda s: _request_more(s, actor, campaign_id))


async def done_for_now(chat: Chat, actor: Actor, campaign_id: int) -> Message:
    return await _or_refusal(chat.work.write, lambda s: _done_for_now(s, actor, campaign_id))


CardFlow = Callable[[Chat, Actor, Action], Awaitable[Message]]
# The Send First Texts card's buttons: each click's answer replaces the card.
CARD_FLOWS: dict[str, CardFlow] = {
    A.SEND_INITIAL: send_initial,
    A.START_INITIALS: lambda chat, actor, a: show_card(chat, actor, a.number("k")),
    A.REQUEST_MORE: lambda chat, actor, a: request_more(chat, actor, a.number("k")),
    A.DONE_FOR_NOW: lambda chat, actor, a: done_for_now(chat, actor, a.number("k")),
}


async def card_click(
    chat: Chat, actor: Actor, action: Action, show: Callable[[Message], Awaitable[Any]]
) -> None:
    """A click on the card (an action of ``CARD_FLOWS``): its flow, then ``show`` puts the answer in the
    card's place. Timed from here to the card shown (``textbank_click_seconds``, by platform and action)."""
    started = time.perf_counter()
    await show(await CARD_FLOWS[action.name](chat, actor, action))
    CLICK_SECONDS.labels(platform=chat.platform, action=action.name.removeprefix("tb_")).observe(
        time.perf_counter() - started
    )


async def done_for_the_day(chat: Chat, actor: Actor, campaign_id: int | None) -> Message:
    """Done for the Day: every unsent initial and unhandled reply of the texter goes back to the pool.

    The released conversations' controls say so at once (their notice comes later through the relay).
    """
    try:
        answer = await chat.work.write(lambda s: _done_for_the_day(s, actor, campaign_id))
    except Refused as exc:
        return texts.refusal(exc.reason)
    await chat.threads.mark_released(actor.user_id, campaign_id, "this campaign")
    return answer


async def join(chat: Chat, actor: Actor, token: str) -> Message:
    """The join button: into the campaign (and team); the first card, or the replies, follow in the DM.

    Returns what the clicker is told where they clicked.
    """
    try:
        result = await chat.work.write(lambda s: joining.join(s, token, _user(s, actor)))
    except Refused as exc:
        return texts.refusal(exc.reason)
    if result.kind == "initials":
        try:
            first = await chat.work.serial(
                lambda s: _first_batch(s, actor, result.campaign_id, result.joined)
            )
        except Refused as exc:
            first = texts.refusal(exc.reason)
        await chat.dm(actor.platform_user_id, first)
    else:
        await replies.send_replies(chat, actor, result.campaign_id)
    return texts.joined(result.campaign_title, result.team_name, result.joined)


# --- the dashboard ---


def dashboard_lines(session: Session, actor: Actor) -> list[texts.DashboardLine]:
    """The launched campaigns the texter is in or holds contacts of, with their counts and availability."""
    user = _user(session, actor)
    lines = []
    for campaign in campaigns.texter_campaigns(session, user):
        mine = stats.own_counts(session, campaign, user)
        available = assignment.availability(session, campaign, user, "initials")
        if mine is None and available.code == "not_member":
            continue
        lines.append(
            texts.DashboardLine(
                campaign.id,
                campaign.title,
                mine.unsent_initials if mine else 0,
                mine.unhandled_replies if mine else 0,
                available.can_request,
                available.reason,
            )
        )
    return lines


def past_conversations(session: Session, actor: Actor, platform: str) -> list[texts.PastConversation]:
    """The texter's newest conversation threads that are still theirs to open."""
    user = _user(session, actor)
    out = []
    for placed in chat_threads.recent(session, platform, actor.user_id, MAX_RECENT):
        try:
            view = conversations.conversation_view(session, user, placed.contact_id)
        except Refused:
            continue  # released or escalated since: no longer theirs
        target = MessageRef(placed.channel_id, placed.thread_id)
        out.append(texts.PastConversation(view.contact_name, view.campaign_title, view.status, target))
    return out


async def dashboard(chat: Chat, actor: Actor) -> Message:
    """The dashboard: the texter's campaigns with counts and buttons, recent conversations, and for an
    admin the campaigns' progress and what waits on an admin (core.dashboard)."""

    def read(session: Session) -> Message:
        board = core_dashboard.admin_dashboard(session, _user(session, actor)) if actor.is_admin else None
        past = past_conversations(session, actor, chat.platform)
        return texts.dashboard(dashboard_lines(session, actor), actor.is_admin, past, board)

    return await chat.work.read(read)

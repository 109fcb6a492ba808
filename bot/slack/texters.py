"""What texters click: the join button, the Send First Texts card, Request More, Done For Now, Done for
the Day, and ``/textbank text`` / ``/textbank done``.

Every click is acked first; then one core call decides (send, claim, release) in a transaction, and the
same message is updated with what core returns. A send names the contact and the state the texter saw,
so a double click, a retried request or a stale card is a no-op that says so (core's guard).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.orm import Session

from bot.claims import in_claim_session
from bot.slack import blocks
from bot.slack.app import SlackDeps
from bot.slack.context import Actor, in_session
from bot.slack.modals import load_value
from core import assignment, campaigns, joining, orgs, releases, sending
from core.errors import Refused
from storage.models import Campaign

if TYPE_CHECKING:
    from bot.slack.commands import Ctx


@dataclass(frozen=True)
class CardUpdate:
    text: str
    blocks: list[dict[str, Any]]


def _user(session: Session, actor: Actor) -> Any:
    return orgs.get_user(session, actor.user_id)


def _campaign(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    return campaigns.get_campaign(session, actor.org_id, str(campaign_id))


def card_for(session: Session, actor: Actor, campaign_id: int, note: str = "") -> CardUpdate:
    """The card as it should look now: the next contact to text, else Request More / Done For Now."""
    campaign = _campaign(session, actor, campaign_id)
    user = _user(session, actor)
    card = sending.next_initial(session, campaign, user)
    if card is not None:
        return CardUpdate(
            f"Send First Texts: {card.contact_name}", blocks.initial_card(campaign.title, card, note)
        )
    available = assignment.availability(session, campaign, user, "initials")
    return CardUpdate(
        f"{campaign.title}: batch done",
        blocks.batch_done(campaign.id, campaign.title, available.can_request, available.reason, note),
    )


def _send_and_next(session: Session, actor: Actor, data: dict[str, Any]) -> CardUpdate:
    user = _user(session, actor)
    result = sending.send_initial(session, user, int(data["c"]), str(data.get("s") or sending.INITIAL_STATUS))
    note = blocks.send_note(result.sent, str(data.get("n") or ""), result.reason)
    return card_for(session, actor, int(data["k"]), note)


def _request_more(session: Session, actor: Actor, campaign_id: int) -> CardUpdate:
    campaign = _campaign(session, actor, campaign_id)
    claimed = assignment.request_initials(session, campaign, _user(session, actor))
    if claimed.contact_ids:
        note = f":inbox_tray: {len(claimed.contact_ids)} more contacts are yours to text."
    else:
        note = f":warning: No more texts: {claimed.reason}"
    return card_for(session, actor, campaign_id, note)


def _done_for_now(session: Session, actor: Actor, campaign_id: int) -> CardUpdate:
    campaign = _campaign(session, actor, campaign_id)
    left = releases.done_for_now(session, campaign, _user(session, actor))
    return CardUpdate(
        f"{campaign.title}: done for now",
        blocks.done_for_now_blocks(campaign.title, left.unsent_initials, left.unhandled_replies),
    )


def _done_for_the_day(session: Session, actor: Actor, campaign_id: int | None) -> str:
    campaign = _campaign(session, actor, campaign_id) if campaign_id else None
    counts = releases.done_for_the_day(session, campaign, _user(session, actor))
    where = f" in {campaign.title}" if campaign else ""
    if not counts.total:
        return f"Done for the day{where}: you held no unsent texts or unhandled replies. Thank you!"
    return (
        f"Done for the day{where}: {counts.initials} unsent first texts and {counts.replies} unhandled "
        "replies went back to the pool for other texters. Thank you!"
    )


async def post_card(deps: SlackDeps, actor: Actor, campaign_id: int, note: str = "") -> None:
    """A new Send First Texts card in the texter's DM."""
    update = await in_session(deps.db, lambda s: card_for(s, actor, campaign_id, note))
    await deps.dm(actor.slack_user_id, update.text, update.blocks)


async def done_command(ctx: Ctx) -> None:
    text = await in_session(ctx.deps.db, lambda s: _done_for_the_day(s, ctx.actor, None))
    await ctx.say(text)


async def text_command(ctx: Ctx) -> None:
    from bot.slack import adhoc

    await adhoc.text_command(ctx)


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def card_action(body: dict[str, Any], work: Any, *, run: Any = None) -> None:
        """Run ``work`` (session, actor) -> CardUpdate and put the result in place of the clicked card.

        ``run`` runs a unit of work in a transaction: its own by default; a Send click's goes through the
        group commit, a claim's through the claim threads (bot/claims.py).
        """
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        container = body.get("container") or {}
        run = run or (lambda unit: in_session(deps.db, unit))
        try:
            update = await run(lambda s: work(s, actor))
        except Refused as exc:
            update = CardUpdate(exc.reason, blocks.refusal(exc.reason))
        if container.get("type") == "message":
            await deps.client.chat_update(
                channel=container["channel_id"],
                ts=container["message_ts"],
                text=update.text,
                blocks=update.blocks,
            )
        else:  # clicked on the Home tab: the card goes to the DM
            await deps.dm(actor.slack_user_id, update.text, update.blocks)

    @app.action("tb_join")
    async def join(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        token = str(load_value(action).get("t", ""))
        try:
            result = await in_session(deps.db, lambda s: joining.join(s, token, _user(s, actor)))
        except Refused as exc:
            await respond(text=exc.reason, blocks=blocks.refusal(exc.reason), replace_original=False)
            return
        team = f" (team {result.team_name})" if result.team_name else ""
        verb = "You joined" if result.joined else "You are already in"
        await respond(
            text=f"{verb} {result.campaign_title}{team}: look in your DM with textbank.",
            response_type="ephemeral",
            replace_original=False,
        )
        if result.kind == "initials":
            await post_card(
                deps, actor, result.campaign_id, f"{verb} *{blocks.escape(result.campaign_title)}*."
            )
        else:
            from bot.slack import conversations

            await conversations.request_replies(deps, actor, result.campaign_id)

    @app.action("tb_send_initial")
    async def send_initial(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        data = load_value(action)
        await card_action(body, lambda s, actor: _send_and_next(s, actor, data), run=deps.sends.run)

    @app.action("tb_start_initials")
    async def start_initials(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        campaign_id = int(load_value(action).get("k", 0))
        await card_action(body, lambda s, actor: card_for(s, actor, campaign_id))

    @app.action("tb_request_more")
    async def request_more(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        campaign_id = int(load_value(action).get("k", 0))
        await card_action(
            body,
            lambda s, actor: _request_more(s, actor, campaign_id),
            run=lambda unit: in_claim_session(deps.db, unit),
        )

    @app.action("tb_done_for_now")
    async def done_for_now(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        campaign_id = int(load_value(action).get("k", 0))
        await card_action(body, lambda s, actor: _done_for_now(s, actor, campaign_id))

    @app.action("tb_done_day")
    async def done_day(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        from bot.slack import home

        campaign_id = load_value(action).get("k")
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        try:
            text = await in_session(deps.db, lambda s: _done_for_the_day(s, actor, campaign_id))
        except Refused as exc:
            text = exc.reason
        await deps.dm(actor.slack_user_id, text)
        await home.publish(deps, actor)

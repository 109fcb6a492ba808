"""What texters click on Discord: the join button, and the Send First Texts card in their DM.

Every click is deferred first (Discord's 3-second rule), then one core call decides (join, send, claim,
release) in a transaction, and the clicked message is edited into what core returns. The DM's buttons
carry the guild id (``g``): a DM has no guild, and the textbank user is known by guild and member.
A send names the contact and the state the texter saw, so a double click or a stale card sends nothing
twice (core's guard) and the card says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import discord
from discord.utils import escape_markdown
from sqlalchemy.orm import Session

from bot.claims import in_claim_session
from bot.discord.client import Actor, TextbankBot, in_db, log
from bot.discord.components import Act, Buttons, handles
from core import assignment, campaigns, joining, releases, sending
from core.errors import Refused

GREEN = discord.Colour.green()
GREY = discord.Colour.light_grey()
RED = discord.Colour.red()
FAILED = "textbank could not do that (the error is in its log): try again, or tell an admin"


@dataclass(frozen=True)
class Card:
    embed: discord.Embed
    view: Buttons = field(default_factory=Buttons)  # no buttons: an edit removes the old ones

    async def edit(self, interaction: discord.Interaction) -> None:
        await interaction.edit_original_response(content=None, embed=self.embed, view=self.view)


def refusal(reason: str) -> Card:
    return Card(discord.Embed(description=f"🚫 {escape_markdown(reason)}"[:4000], colour=RED))


def _card(session: Session, actor: Actor, campaign_id: int, note: str = "") -> Card:
    """The card now: the next contact to text, else Request More (or why not) and Done For Now."""
    campaign = campaigns.get_campaign(session, actor.org_id, str(campaign_id))
    user = actor.user(session)
    card = sending.next_initial(session, campaign, user)
    title = escape_markdown(campaign.title)
    if card is None:
        available = assignment.availability(session, campaign, user, "initials")
        embed = discord.Embed(
            title=f"{campaign.title} — batch sent"[:256],
            description=f"Every text of your batch in **{title}** that can go now is sent.",
            colour=GREY,
        )
        buttons = [Act.button("Done For Now", "done_for_now", k=campaign.id, g=actor.guild_id)]
        if available.can_request:
            more = Act.button(
                "Request More", "request_more", discord.ButtonStyle.primary, k=campaign.id, g=actor.guild_id
            )
            buttons.insert(0, more)
        else:
            embed.add_field(
                name="Request More is unavailable", value=escape_markdown(available.reason or "")[:1024]
            )
    else:
        embed = discord.Embed(
            title=f"Send First Texts — {campaign.title}"[:256],
            description="\n".join("> " + escape_markdown(line) for line in card.body.splitlines() or [""])[
                :4000
            ],
            colour=GREEN,
        )
        embed.add_field(
            name="Contact",
            value=f"{escape_markdown(card.contact_name or '(no name)')} {card.masked_cell}"[:1024],
        )
        embed.add_field(name="Their time", value=f"{card.local_time:%H:%M} {card.timezone}")
        embed.add_field(name="Left to send now", value=str(card.remaining))
        send = Act.button(
            "Send",
            "send_initial",
            discord.ButtonStyle.success,
            c=card.contact_id,
            s=card.expected_status,
            k=campaign.id,
            g=actor.guild_id,
        )
        buttons = [send]
    if note:
        embed.set_footer(text=note[:2048])
    return Card(embed, Buttons(*buttons))


def _send(session: Session, actor: Actor, args: dict[str, Any]) -> Card:
    result = sending.send_initial(
        session, actor.user(session), int(args["c"]), str(args.get("s") or sending.INITIAL_STATUS)
    )
    note = "✅ Sent." if result.sent else f"⚠️ Not sent: {result.reason or 'nothing to send'}"
    return _card(session, actor, int(args["k"]), note)


def _request_more(session: Session, actor: Actor, campaign_id: int) -> Card:
    campaign = campaigns.get_campaign(session, actor.org_id, str(campaign_id))
    claimed = assignment.request_initials(session, campaign, actor.user(session))
    if claimed.count:
        note = (
            f"📥 {claimed.count} more {'contact is' if claimed.count == 1 else 'contacts are'} yours to text."
        )
    else:
        note = f"⚠️ {claimed.reason}"
    return _card(session, actor, campaign_id, note)


def _done_for_now(session: Session, actor: Actor, campaign_id: int) -> Card:
    campaign = campaigns.get_campaign(session, actor.org_id, str(campaign_id))
    left = releases.done_for_now(session, campaign, actor.user(session))
    embed = discord.Embed(
        title=f"{campaign.title} — done for now"[:256],
        description=(
            f"You still hold {left.unsent_initials} unsent first texts and {left.unhandled_replies} "
            "unhandled replies: click Join on the campaign's join message to pick up again."
        ),
        colour=GREY,
    )
    return Card(embed)


def done_for_the_day(session: Session, actor: Actor) -> str:
    counts = releases.done_for_the_day(session, None, actor.user(session))
    return (
        f"Done for the day: {counts.initials} unsent first texts and {counts.replies} unhandled replies are "
        "back in the pool for other texters. Thank you!"
    )


async def _on_card(
    interaction: discord.Interaction, args: dict[str, Any], work: Any, run: Any = None
) -> None:
    """Defer the click, run ``work(session, actor)`` in a transaction, and edit the card into its result."""
    await interaction.response.defer()
    bot: TextbankBot = interaction.client  # type: ignore[assignment]
    try:
        actor = await bot.actor(interaction, args.get("g"))
        card = await (run or (lambda unit: in_db(bot.db, unit)))(lambda s: work(s, actor))
    except Refused as exc:
        card = refusal(exc.reason)
    except Exception:  # the card says so rather than keep its spinner
        log.exception("discord: a card click failed")
        card = refusal(FAILED)
    await card.edit(interaction)


@handles("send_initial")
async def send_initial(interaction: discord.Interaction, args: dict[str, Any]) -> None:
    bot: TextbankBot = interaction.client  # type: ignore[assignment]
    await _on_card(interaction, args, lambda s, actor: _send(s, actor, args), bot.sends.run)


@handles("start_initials")
async def start_initials(interaction: discord.Interaction, args: dict[str, Any]) -> None:
    await _on_card(interaction, args, lambda s, actor: _card(s, actor, int(args.get("k", 0))))


@handles("request_more")
async def request_more(interaction: discord.Interaction, args: dict[str, Any]) -> None:
    bot: TextbankBot = interaction.client  # type: ignore[assignment]
    work = lambda s, actor: _request_more(s, actor, int(args.get("k", 0)))  # noqa: E731
    await _on_card(interaction, args, work, lambda unit: in_claim_session(bot.db, unit))


@handles("done_for_now")
async def done_for_now(interaction: discord.Interaction, args: dict[str, Any]) -> None:
    await _on_card(interaction, args, lambda s, actor: _done_for_now(s, actor, int(args.get("k", 0))))


@handles("join")
async def join(interaction: discord.Interaction, args: dict[str, Any]) -> None:
    """The join message's button: join the campaign (and team), then the Send First Texts card in the DM."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot: TextbankBot = interaction.client  # type: ignore[assignment]
    try:
        actor = await bot.actor(interaction)
        token = str(args.get("t", ""))
        result = await in_db(bot.db, lambda s: joining.join(s, token, actor.user(s)))
    except Refused as exc:
        await refusal(exc.reason).edit(interaction)
        return
    team = f" (team {escape_markdown(result.team_name)})" if result.team_name else ""
    verb = "You joined" if result.joined else "You are already in"
    note = f"{verb} {result.campaign_title}{team}."
    if result.kind != "initials":
        await interaction.edit_original_response(content=note)
        return
    card = await in_db(bot.db, lambda s: _card(s, actor, result.campaign_id, note))
    try:
        await interaction.user.send(embed=card.embed, view=card.view)
    except discord.Forbidden:
        log.info("discord: %s does not accept DMs from the server", interaction.user.id)
        await refusal(
            f"{note} textbank cannot send you a direct message: allow direct messages from this server's "
            "members (Privacy Settings) and click Join again"
        ).edit(interaction)
        return
    await interaction.edit_original_response(content=f"{note} Your Send First Texts card is in your DMs.")


def join_message(title: str, kind: str, team: str | None, token: str) -> Card:
    what = "send first texts" if kind == "initials" else "answer replies"
    with_team = f" with team **{escape_markdown(team)}**" if team else ""
    embed = discord.Embed(
        description=f"👋 Help **{escape_markdown(title)}**: click Join to {what}{with_team}."[:4000],
        colour=GREEN,
    )
    return Card(embed, Buttons(Act.button("Join", "join", discord.ButtonStyle.primary, t=token)))

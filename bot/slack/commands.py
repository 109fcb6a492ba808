"""``/textbank``: one slash command, its subcommands dispatched here.

Each subcommand acks at once, finds the caller (``context.resolve_actor``), makes one core call in a
transaction and answers with ephemeral blocks through ``respond``. Admin subcommands check the role in
the same transaction (core.orgs.require_admin); a refusal is answered with core's one-line reason.
"""

from __future__ import annotations

import re
import shlex
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.slack import blocks, modals
from bot.slack.app import SlackDeps
from bot.slack.context import Actor, in_read, in_session, resolve_user_ref
from core import campaigns, export, joining, optouts, orgs, releases, stats
from core.errors import Refused
from storage.models import Campaign, User

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


@dataclass
class Ctx:
    deps: SlackDeps
    actor: Actor
    args: list[str]
    command: dict[str, Any]
    respond: Callable[..., Awaitable[Any]]

    async def say(self, text: str, block_list: list[dict[str, Any]] | None = None) -> None:
        await self.respond(text=text, blocks=block_list, response_type="ephemeral", replace_original=False)

    async def refuse(self, reason: str) -> None:
        await self.say(reason, blocks.refusal(reason))

    @property
    def channel_id(self) -> str:
        return str(self.command.get("channel_id", ""))

    def usage(self, text: str) -> Refused:
        return Refused(f"usage: /textbank {text} (see /textbank help)")

    def campaign_ref(self, usage: str) -> str:
        if not self.args:
            raise self.usage(usage)
        return " ".join(self.args)


Handler = Callable[[Ctx], Awaitable[None]]


def split_args(text: str) -> list[str]:
    """Words of the command, with "quoted titles" kept whole (an unbalanced quote splits on spaces)."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def mentioned_user(word: str) -> str | None:
    match = MENTION.match(word.strip())
    return match.group(1) if match else None


def _admin_campaign(session: Session, actor: Actor, ref: str) -> Campaign:
    user = orgs.get_user(session, actor.user_id)
    orgs.require_admin(user)
    return campaigns.get_campaign(session, actor.org_id, ref)


def _current_user(session: Session, actor: Actor) -> User:
    return orgs.get_user(session, actor.user_id)


# --- subcommands -----------------------------------------------------------------------------------------


async def help_command(ctx: Ctx) -> None:
    await ctx.say("textbank commands", blocks.help_blocks(ctx.actor.is_admin))


async def campaign_command(ctx: Ctx) -> None:
    action = ctx.args[0].lower() if ctx.args else ""
    ctx.args = ctx.args[1:]
    if action in ("new", "apply"):
        await in_read(ctx.deps.db, lambda s: orgs.require_admin(_current_user(s, ctx.actor)))
        view = modals.campaign_new_view() if action == "new" else modals.campaign_apply_view()
        await ctx.deps.client.views_open(trigger_id=ctx.command["trigger_id"], view=view)
        return
    if action in ("list", ""):

        def listing(session: Session) -> list[tuple[int, str, str, int]]:
            orgs.require_admin(_current_user(session, ctx.actor))
            return [
                (s.campaign.id, s.campaign.title, s.campaign.status, s.contacts)
                for s in campaigns.list_campaigns(
                    session, ctx.actor.org_id, actor=_current_user(session, ctx.actor)
                )
            ]

        items = await in_read(ctx.deps.db, listing)
        await ctx.say("campaigns", blocks.campaign_list_blocks(items))
        return
    if action in ("launch", "archive", "export", "settings", "stats", "texters", "review", "contacts"):
        await SUBCOMMANDS[action](ctx)
        return
    raise ctx.usage("campaign new | campaign apply | campaign list")


async def contacts_command(ctx: Ctx) -> None:
    ref = ctx.campaign_ref("contacts CAMPAIGN")
    campaign = await in_read(ctx.deps.db, lambda s: _admin_campaign(s, ctx.actor, ref))
    view = modals.contacts_view(campaign.id, campaign.title)
    await ctx.deps.client.views_open(trigger_id=ctx.command["trigger_id"], view=view)


async def settings_command(ctx: Ctx) -> None:
    ref = ctx.campaign_ref("settings CAMPAIGN")
    campaign = await in_read(ctx.deps.db, lambda s: _admin_campaign(s, ctx.actor, ref))
    await ctx.deps.client.views_open(
        trigger_id=ctx.command["trigger_id"], view=modals.settings_view(campaign)
    )


async def launch_command(ctx: Ctx) -> None:
    ref = ctx.campaign_ref("launch CAMPAIGN")

    def launch(session: Session) -> str:
        return campaigns.launch_campaign(
            session, _admin_campaign(session, ctx.actor, ref), actor=_current_user(session, ctx.actor)
        ).title

    title = await in_session(ctx.deps.db, launch)
    await ctx.say(
        f"Launched {title}.",
        [
            blocks.section(
                f":rocket: *{blocks.escape(title)}* is launched. Post a join message with "
                f"`/textbank link initials {blocks.escape(ref)}`."
            )
        ],
    )


async def archive_command(ctx: Ctx) -> None:
    ref = ctx.campaign_ref("archive CAMPAIGN")

    def archive(session: Session) -> str:
        return campaigns.archive_campaign(
            session, _admin_campaign(session, ctx.actor, ref), actor=_current_user(session, ctx.actor)
        ).title

    title = await in_session(ctx.deps.db, archive)
    await ctx.say(f"Archived {title}.", [blocks.section(f"*{blocks.escape(title)}* is archived.")])


async def link_command(ctx: Ctx) -> None:
    if len(ctx.args) < 2 or ctx.args[0].lower() not in ("initials", "replies"):
        raise ctx.usage('link initials|replies CAMPAIGN [TEAM] (quote a title with spaces: "GOTV November")')
    kind, ref = ctx.args[0].lower(), ctx.args[1]
    team = " ".join(ctx.args[2:]) or None

    def make_token(session: Session) -> tuple[str, str, str | None]:
        campaign = campaigns.get_campaign(session, ctx.actor.org_id, ref)
        token = joining.create_join_token(session, _current_user(session, ctx.actor), campaign, kind, team)
        return token.token, campaign.title, team

    token, title, team_name = await in_session(ctx.deps.db, make_token)
    text = f"Join {title}"
    try:
        await ctx.deps.client.chat_postMessage(
            channel=ctx.channel_id, text=text, blocks=blocks.join_message(title, kind, team_name, token)
        )
    except SlackApiError as exc:  # the bot cannot post here (a private channel it is not in): say how to fix
        error = exc.response.get("error") or str(exc)
        raise Refused(
            f"could not post the join message here ({error}): invite @textbank to this channel"
        ) from exc
    await ctx.say(f"Posted the join message for {title}.")


async def stats_command(ctx: Ctx) -> None:
    ref = ctx.campaign_ref("stats CAMPAIGN")

    def read(session: Session) -> tuple[str, stats.CampaignStats]:
        campaign = _admin_campaign(session, ctx.actor, ref)
        return campaign.title, stats.campaign_stats(
            session, campaign, actor=_current_user(session, ctx.actor)
        )

    title, result = await in_read(ctx.deps.db, read)
    await ctx.say(f"{title}: {result.sent_percent:.0f}% sent", blocks.stats_blocks(title, result))


async def texters_command(ctx: Ctx) -> None:
    ref = ctx.campaign_ref("texters CAMPAIGN")

    def read(session: Session) -> tuple[int, str, list[stats.TexterCounts]]:
        campaign = _admin_campaign(session, ctx.actor, ref)
        return (
            campaign.id,
            campaign.title,
            stats.texter_counts(session, campaign, actor=_current_user(session, ctx.actor)),
        )

    campaign_id, title, rows = await in_read(ctx.deps.db, read)
    await ctx.say(f"Texters of {title}", blocks.texters_blocks(campaign_id, title, rows))


async def review_command(ctx: Ctx) -> None:
    if len(ctx.args) < 2:
        raise ctx.usage("review CAMPAIGN FILTER [@texter] (FILTER: needs-first-message, needs-response, ...)")
    ref, status_word = ctx.args[0], ctx.args[1]
    texter_slack = mentioned_user(ctx.args[2]) if len(ctx.args) > 2 else None
    if len(ctx.args) > 2 and texter_slack is None:
        raise ctx.usage("review CAMPAIGN FILTER @texter (mention the texter with @)")
    texter = (
        await resolve_user_ref(ctx.deps.db, ctx.deps.client, ctx.actor, texter_slack)
        if texter_slack
        else None
    )

    def read(session: Session) -> tuple[int, str, str | None, list[stats.ReviewRow]]:
        status = None if status_word.lower() == "all" else stats.parse_status(status_word)
        campaign = campaigns.get_campaign(session, ctx.actor.org_id, ref)
        who = orgs.get_user(session, texter.user_id) if texter else None
        rows = stats.review(session, _current_user(session, ctx.actor), campaign, status=status, texter=who)
        return campaign.id, campaign.title, status, rows

    campaign_id, title, status, rows = await in_read(ctx.deps.db, read)
    who = (texter.user_id, texter.name) if texter else None
    await ctx.say(f"Review of {title}", blocks.review_blocks(campaign_id, title, status, who, rows))


async def export_command(ctx: Ctx) -> None:
    """The campaign's contacts as CSV (answers and tags too), written to a temporary file and uploaded."""
    ref = ctx.campaign_ref("export CAMPAIGN")
    with tempfile.TemporaryDirectory(prefix="textbank-export-") as folder:
        path = Path(folder) / "contacts.csv"

        def write(session: Session) -> tuple[str, int]:
            campaign = campaigns.get_campaign(session, ctx.actor.org_id, ref)
            with path.open("w", encoding="utf-8", newline="") as out:
                count = export.export_contacts_csv(session, _current_user(session, ctx.actor), campaign, out)
            return campaign.title, count

        title, count = await in_read(ctx.deps.db, write)
        filename = (re.sub(r"[^A-Za-z0-9_-]+", "-", title).strip("-").lower() or "campaign") + "-contacts.csv"
        await ctx.deps.client.files_upload_v2(
            channel=ctx.channel_id,
            file=str(path),
            filename=filename,
            title=f"{title} (contacts)",
            initial_comment=f"{title}: {count:,} contacts with their answers and tags",
        )
    await ctx.say(f"Uploaded {filename} ({count:,} contacts).")


async def optout_command(ctx: Ctx) -> None:
    if not ctx.args:
        raise ctx.usage("optout NUMBER")
    raw = " ".join(ctx.args)

    def add(session: Session) -> tuple[str, bool]:
        orgs.require_admin(_current_user(session, ctx.actor))
        cell = optouts.normalize_or_refuse(raw, ctx.deps.settings.default_region)
        added = optouts.opt_out(
            session,
            ctx.actor.org_id,
            cell,
            source="admin",
            reason="added in Slack",
            actor=_current_user(session, ctx.actor),
        )
        return cell, added

    cell, added = await in_session(ctx.deps.db, add)
    word = "is now on" if added else "was already on"
    await ctx.say(f"{cell} {word} the opt-out list; no campaign will text it again.")


async def admin_command(ctx: Ctx) -> None:
    if len(ctx.args) != 2 or ctx.args[0].lower() not in ("add", "remove") or not mentioned_user(ctx.args[1]):
        raise ctx.usage("admin add @user | admin remove @user")
    slack_id = mentioned_user(ctx.args[1])
    assert slack_id is not None
    await in_read(ctx.deps.db, lambda s: orgs.require_admin(_current_user(s, ctx.actor)))
    target = await resolve_user_ref(ctx.deps.db, ctx.deps.client, ctx.actor, slack_id)
    role = "admin" if ctx.args[0].lower() == "add" else "texter"

    def change(session: Session) -> None:
        orgs.set_role(
            session, _current_user(session, ctx.actor), orgs.get_user(session, target.user_id), role
        )

    await in_session(ctx.deps.db, change)
    await ctx.say(f"{target.name} is now {'an admin' if role == 'admin' else 'a texter'}.")


async def text_command(ctx: Ctx) -> None:
    from bot.slack import texters

    await texters.text_command(ctx)


async def done_command(ctx: Ctx) -> None:
    from bot.slack import texters

    await texters.done_command(ctx)


SUBCOMMANDS: dict[str, Handler] = {
    "help": help_command,
    "campaign": campaign_command,
    "contacts": contacts_command,
    "settings": settings_command,
    "launch": launch_command,
    "archive": archive_command,
    "link": link_command,
    "stats": stats_command,
    "texters": texters_command,
    "review": review_command,
    "export": export_command,
    "optout": optout_command,
    "admin": admin_command,
    "text": text_command,
    "done": done_command,
}


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.command("/textbank")
    async def textbank(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        args = split_args(command.get("text") or "")
        name = args[0].lower() if args else "help"
        handler = SUBCOMMANDS.get(name)
        actor = await deps.actor(command["team_id"], command["user_id"])
        ctx = Ctx(deps, actor, args[1:], command, respond)
        if handler is None:
            await ctx.refuse(f"unknown command {name!r}: see /textbank help for the list")
            return
        try:
            await handler(ctx)
        except Refused as exc:
            await ctx.refuse(exc.reason)

    @app.action("tb_release_texter")
    async def release_texter(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        data = modals.load_value(action)
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])

        def release(session: Session) -> tuple[str, int]:
            campaign = campaigns.get_campaign(session, actor.org_id, str(data["c"]))
            texter = orgs.get_user(session, int(data["u"]))
            count = releases.release_texter_initials(
                session, orgs.get_user(session, actor.user_id), campaign, texter
            )
            return texter.name, count

        try:
            name, count = await in_session(deps.db, release)
        except Refused as exc:
            await respond(text=exc.reason, blocks=blocks.refusal(exc.reason), replace_original=False)
            return
        await respond(text=f"Released {count} unsent initials of {name}.", replace_original=False)

    @app.action("tb_review_unassign")
    async def review_unassign(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        data = modals.load_value(action)
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])

        def unassign(session: Session) -> int:
            campaign = campaigns.get_campaign(session, actor.org_id, str(data["c"]))
            texter = orgs.get_user(session, int(data["u"])) if data.get("u") else None
            me = orgs.get_user(session, actor.user_id)
            return releases.unassign_by_filter(session, me, campaign, status=data.get("s"), texter=texter)

        try:
            count = await in_session(deps.db, unassign)
        except Refused as exc:
            await respond(text=exc.reason, blocks=blocks.refusal(exc.reason), replace_original=False)
            return
        await respond(text=f"Unassigned {count} contacts; they are back in the pool.", replace_original=False)

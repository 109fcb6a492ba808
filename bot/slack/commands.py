"""``/textbank``: one slash command; its words parsed here into one neutral call per subcommand.

Each subcommand acks at once, finds the caller, calls the chat layer and answers ephemerally with what it
returns; a refusal is core's one-line reason.
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

from bot.chat import adhoc, admin, texting, texts
from bot.chat.actor import Actor
from bot.chat.views import Message
from bot.slack import modals, render
from bot.slack.deps import SlackDeps, respond_with
from core.errors import Refused

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
PHONE_WORD = re.compile(r"^[\d()+.\-]+$")


@dataclass
class Ctx:
    deps: SlackDeps
    actor: Actor
    args: list[str]
    command: dict[str, Any]
    respond: Callable[..., Awaitable[Any]]

    async def say(self, message: Message) -> None:
        await respond_with(self.respond, message)

    @property
    def channel_id(self) -> str:
        return str(self.command.get("channel_id", ""))

    def usage(self, text: str) -> Refused:
        return Refused(texts.usage(text))

    def campaign_ref(self, usage: str) -> str:
        if not self.args:
            raise self.usage(usage)
        return " ".join(self.args)

    async def open_form(self, view: dict[str, Any]) -> None:
        await self.deps.client.views_open(trigger_id=self.command["trigger_id"], view=view)


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


async def help_command(ctx: Ctx) -> None:
    await ctx.say(texts.help_message(ctx.actor.is_admin, "Slack"))


async def campaign_command(ctx: Ctx) -> None:
    action = ctx.args[0].lower() if ctx.args else ""
    ctx.args = ctx.args[1:]
    chat = ctx.deps.chat
    if action in ("new", "apply"):
        await admin.require_admin(chat, ctx.actor)
        await ctx.open_form(modals.campaign_new_view() if action == "new" else modals.campaign_apply_view())
    elif action in ("list", ""):
        await ctx.say(await admin.campaign_list(chat, ctx.actor))
    elif action in ("launch", "archive", "export", "settings", "stats", "texters", "review", "contacts"):
        await SUBCOMMANDS[action](ctx)
    else:
        raise ctx.usage("campaign new | campaign apply | campaign list")


async def contacts_command(ctx: Ctx) -> None:
    campaign = await admin.campaign_for_form(ctx.deps.chat, ctx.actor, ctx.campaign_ref("contacts CAMPAIGN"))
    await ctx.open_form(modals.contacts_view(campaign.id, campaign.title))


async def settings_command(ctx: Ctx) -> None:
    campaign = await admin.campaign_for_form(ctx.deps.chat, ctx.actor, ctx.campaign_ref("settings CAMPAIGN"))
    await ctx.open_form(modals.settings_view(campaign))


async def launch_command(ctx: Ctx) -> None:
    await ctx.say(await admin.launch(ctx.deps.chat, ctx.actor, ctx.campaign_ref("launch CAMPAIGN")))


async def archive_command(ctx: Ctx) -> None:
    await ctx.say(await admin.archive(ctx.deps.chat, ctx.actor, ctx.campaign_ref("archive CAMPAIGN")))


async def link_command(ctx: Ctx) -> None:
    if len(ctx.args) < 2 or ctx.args[0].lower() not in ("initials", "replies"):
        raise ctx.usage('link initials|replies CAMPAIGN [TEAM] (quote a title with spaces: "GOTV November")')
    kind, ref = ctx.args[0].lower(), ctx.args[1]
    link = await admin.join_link(ctx.deps.chat, ctx.actor, kind, ref, " ".join(ctx.args[2:]) or None)
    try:
        await ctx.deps.client.chat_postMessage(
            channel=ctx.channel_id, text=render.fallback(link.message), blocks=render.blocks(link.message)
        )
    except SlackApiError as exc:  # the bot cannot post here (a private channel it is not in): say how to fix
        raise Refused(texts.join_not_posted(str(exc.response.get("error") or exc))) from exc
    await ctx.say(texts.join_posted(link.title))


async def stats_command(ctx: Ctx) -> None:
    await ctx.say(await admin.campaign_stats(ctx.deps.chat, ctx.actor, ctx.campaign_ref("stats CAMPAIGN")))


async def texters_command(ctx: Ctx) -> None:
    await ctx.say(await admin.texters(ctx.deps.chat, ctx.actor, ctx.campaign_ref("texters CAMPAIGN")))


async def review_command(ctx: Ctx) -> None:
    if len(ctx.args) < 2:
        raise ctx.usage("review CAMPAIGN FILTER [@texter] (FILTER: needs-first-message, needs-response, ...)")
    ref, status_word = ctx.args[0], ctx.args[1]
    texter_slack = mentioned_user(ctx.args[2]) if len(ctx.args) > 2 else None
    if len(ctx.args) > 2 and texter_slack is None:
        raise ctx.usage("review CAMPAIGN FILTER @texter (mention the texter with @)")
    texter = (
        await ctx.deps.actor(ctx.actor.workspace_id, texter_slack, recheck=False) if texter_slack else None
    )
    await ctx.say(await admin.review(ctx.deps.chat, ctx.actor, ref, status_word, texter))


async def export_command(ctx: Ctx) -> None:
    """The campaign's contacts as CSV (answers and tags too), written to a temporary file and uploaded."""
    ref = ctx.campaign_ref("export CAMPAIGN")
    with tempfile.TemporaryDirectory(prefix="textbank-export-") as folder:
        path = Path(folder) / "contacts.csv"
        title, count = await admin.export_csv(ctx.deps.chat, ctx.actor, ref, path)
        filename = (re.sub(r"[^A-Za-z0-9_-]+", "-", title).strip("-").lower() or "campaign") + "-contacts.csv"
        await ctx.deps.client.files_upload_v2(
            channel=ctx.channel_id,
            file=str(path),
            filename=filename,
            title=f"{title} (contacts)",
            initial_comment=texts.export_comment(title, count),
        )
    await ctx.say(texts.exported(filename, count))


async def optout_command(ctx: Ctx) -> None:
    if not ctx.args:
        raise ctx.usage("optout add NUMBER | optout list [PAGE]")
    if ctx.args[0].lower() == "list":
        page = admin.whole_number(ctx.args[1], "page") if len(ctx.args) > 1 else 1
        await ctx.say(await admin.optout_list(ctx.deps.chat, ctx.actor, page))
        return
    number = ctx.args[1:] if ctx.args[0].lower() == "add" else ctx.args  # "optout NUMBER" still works
    if not number:
        raise ctx.usage("optout add NUMBER | optout list [PAGE]")
    await ctx.say(await admin.optout_add(ctx.deps.chat, ctx.actor, " ".join(number)))


async def admin_command(ctx: Ctx) -> None:
    if len(ctx.args) != 2 or ctx.args[0].lower() not in ("add", "remove") or not mentioned_user(ctx.args[1]):
        raise ctx.usage("admin add @user | admin remove @user")
    slack_id = mentioned_user(ctx.args[1])
    assert slack_id is not None
    await admin.require_admin(ctx.deps.chat, ctx.actor)
    target = await ctx.deps.actor(ctx.actor.workspace_id, slack_id, recheck=False)
    role = "admin" if ctx.args[0].lower() == "add" else "texter"
    await ctx.say(await admin.set_role(ctx.deps.chat, ctx.actor, target, role))


async def _texter_in(ctx: Ctx, usage: str) -> tuple[str, Actor, str]:
    """(campaign, texter, value) of ``CAMPAIGN @texter VALUE``."""
    if len(ctx.args) != 3 or mentioned_user(ctx.args[1]) is None:
        raise ctx.usage(usage)
    slack_id = mentioned_user(ctx.args[1])
    assert slack_id is not None
    await admin.require_admin(ctx.deps.chat, ctx.actor)
    texter = await ctx.deps.actor(ctx.actor.workspace_id, slack_id, recheck=False)
    return ctx.args[0], texter, ctx.args[2]


async def assign_command(ctx: Ctx) -> None:
    ref, texter, count = await _texter_in(
        ctx, 'assign CAMPAIGN @texter N (quote a title with spaces: "GOTV")'
    )
    number = admin.whole_number(count, "count")
    await ctx.say(await admin.assign(ctx.deps.chat, ctx.actor, ref, texter.user_id, number))


async def max_command(ctx: Ctx) -> None:
    ref, texter, value = await _texter_in(ctx, "max CAMPAIGN @texter N|none")
    await ctx.say(await admin.set_max(ctx.deps.chat, ctx.actor, ref, texter.user_id, value))


async def text_command(ctx: Ctx) -> None:
    words = list(ctx.args)
    number_words = []
    while words and PHONE_WORD.match(words[0]):
        number_words.append(words.pop(0))
    number, body = " ".join(number_words), " ".join(words).strip()
    if not number or not body:
        raise ctx.usage("text NUMBER MESSAGE (e.g. /textbank text (212) 555-0142 Hi, it's Sam)")
    await ctx.say(await adhoc.prepare(ctx.deps.chat, ctx.actor, number, body))


async def connect_command(ctx: Ctx) -> None:
    if len(ctx.args) > 1:
        raise ctx.usage("connect (to get a code) | connect CODE (a code from the other platform)")
    await ctx.say(await admin.connect_platforms(ctx.deps.chat, ctx.actor, ctx.args[0] if ctx.args else None))


async def done_command(ctx: Ctx) -> None:
    await ctx.say(await texting.done_for_the_day(ctx.deps.chat, ctx.actor, None))


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
    "assign": assign_command,
    "max": max_command,
    "text": text_command,
    "done": done_command,
    "connect": connect_command,
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
        try:
            if handler is None:
                raise Refused(texts.unknown_command(name))
            await handler(ctx)
        except Refused as exc:
            await ctx.say(texts.refusal(exc.reason))

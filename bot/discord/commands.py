"""``/textbank``: one application command group with typed options, each subcommand one core call.

Every command is deferred first (an ephemeral "thinking" answer, within Discord's 3 seconds), finds the
caller (``TextbankBot.actor``), makes its core call in a transaction and edits the answer into the
result. Admin commands check the role in that same transaction (``core.orgs.require_admin``); a refusal
is answered with core's one-line reason. Campaign options autocomplete from the organization's campaigns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import discord
from discord import app_commands
from discord.utils import escape_markdown as esc
from sqlalchemy.orm import Session

from bot.discord.client import PLATFORM, Actor, TextbankBot, in_db, log
from bot.discord.texting import FAILED, GREEN, GREY, done_for_the_day, join_message, refusal
from core import (
    assignment,
    campaign_yaml,
    campaigns,
    contacts_import,
    export,
    hours,
    joining,
    optouts,
    orgs,
    stats,
)
from core.errors import Refused
from storage.models import Campaign

MAX_YAML_BYTES = 1024 * 1024
MAX_CSV_BYTES = 512 * 1024 * 1024
TEXTER_COMMANDS = frozenset({"help", "done"})
LIST_LIMIT = 25  # rows shown in one answer
CAMPAIGN_OPTION = "the campaign (type to pick from the organization's campaigns)"


@dataclass
class Reply:
    content: str | None = None
    embed: discord.Embed | None = None
    file: discord.File | None = None


Work = Callable[[Actor], Awaitable[Reply | str]]


def _bot(interaction: discord.Interaction) -> TextbankBot:
    return interaction.client  # type: ignore[return-value]


async def answer(interaction: discord.Interaction, work: Work) -> None:
    """Defer (ephemeral), run ``work`` for the caller, and edit the answer into its reply or refusal."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        reply = await work(await _bot(interaction).actor(interaction))
    except Refused as exc:
        reply = Reply(embed=refusal(exc.reason).embed)
    except Exception:  # answer anyway: a deferred answer left alone shows "thinking..." for 15 minutes
        log.exception(
            "discord: /textbank %s failed", interaction.command.qualified_name if interaction.command else ""
        )
        reply = Reply(embed=refusal(FAILED).embed)
    if isinstance(reply, str):
        reply = Reply(content=reply)
    await interaction.edit_original_response(
        content=reply.content[:2000] if reply.content else None,
        embed=reply.embed,
        attachments=[reply.file] if reply.file else discord.utils.MISSING,
    )


def admin_campaign(session: Session, actor: Actor, ref: str) -> Campaign:
    orgs.require_admin(actor.user(session))
    return campaigns.get_campaign(session, actor.org_id, ref)


def lines_embed(title: str, lines: list[str], total: int | None = None) -> discord.Embed:
    """A list in an embed: at most ``LIST_LIMIT`` lines and 4,000 characters, then how many more there are."""
    shown: list[str] = []
    size = 0
    for line in lines[:LIST_LIMIT]:
        if size + len(line) + 1 > 3900:
            break
        shown.append(line)
        size += len(line) + 1
    more = (total if total is not None else len(lines)) - len(shown)
    if more > 0:
        shown.append(f"… and {more} more")
    return discord.Embed(title=title[:256], description="\n".join(shown) or "nothing yet", colour=GREY)


def stats_reply(session: Session, found: Campaign) -> Reply:
    result = stats.campaign_stats(session, found)
    embed = discord.Embed(
        title=found.title[:256], description=f"{result.sent_percent:.0f}% sent", colour=GREY
    )
    for label, value in (
        ("contacts", result.contacts),
        ("needs first message", result.needs_message),
        ("of them unassigned", result.needs_message_unassigned),
        ("messaged", result.messaged),
        ("needs response", result.needs_response),
        ("in conversation", result.convo),
        ("closed", result.closed),
        ("opted out", result.opted_out),
        ("escalated", result.escalated),
    ):
        embed.add_field(name=label, value=f"{value:,}")
    return Reply(embed=embed)


def texters_reply(session: Session, found: Campaign) -> Reply:
    rows = stats.texter_counts(session, found)
    lines = [
        f"**{esc(r.name)}**: {r.unsent_initials} unsent, {r.unhandled_replies} unhandled replies, "
        f"max {'none' if r.max_initials is None else r.max_initials}"
        for r in rows
    ]
    return Reply(embed=lines_embed(f"Texters of {found.title}", lines))


async def campaign_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the organization's live campaigns whose title holds what was typed (admins only)."""
    bot = _bot(interaction)
    guild, user = str(interaction.guild_id or ""), str(interaction.user.id)

    def names(session: Session) -> list[tuple[int, str]]:
        org = orgs.organization_for_workspace(session, PLATFORM, guild)
        identity = orgs.find_identity(session, PLATFORM, guild, user)
        if org is None or identity is None or not orgs.is_admin(orgs.get_user(session, identity.user_id)):
            return []
        listed = campaigns.list_campaigns(session, org.id, include_archived=False)
        return [
            (s.campaign.id, s.campaign.title) for s in listed if current.lower() in s.campaign.title.lower()
        ]

    found = await in_db(bot.db, names, write=False)
    return [app_commands.Choice(name=title[:100], value=str(cid)) for cid, title in found[:25]]


async def read_attachment(attachment: discord.Attachment, limit: int) -> bytes:
    if attachment.size > limit:
        raise Refused(f"{attachment.filename} is larger than {limit // 1024:,} KiB: split it")
    try:
        return await attachment.read()
    except discord.HTTPException as exc:
        raise Refused(
            f"Discord did not hand over {attachment.filename} ({exc.status}): attach it again"
        ) from exc


class CampaignForm(discord.ui.Modal, title="New campaign"):
    """``/textbank campaign new``: a draft campaign's title, description, initial message and hours."""

    name: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Title", max_length=100)
    description: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Description", style=discord.TextStyle.paragraph, required=False, max_length=1000
    )
    initial: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Initial message ({firstName}, {texterName})",
        style=discord.TextStyle.paragraph,
        max_length=1600,
    )
    hours_text: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Texting hours (contact's time)", default="09:00-21:00", max_length=11
    )
    zone: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Default time zone", default="America/New_York", max_length=64
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        values = {
            f: str(getattr(self, f).value).strip()
            for f in ("name", "description", "initial", "hours_text", "zone")
        }

        async def create(actor: Actor) -> Reply:
            start_text, _, end_text = values["hours_text"].partition("-")
            start, end = hours.parse_hhmm(start_text.strip()), hours.parse_hhmm(end_text.strip())

            def write(session: Session) -> tuple[int, str]:
                orgs.require_admin(actor.user(session))
                campaign = campaigns.create_campaign(
                    session,
                    actor.org_id,
                    title=values["name"],
                    description=values["description"],
                    timezone=values["zone"] or "America/New_York",
                    hours_start=start,
                    hours_end=end,
                    initial_script=values["initial"],
                )
                return campaign.id, campaign.title

            cid, title = await in_db(_bot(interaction).db, write)
            return Reply(
                embed=discord.Embed(
                    description=f"📝 Draft campaign **{esc(title)}** (id {cid}) created. Next: "
                    "`/textbank contacts`, `/textbank settings`, then `/textbank launch`.",
                    colour=GREEN,
                )
            )

        await answer(interaction, create)


class TextbankGroup(app_commands.Group):
    campaign = app_commands.Group(name="campaign", description="Create or update campaigns")
    link = app_commands.Group(name="link", description="Post a join message with its button in this channel")
    optout = app_commands.Group(name="optout", description="The organization's opt-out list")
    admin = app_commands.Group(name="admin", description="Manage who is an admin")

    def __init__(self, bot: TextbankBot) -> None:
        super().__init__(name="textbank", description="Peer-to-peer texting for campaigns", guild_only=True)
        self.bot = bot

    @app_commands.command(name="help", description="The commands you can use")
    async def help_command(self, interaction: discord.Interaction) -> None:
        async def listing(actor: Actor) -> Reply:
            lines = []
            for command in self.walk_commands():
                if isinstance(command, app_commands.Command) and (
                    actor.is_admin or command.name in TEXTER_COMMANDS
                ):
                    params = " ".join(
                        f"`{p.name}`" if p.required else f"[{p.name}]" for p in command.parameters
                    )
                    lines.append(f"`/{command.qualified_name}` {params} — {command.description}")
            embed = discord.Embed(
                title="textbank — texting from Discord", description="\n".join(lines)[:4000]
            )
            if not actor.is_admin:
                embed.set_footer(text="Admins see more commands here.")
            return Reply(embed=embed)

        await answer(interaction, listing)

    @campaign.command(name="new", description="Create a draft campaign in a form")
    async def campaign_new(self, interaction: discord.Interaction) -> None:
        # A form must be the first answer (no defer): so the role is checked again when it is submitted.
        try:
            actor = await self.bot.actor(interaction)
            await in_db(self.bot.db, lambda s: orgs.require_admin(actor.user(s)), write=False)
        except Refused as exc:
            await interaction.response.send_message(embed=refusal(exc.reason).embed, ephemeral=True)
            return
        await interaction.response.send_modal(CampaignForm())

    @campaign.command(name="apply", description="Create or update a campaign from a YAML file")
    @app_commands.describe(
        file="the campaign as YAML (title, hours, script, canned responses, tags, settings)"
    )
    async def campaign_apply(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        async def apply(actor: Actor) -> Reply:
            await in_db(self.bot.db, lambda s: orgs.require_admin(actor.user(s)), write=False)
            try:
                text = (await read_attachment(file, MAX_YAML_BYTES)).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise Refused(f"{file.filename} is not UTF-8 text: save it as UTF-8") from exc
            try:
                campaign, created = await in_db(
                    self.bot.db,
                    lambda s: campaign_yaml.apply_campaign_yaml(s, actor.org_id, text, source=file.filename),
                )
            except campaign_yaml.CampaignYamlError as exc:
                return Reply(embed=refusal("\n".join(exc.errors[:15])).embed)
            verb = "Created" if created else "Updated"
            return Reply(
                embed=discord.Embed(
                    description=f"✅ {verb} **{esc(campaign.title)}** (id {campaign.id}, {campaign.status}) "
                    f"from {esc(file.filename)}.",
                    colour=GREEN,
                )
            )

        await answer(interaction, apply)

    @campaign.command(name="list", description="The organization's campaigns")
    async def campaign_list(self, interaction: discord.Interaction) -> None:
        def listing(session: Session, actor: Actor) -> discord.Embed:
            orgs.require_admin(actor.user(session))
            rows = campaigns.list_campaigns(session, actor.org_id)
            lines = [
                f"`{s.campaign.id}` **{esc(s.campaign.title)}** {s.campaign.status}, {s.contacts:,} contacts"
                for s in rows
            ]
            return lines_embed("Campaigns", lines)

        await self._each(interaction, lambda s, actor: Reply(embed=listing(s, actor)))

    async def _each(
        self,
        interaction: discord.Interaction,
        work: Callable[[Session, Actor], Reply | str],
        write: bool = False,
    ) -> None:
        """Answer with ``work(session, caller)``, run in one transaction (a read unless ``write``)."""
        await answer(interaction, lambda actor: in_db(self.bot.db, lambda s: work(s, actor), write=write))

    async def _on_campaign(
        self,
        interaction: discord.Interaction,
        ref: str,
        work: Callable[[Session, Campaign], Reply | str],
        write: bool = False,
    ) -> None:
        """An admin command on one campaign: the role checked and ``work`` run in the same transaction."""
        await self._each(interaction, lambda s, actor: work(s, admin_campaign(s, actor, ref)), write)

    async def _with_texter(
        self,
        interaction: discord.Interaction,
        ref: str,
        member: discord.Member | None,
        work: Callable[[Session, Campaign, Actor, Any], Reply | str],
        write: bool = True,
    ) -> None:
        """An admin command on a campaign and a member: the role is checked before the member is looked up."""

        async def run(actor: Actor) -> Reply | str:
            await in_db(self.bot.db, lambda s: orgs.require_admin(actor.user(s)), write=False)
            target = await self.bot.member(actor, member) if member is not None else None
            return await in_db(
                self.bot.db, lambda s: work(s, admin_campaign(s, actor, ref), actor, target), write=write
            )

        await answer(interaction, run)

    @app_commands.command(name="contacts", description="Import a contacts CSV into a campaign")
    @app_commands.describe(file="the contacts as CSV (cell, first name, ...)")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def contacts_command(
        self, interaction: discord.Interaction, campaign: str, file: discord.Attachment
    ) -> None:
        async def run(actor: Actor) -> Reply:
            found = await in_db(self.bot.db, lambda s: admin_campaign(s, actor, campaign), write=False)
            return await self._import(interaction, found.id, found.title, file)

        await answer(interaction, run)

    async def _import(
        self, interaction: discord.Interaction, campaign_id: int, title: str, file: discord.Attachment
    ) -> Reply:
        """Download the CSV, import it on a worker thread showing progress in the answer, then its summary."""
        loop = asyncio.get_running_loop()
        last = [0.0]
        shown: list[concurrent.futures.Future[Any]] = []

        def progress(done: int, total: int) -> None:
            if not total or time.monotonic() - last[0] < 1.0:
                return
            last[0] = time.monotonic()
            text = f"Importing {file.filename} into {title}: {min(100.0, 100.0 * done / total):.0f}%"
            shown.append(
                asyncio.run_coroutine_threadsafe(interaction.edit_original_response(content=text), loop)
            )

        await interaction.edit_original_response(content=f"Importing {file.filename} into {title}…")
        with tempfile.TemporaryDirectory(prefix="textbank-import-") as folder:
            path = Path(folder) / "contacts.csv"
            path.write_bytes(await read_attachment(file, MAX_CSV_BYTES))
            summary = await asyncio.to_thread(
                contacts_import.import_contacts,
                self.bot.db,
                campaign_id,
                path,
                region=self.bot.settings.default_region,
                progress=progress,
            )
        # The summary goes last: a progress edit still on its way would overwrite it.
        await asyncio.gather(*(asyncio.wrap_future(f) for f in shown), return_exceptions=True)
        skipped = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in summary.skipped.items() if n)
        text = (
            f"✅ Imported **{summary.imported:,}** contacts of {summary.rows:,} rows from "
            f"{esc(file.filename)} into **{esc(title)}**."
        )
        return Reply(
            content="",
            embed=discord.Embed(
                description=text + (f" Skipped: {skipped}." if skipped else ""), colour=GREEN
            ),
        )

    @app_commands.command(name="launch", description="Start sending a campaign")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def launch_command(self, interaction: discord.Interaction, campaign: str) -> None:
        def work(session: Session, found: Campaign) -> Reply:
            title = campaigns.launch_campaign(session, found).title
            text = f"🚀 **{esc(title)}** is launched. Post a join message with `/textbank link initials`."
            return Reply(embed=discord.Embed(description=text, colour=GREEN))

        await self._on_campaign(interaction, campaign, work, write=True)

    @app_commands.command(name="archive", description="End a campaign for good")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def archive_command(self, interaction: discord.Interaction, campaign: str) -> None:
        def work(session: Session, found: Campaign) -> str:
            return f"**{esc(campaigns.archive_campaign(session, found).title)}** is archived."

        await self._on_campaign(interaction, campaign, work, write=True)

    @app_commands.command(name="settings", description="Show or change a campaign's assignment settings")
    @app_commands.describe(
        dynamic_initials="texters request batches of first texts",
        initials_batch_size="first texts per request",
        replies_before_initials="texters finish their replies before more first texts",
        max_initials_per_texter="most first texts a texter may hold (0 = no limit)",
        dynamic_replies="texters request batches of replies",
        replies_batch_size="replies per request",
        release_unhandled_after_minutes="hand unanswered replies back after this long (0 = never)",
    )
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def settings_command(
        self,
        interaction: discord.Interaction,
        campaign: str,
        dynamic_initials: bool | None = None,
        initials_batch_size: app_commands.Range[int, 1] | None = None,
        replies_before_initials: bool | None = None,
        max_initials_per_texter: app_commands.Range[int, 0] | None = None,
        dynamic_replies: bool | None = None,
        replies_batch_size: app_commands.Range[int, 1] | None = None,
        release_unhandled_after_minutes: app_commands.Range[int, 0] | None = None,
    ) -> None:
        given: dict[str, Any] = {
            k: v
            for k, v in {
                "dynamic_initials": dynamic_initials,
                "initials_batch_size": initials_batch_size,
                "replies_before_initials": replies_before_initials,
                "max_initials_per_texter": max_initials_per_texter,
                "dynamic_replies": dynamic_replies,
                "replies_batch_size": replies_batch_size,
                "release_unhandled_after_minutes": release_unhandled_after_minutes,
            }.items()
            if v is not None
        }
        for unlimited in ("max_initials_per_texter", "release_unhandled_after_minutes"):
            if given.get(unlimited) == 0:
                given[unlimited] = None

        def work(session: Session, found: Campaign) -> Reply:
            if given:
                campaigns.update_assignment_settings(session, found, **given)
            lines = [
                f"{name.replace('_', ' ')}: **{getattr(found, name)}**"
                for name in campaigns.ASSIGNMENT_FIELDS
            ]
            verb = "Saved" if given else "Current"
            return Reply(embed=lines_embed(f"{verb} assignment settings of {found.title}", lines))

        await self._on_campaign(interaction, campaign, work, write=True)

    async def _link(
        self, interaction: discord.Interaction, kind: str, campaign: str, team: str | None
    ) -> None:
        async def post(actor: Actor) -> str:
            def make(session: Session) -> tuple[str, str]:
                found = campaigns.get_campaign(session, actor.org_id, campaign)
                token = joining.create_join_token(session, actor.user(session), found, kind, team)
                return token.token, found.title

            token, title = await in_db(self.bot.db, make)
            message = join_message(title, kind, team, token)
            channel = interaction.channel
            if not isinstance(channel, discord.abc.Messageable):
                raise Refused("join messages go in a server text channel: run this there")
            try:
                await channel.send(embed=message.embed, view=message.view)
            except discord.Forbidden as exc:
                raise Refused(
                    f"could not post the join message here ({exc.text or exc.status}): give textbank the "
                    "Send Messages permission in this channel"
                ) from exc
            return f"Posted the join message for {title}."

        await answer(interaction, post)

    @link.command(name="initials", description="A join message for sending first texts")
    @app_commands.describe(team="also add who joins to this team")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def link_initials(
        self, interaction: discord.Interaction, campaign: str, team: str | None = None
    ) -> None:
        await self._link(interaction, "initials", campaign, team)

    @app_commands.command(name="stats", description="A campaign's progress")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def stats_command(self, interaction: discord.Interaction, campaign: str) -> None:
        await self._on_campaign(interaction, campaign, stats_reply)

    @app_commands.command(name="texters", description="Texters of a campaign with what they hold")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def texters_command(self, interaction: discord.Interaction, campaign: str) -> None:
        await self._on_campaign(interaction, campaign, texters_reply)

    @app_commands.command(
        name="assign", description="Give a texter first texts by hand (dynamic assignment off)"
    )
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    @app_commands.describe(texter="the texter to give them to", count="how many first texts")
    async def assign_command(
        self,
        interaction: discord.Interaction,
        campaign: str,
        texter: discord.Member,
        count: app_commands.Range[int, 1],
    ) -> None:
        def give(session: Session, found: Campaign, actor: Actor, target: Actor) -> str:
            result = assignment.assign_initials(
                session, actor.user(session), found, target.user(session), count
            )
            if not result.count:
                raise Refused(result.reason or "nothing was assigned")
            note = f" ({result.reason})" if result.reason else ""
            return f"Assigned {result.count} first texts of {found.title} to {target.name}.{note}"

        await self._with_texter(interaction, campaign, texter, give)

    @app_commands.command(name="max", description="A texter's own maximum of first texts")
    @app_commands.describe(maximum="leave out to use the campaign's maximum")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    @app_commands.describe(texter="the texter")
    async def max_command(
        self,
        interaction: discord.Interaction,
        campaign: str,
        texter: discord.Member,
        maximum: app_commands.Range[int, 0] | None = None,
    ) -> None:
        def save(session: Session, found: Campaign, actor: Actor, target: Actor) -> str:
            assignment.set_texter_max(session, actor.user(session), found, target.user(session), maximum)
            shown = "the campaign's maximum" if maximum is None else f"at most {maximum} first texts"
            return f"{target.name} now has {shown} in {found.title}."

        await self._with_texter(interaction, campaign, texter, save)

    @app_commands.command(name="review", description="Message review: a campaign's contacts by status")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    @app_commands.describe(status="which contacts", texter="only this texter's contacts")
    async def review_command(
        self,
        interaction: discord.Interaction,
        campaign: str,
        status: Literal["needs-first-message", "messaged", "needs-response", "convo", "closed", "all"],
        texter: discord.Member | None = None,
    ) -> None:
        def read(session: Session, found: Campaign, actor: Actor, who: Actor | None) -> Reply:
            wanted = None if status == "all" else stats.parse_status(status)
            texter_user = who.user(session) if who else None
            rows = stats.review(session, actor.user(session), found, status=wanted, texter=texter_user)
            lines = [
                f"`{r.cell}` {esc(r.first_name)} {esc(r.last_name)} — {r.status}"
                + (f", {esc(r.assigned_name)}" if r.assigned_name else "")
                + (" (opted out)" if r.opted_out else "")
                for r in rows
            ]
            return Reply(embed=lines_embed(f"Review of {found.title}: {status}", lines))

        await self._with_texter(interaction, campaign, texter, read, write=False)

    @app_commands.command(name="export", description="A campaign's contacts with answers and tags, as CSV")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def export_command(self, interaction: discord.Interaction, campaign: str) -> None:
        def work(session: Session, actor: Actor) -> Reply:
            found = campaigns.get_campaign(session, actor.org_id, campaign)
            out = io.StringIO()
            count = export.export_contacts_csv(session, actor.user(session), found, out)
            name = "".join(c if c.isalnum() else "-" for c in found.title).strip("-").lower() or "campaign"
            data = io.BytesIO(out.getvalue().encode("utf-8"))
            return Reply(
                f"{found.title}: {count:,} contacts with their answers and tags.",
                file=discord.File(data, f"{name}-contacts.csv"),
            )

        await self._each(interaction, work)

    @optout.command(name="add", description="Put a number on the opt-out list: no campaign texts it again")
    @app_commands.describe(number="the phone number, e.g. +12125550123 or (212) 555-0123")
    async def optout_add(self, interaction: discord.Interaction, number: str) -> None:
        def work(session: Session, actor: Actor) -> str:
            orgs.require_admin(actor.user(session))
            cell = optouts.normalize_or_refuse(number, self.bot.settings.default_region)
            added = optouts.opt_out(
                session, actor.org_id, cell, source="admin", reason="added in Discord", user_id=actor.user_id
            )
            return f"{cell} {'is now' if added else 'was already'} on the opt-out list."

        await self._each(interaction, work, write=True)

    @optout.command(name="list", description="The newest numbers on the opt-out list")
    async def optout_list(self, interaction: discord.Interaction) -> None:
        def work(session: Session, actor: Actor) -> Reply:
            orgs.require_admin(actor.user(session))
            rows = optouts.list_optouts(session, actor.org_id, limit=LIST_LIMIT)
            lines = [f"`{o.cell}` {o.source}, {o.created_at:%Y-%m-%d}" for o in rows]
            return Reply(
                embed=lines_embed("Opt-out list", lines, optouts.count_optouts(session, actor.org_id))
            )

        await self._each(interaction, work)

    @admin.command(name="add", description="Make a member an admin of textbank")
    @app_commands.describe(member="who becomes an admin")
    async def admin_add(self, interaction: discord.Interaction, member: discord.Member) -> None:
        async def work(actor: Actor) -> Reply | str:
            await in_db(self.bot.db, lambda s: orgs.require_admin(actor.user(s)), write=False)
            target = await self.bot.member(actor, member)
            await in_db(self.bot.db, lambda s: orgs.set_role(s, actor.user(s), target.user(s), "admin"))
            return f"{target.name} is now an admin."

        await answer(interaction, work)

    @app_commands.command(
        name="done", description="Done for the Day: hand back every text you have not sent or answered"
    )
    async def done_command(self, interaction: discord.Interaction) -> None:
        await self._each(interaction, done_for_the_day, write=True)


def build_group(bot: TextbankBot) -> TextbankGroup:
    return TextbankGroup(bot)

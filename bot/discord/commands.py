"""``/textbank``: one application command group with typed options, each subcommand one chat-layer call.

Every command is deferred first (an ephemeral "thinking" answer, within Discord's 3 seconds), finds the
caller (``TextbankBot.actor``), calls the chat layer (``bot.chat.admin``, ``bot.chat.texting``) and edits
the answer into the neutral view it returns; a refusal is core's one-line reason. Campaign options
autocomplete from the organization's campaigns (admins only).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import discord
from discord import app_commands

from bot.chat import actions as A
from bot.chat import adhoc, admin, texting, texts
from bot.chat.actor import Actor
from bot.chat.inputs import holds_nul
from bot.chat.surface import Place
from bot.chat.views import Message
from bot.discord.client import PLATFORM, TextbankBot, log
from bot.discord.render import FormModal, render, submitted_fields
from core import campaign_yaml, campaigns
from core.errors import Refused

MAX_YAML_BYTES = 1024 * 1024
MAX_CSV_BYTES = 512 * 1024 * 1024
CAMPAIGN_OPTION = "the campaign (type to pick from the organization's campaigns)"
Work = Callable[[Actor], Awaitable[Message]]


def _bot(interaction: discord.Interaction) -> TextbankBot:
    return interaction.client  # type: ignore[return-value]


async def answer(interaction: discord.Interaction, work: Work, **extra: Any) -> None:
    """Defer (ephemeral), run ``work`` for the caller, and edit the answer into its view or refusal."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        if holds_nul(interaction.data):
            raise Refused(texts.NUL_REFUSAL)
        message = await work(await _bot(interaction).actor(interaction))
    except campaign_yaml.CampaignYamlError as exc:
        message = texts.refusal("\n".join(exc.errors[:15]))
    except Refused as exc:
        message = texts.refusal(exc.reason)
    except Exception:  # answer anyway: a deferred answer left alone shows "thinking..." for 15 minutes
        name = interaction.command.qualified_name if interaction.command else ""
        log.exception("discord: /textbank %s failed", name)
        message, extra = texts.refusal(texts.FAILED), {}
    try:
        await interaction.edit_original_response(**render(message).kwargs(), **extra)
    except discord.HTTPException:  # Discord refused the answer itself: say so rather than think forever
        log.exception("discord: the answer to /textbank was refused")
        await interaction.edit_original_response(**render(texts.refusal(texts.FAILED)).kwargs())


async def campaign_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the organization's live campaigns whose title holds what was typed (admins only)."""
    guild, user = str(interaction.guild_id or ""), str(interaction.user.id)
    found = await _bot(interaction).chat.work.read(
        lambda s: campaigns.titles_for_member(s, PLATFORM, guild, user, current)
    )
    return [app_commands.Choice(name=title[:100], value=str(cid)) for cid, title in found[:25]]


async def read_attachment(attachment: discord.Attachment, limit: int) -> bytes:
    """The attached file's bytes; one over ``limit`` is refused before anything is downloaded."""
    if attachment.size > limit:
        raise Refused(texts.attachment_too_large(attachment.filename, attachment.size, limit))
    try:
        return await attachment.read()
    except discord.HTTPException as exc:
        raise Refused(texts.attachment_not_handed(attachment.filename, exc.status)) from exc


def register_forms(bot: TextbankBot) -> None:
    """The new-campaign form's submission (the form itself comes from ``/textbank campaign new``)."""

    async def created(interaction: discord.Interaction, action: A.Action, data: dict[str, Any]) -> None:
        fields = submitted_fields(data)
        await answer(interaction, lambda actor: admin.create_campaign(bot.chat, actor, fields))

    bot.handlers[A.CAMPAIGN_NEW] = created


class TextbankGroup(app_commands.Group):
    campaign = app_commands.Group(name="campaign", description="Create or update campaigns")
    link = app_commands.Group(name="link", description="Post a join message with its button in this channel")
    optout = app_commands.Group(name="optout", description="The organization's opt-out list")
    admin = app_commands.Group(name="admin", description="Manage who is an admin")
    threads = app_commands.Group(name="threads", description="Where conversation threads are opened")

    def __init__(self, bot: TextbankBot) -> None:
        super().__init__(name="textbank", description="Peer-to-peer texting for campaigns", guild_only=True)
        self.bot = bot
        self.chat = bot.chat

    @app_commands.command(name="help", description="The commands you can use")
    async def help_command(self, interaction: discord.Interaction) -> None:
        async def listing(actor: Actor) -> Message:
            return texts.help_message(actor.is_admin, "Discord", texts.THREADS_HELP)

        await answer(interaction, listing)

    @campaign.command(name="new", description="Create a draft campaign in a form")
    async def campaign_new(self, interaction: discord.Interaction) -> None:
        # A form must be the first answer (no defer): so the role is checked again when it is submitted.
        try:
            await admin.require_admin(self.chat, await self.bot.actor(interaction))
        except Refused as exc:
            rendered = render(texts.refusal(exc.reason))
            await interaction.response.send_message(ephemeral=True, **rendered.kwargs())
            return
        await interaction.response.send_modal(FormModal(texts.new_campaign_form()))

    @campaign.command(name="apply", description="Create or update a campaign from a YAML file")
    @app_commands.describe(
        file="the campaign as YAML (title, hours, script, canned responses, tags, settings)"
    )
    async def campaign_apply(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        async def apply(actor: Actor) -> Message:
            await admin.require_admin(self.chat, actor)
            try:
                text = (await read_attachment(file, MAX_YAML_BYTES)).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise Refused(texts.not_utf8(file.filename)) from exc
            return await admin.apply_yaml(self.chat, actor, text, file.filename)

        await answer(interaction, apply)

    @campaign.command(name="list", description="The organization's campaigns")
    async def campaign_list(self, interaction: discord.Interaction) -> None:
        await answer(interaction, lambda actor: admin.campaign_list(self.chat, actor))

    @app_commands.command(name="contacts", description="Import a contacts CSV into a campaign")
    @app_commands.describe(file="the contacts as CSV (cell, first name, ...)")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def contacts_command(
        self, interaction: discord.Interaction, campaign: str, file: discord.Attachment
    ) -> None:
        async def run(actor: Actor) -> Message:
            found = await admin.campaign_for_form(self.chat, actor, campaign)
            return await self._import(interaction, actor, found.id, found.title, file)

        await answer(interaction, run)

    async def _import(
        self,
        interaction: discord.Interaction,
        actor: Actor,
        campaign_id: int,
        title: str,
        file: discord.Attachment,
    ) -> Message:
        """Download the CSV, import it on a worker thread showing progress in the answer, then its summary."""
        loop = asyncio.get_running_loop()
        last = [0.0]
        shown: list[concurrent.futures.Future[Any]] = []

        def progress(done: int, total: int) -> None:
            if not total or time.monotonic() - last[0] < 1.0:
                return
            last[0] = time.monotonic()
            view = render(texts.import_progress(file.filename, title, min(100.0, 100.0 * done / total)))
            shown.append(
                asyncio.run_coroutine_threadsafe(interaction.edit_original_response(**view.kwargs()), loop)
            )

        started = render(texts.import_started(file.filename, title))
        await interaction.edit_original_response(**started.kwargs())
        with tempfile.TemporaryDirectory(prefix="textbank-import-") as folder:
            path = Path(folder) / "contacts.csv"
            path.write_bytes(await read_attachment(file, MAX_CSV_BYTES))
            summary = await admin.import_contacts(self.chat, actor, campaign_id, path, progress)
        # The summary goes last: a progress edit still on its way would overwrite it.
        await asyncio.gather(*(asyncio.wrap_future(f) for f in shown), return_exceptions=True)
        return texts.import_done(file.filename, title, summary.imported, summary.rows, summary.skipped)

    @app_commands.command(name="launch", description="Start sending a campaign")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def launch_command(self, interaction: discord.Interaction, campaign: str) -> None:
        await answer(interaction, lambda actor: admin.launch(self.chat, actor, campaign))

    @app_commands.command(name="archive", description="End a campaign for good")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def archive_command(self, interaction: discord.Interaction, campaign: str) -> None:
        await answer(interaction, lambda actor: admin.archive(self.chat, actor, campaign))

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
        given = {k: v for k, v in locals().items() if k in campaigns.ASSIGNMENT_FIELDS and v is not None}
        for unlimited in ("max_initials_per_texter", "release_unhandled_after_minutes"):
            if given.get(unlimited) == 0:
                given[unlimited] = None

        await answer(interaction, lambda actor: admin.assignment_settings(self.chat, actor, campaign, given))

    async def _link(
        self, interaction: discord.Interaction, kind: str, campaign: str, team: str | None
    ) -> None:
        async def post(actor: Actor) -> Message:
            link = await admin.join_link(self.chat, actor, kind, campaign, team)
            try:
                await self.chat.surface.post(Place(str(interaction.channel_id)), link.message)
            except discord.Forbidden as exc:
                raise Refused(texts.join_not_posted(exc.text or str(exc.status))) from exc
            return texts.join_posted(link.title)

        await answer(interaction, post)

    @link.command(name="initials", description="A join message for sending first texts")
    @app_commands.describe(team="also add who joins to this team")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def link_initials(
        self, interaction: discord.Interaction, campaign: str, team: str | None = None
    ) -> None:
        await self._link(interaction, "initials", campaign, team)

    @link.command(name="replies", description="A join message for answering replies")
    @app_commands.describe(team="also add who joins to this team")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def link_replies(
        self, interaction: discord.Interaction, campaign: str, team: str | None = None
    ) -> None:
        await self._link(interaction, "replies", campaign, team)

    @threads.command(name="channel", description="Open conversation threads in this channel (private ones)")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign="the campaign whose threads open here (leave out: every campaign's)")
    async def threads_channel(self, interaction: discord.Interaction, campaign: str | None = None) -> None:
        channel = str(interaction.channel_id)
        await answer(interaction, lambda actor: admin.thread_channel(self.chat, actor, campaign, channel))

    @app_commands.command(name="stats", description="A campaign's progress")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def stats_command(self, interaction: discord.Interaction, campaign: str) -> None:
        await answer(interaction, lambda actor: admin.campaign_stats(self.chat, actor, campaign))

    @app_commands.command(name="texters", description="Texters of a campaign with what they hold")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def texters_command(self, interaction: discord.Interaction, campaign: str) -> None:
        await answer(interaction, lambda actor: admin.texters(self.chat, actor, campaign))

    async def _texter(self, actor: Actor, member: discord.Member) -> Actor:
        """A member an admin names: the role is checked before the member is looked up (or entered)."""
        await admin.require_admin(self.chat, actor)
        return await self.bot.member(actor, member)

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
        async def give(actor: Actor) -> Message:
            target = await self._texter(actor, texter)
            return await admin.assign(self.chat, actor, campaign, target.user_id, count)

        await answer(interaction, give)

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
        async def save(actor: Actor) -> Message:
            target = await self._texter(actor, texter)
            value = "none" if maximum is None else str(maximum)
            return await admin.set_max(self.chat, actor, campaign, target.user_id, value)

        await answer(interaction, save)

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
        async def read(actor: Actor) -> Message:
            who = await self._texter(actor, texter) if texter is not None else None
            return await admin.review(self.chat, actor, campaign, status, who)

        await answer(interaction, read)

    @app_commands.command(name="export", description="A campaign's contacts with answers and tags, as CSV")
    @app_commands.autocomplete(campaign=campaign_names)
    @app_commands.describe(campaign=CAMPAIGN_OPTION)
    async def export_command(self, interaction: discord.Interaction, campaign: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        with tempfile.TemporaryDirectory(prefix="textbank-export-") as folder:
            path = Path(folder) / "contacts.csv"
            files: list[discord.File] = []

            async def write(actor: Actor) -> Message:
                title, count = await admin.export_csv(self.chat, actor, campaign, path)
                slug = re.sub(r"[^A-Za-z0-9_-]+", "-", title).strip("-").lower() or "campaign"
                name = f"{slug}-contacts.csv"
                size, limit = path.stat().st_size, interaction.filesize_limit
                if size > limit:  # Discord would refuse the upload (413) after the whole file went up
                    raise Refused(texts.export_too_large(name, size, limit))
                files.append(discord.File(path, name))
                return texts.exported(name, count)

            await answer(interaction, write, attachments=files)

    @optout.command(name="add", description="Put a number on the opt-out list: no campaign texts it again")
    @app_commands.describe(number="the phone number, e.g. +12125550123 or (212) 555-0123")
    async def optout_add(self, interaction: discord.Interaction, number: str) -> None:
        await answer(interaction, lambda actor: admin.optout_add(self.chat, actor, number))

    @optout.command(name="list", description="The opt-out list, newest first, a page at a time")
    @app_commands.describe(page="which page (1 = the newest)")
    async def optout_list(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1] = 1
    ) -> None:
        await answer(interaction, lambda actor: admin.optout_list(self.chat, actor, page))

    @admin.command(name="add", description="Make a member an admin of textbank")
    @app_commands.describe(member="who becomes an admin")
    async def admin_add(self, interaction: discord.Interaction, member: discord.Member) -> None:
        async def work(actor: Actor) -> Message:
            return await admin.set_role(self.chat, actor, await self._texter(actor, member), "admin")

        await answer(interaction, work)

    @app_commands.command(name="text", description="Text a number that is in no campaign yet (ad hoc)")
    @app_commands.describe(number="the phone number, e.g. (212) 555-0142", message="the text to send")
    async def text_command(self, interaction: discord.Interaction, number: str, message: str) -> None:
        await answer(interaction, lambda actor: adhoc.prepare(self.chat, actor, number, message))

    @app_commands.command(
        name="connect", description="Share one organization with another workspace or server"
    )
    @app_commands.describe(code="leave out to get a code; enter the code another server's admin gave you")
    async def connect_command(self, interaction: discord.Interaction, code: str | None = None) -> None:
        await answer(interaction, lambda actor: admin.connect_platforms(self.chat, actor, code))

    @app_commands.command(name="dashboard", description="Your campaigns, what you hold, your conversations")
    async def dashboard_command(self, interaction: discord.Interaction) -> None:
        await answer(interaction, lambda actor: texting.dashboard(self.chat, actor))

    @app_commands.command(
        name="done", description="Done for the Day: hand back every text you have not sent or answered"
    )
    async def done_command(self, interaction: discord.Interaction) -> None:
        await answer(interaction, lambda actor: texting.done_for_the_day(self.chat, actor, None))


def build_group(bot: TextbankBot) -> TextbankGroup:
    register_forms(bot)
    return TextbankGroup(bot)

"""The Discord bot: discord.py's ``AutoShardedClient`` over textbank's core.

``DISCORD_API_URL`` is the REST base (``discord.http.Route.BASE``, discord.py's only switch for it); the
gateway address is whatever ``GET /gateway/bot`` on that base answers (``AutoShardedClient`` asks it),
never a hard-coded default, so the whole bot runs against a stand-in with ``DISCORD_API_URL`` alone.

Intents: the defaults bring interactions (commands, buttons, modals) and guilds. Message Content is
asked for too, so that text a texter types in a conversation thread can be read: Discord calls it
privileged and it must be switched on in the developer portal (README, "Discord").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.chat import replies, texts
from bot.chat.actions import Action
from bot.chat.actor import Actor
from bot.chat.context import Chat
from bot.chat.inputs import holds_nul
from bot.chat.people import Profile, resolve_actor
from bot.chat.surface import Place
from bot.config import Settings
from bot.dbwork import DbWork
from bot.discord.pace import Pace, pace_requests
from bot.discord.render import clicked_action, render
from bot.discord.surface import PLATFORM, DiscordSurface
from core import orgs, thread_channels
from core.errors import Refused
from storage.engine import Database

log = logging.getLogger("textbank.discord")
DEFAULT_API_URL = "https://discord.com/api/v10"
# A click's handler: the interaction, its neutral action, and the raw interaction data (a form's fields).
Handler = Callable[[discord.Interaction, Action, dict[str, Any]], Awaitable[None]]


def intents() -> discord.Intents:
    wanted = discord.Intents.default()
    wanted.message_content = True  # privileged: typed replies in conversation threads
    return wanted


def use_api(api_url: str) -> None:
    """Point discord.py's REST calls (interaction callbacks and follow-ups included) at ``api_url``."""
    discord.http.Route.BASE = (api_url or DEFAULT_API_URL).rstrip("/")


def platform_admin(interaction: discord.Interaction) -> bool:
    """The guild's owner, or a member with Administrator or Manage Server (core decides what that means)."""
    guild = interaction.guild
    if guild is not None and guild.owner_id == interaction.user.id:
        return True
    perms = interaction.permissions
    return bool(perms.administrator or perms.manage_guild)


class TextbankBot(discord.AutoShardedClient):
    """The bot: the command tree, the chat layer over the Discord surface, and every click's dispatch.

    ``/textbank`` is added to ``tree`` by its builder (``bot.discord.component.build_bot``); ``setup_hook``
    syncs it with Discord on every start, so the command group always matches this code. A click on any
    textbank button, select or form (custom_id ``tb_...``) is found by its action's name in ``handlers``,
    so buttons keep working on messages posted before a restart.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(intents=intents())
        self.pace = Pace()  # under Discord's global limit, instead of learning it from 429s
        pace_requests(self.http, self.pace)
        self.db = db
        self.settings = settings
        self.tree = app_commands.CommandTree(self)
        self.surface = DiscordSurface(self, self.thread_channel)
        self.chat = Chat(DbWork(db, name="discord-db"), self.surface, settings)
        self.handlers: dict[str, Handler] = {}
        self.ready = asyncio.Event()  # set once the gateway is ready and /textbank is synced

    async def setup_hook(self) -> None:
        # AutoShardedClient asks GET /gateway/bot when it starts, but a reconnect that cannot resume dials
        # DEFAULT_GATEWAY (Discord's own address): make that the address Discord (or DISCORD_API_URL) gave.
        _, gateway, _ = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
        await self.tree.sync()

    async def on_ready(self) -> None:
        log.info("discord: connected as %s to %d servers", self.user, len(self.guilds))
        self.ready.set()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A click on a textbank button or select, or a submitted textbank form: its action's handler."""
        if interaction.type not in (discord.InteractionType.component, discord.InteractionType.modal_submit):
            return
        data: dict[str, Any] = dict(interaction.data or {})
        action = clicked_action(data)
        handler = self.handlers.get(action.name)
        if handler is None:
            return
        try:
            if holds_nul(data):
                message = texts.refusal(texts.NUL_REFUSAL)
                await interaction.response.send_message(ephemeral=True, **render(message).kwargs())
                return
            await handler(interaction, action, data)
        except Exception:  # answer anyway: a deferred answer left alone shows "thinking..." for 15 minutes
            log.exception("discord: %s failed", action.name)
            message = texts.refusal(texts.FAILED)
            if interaction.response.is_done():
                await interaction.edit_original_response(**render(message).kwargs())
            else:
                await interaction.response.send_message(ephemeral=True, **render(message).kwargs())

    async def on_message(self, message: discord.Message) -> None:
        """Text a texter types in one of their conversation threads becomes its draft (above Send)."""
        if message.author.bot or message.guild is None or not message.content or holds_nul(message.content):
            return
        # Conversation threads only (one the bot made is not in discord.py's cache: a partial channel).
        if not isinstance(message.channel, discord.Thread | discord.PartialMessageable):
            return
        try:
            actor = await self.enter(str(message.guild.id), message.author, False)
            await replies.typed(self.chat, actor, Place(str(message.channel.id)), message.content)
        except Exception:
            log.exception("discord: a typed reply in %s failed", message.channel.id)

    async def actor(self, interaction: discord.Interaction) -> Actor:
        """The textbank user behind the interaction's user, entered by core's rule on first use.

        In a DM there is no guild: the server they last came from is theirs here.
        """
        guild = str(interaction.guild_id or "")
        who = str(interaction.user.id)
        if not guild:
            guild = await self.chat.work.read(lambda s: orgs.last_workspace(s, PLATFORM, who) or "")
        if not guild:
            raise Refused(texts.NO_SERVER)
        admin = platform_admin(interaction) if interaction.guild_id else False
        return await self.enter(guild, interaction.user, admin)

    async def member(self, actor: Actor, member: discord.Member | discord.User) -> Actor:
        """Another member named in a command, entered by core's rule if new."""
        perms = getattr(member, "resolved_permissions", None) or getattr(member, "guild_permissions", None)
        owner = getattr(getattr(member, "guild", None), "owner_id", None) == member.id
        admin = bool(owner or (perms is not None and (perms.administrator or perms.manage_guild)))
        return await self.enter(actor.workspace_id, member, admin)

    async def enter(self, guild: str, who: discord.abc.User, admin: bool) -> Actor:
        profile = Profile(who.display_name, admin)

        async def lookup() -> Profile:
            return profile

        return await resolve_actor(
            self.chat.work,
            PLATFORM,
            guild,
            str(who.id),
            lookup,
            org_name=self.settings.organization_name,
        )

    async def thread_channel(self, discord_id: str, campaign_id: int) -> str | None:
        """The channel an admin chose for the campaign's conversation threads in the user's server."""
        return await self.chat.work.read(
            lambda s: thread_channels.for_thread(s, PLATFORM, discord_id, campaign_id)
        )

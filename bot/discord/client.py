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
from collections.abc import Callable
from typing import TypeVar

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.discord.components import DYNAMIC_ITEMS
from bot.group_commit import SEND_BATCH, SEND_WRITERS, GroupCommit
from core import orgs
from core.errors import Refused
from storage.engine import Database
from storage.models import User

log = logging.getLogger("textbank.discord")
PLATFORM = "discord"
DEFAULT_API_URL = "https://discord.com/api/v10"
T = TypeVar("T")


def intents() -> discord.Intents:
    wanted = discord.Intents.default()
    wanted.message_content = True  # privileged: typed replies in conversation threads
    return wanted


def use_api(api_url: str) -> None:
    """Point discord.py's REST calls (interaction callbacks and follow-ups included) at ``api_url``."""
    discord.http.Route.BASE = (api_url or DEFAULT_API_URL).rstrip("/")


async def in_db(db: Database, work: Callable[[Session], T], *, write: bool = True) -> T:
    """``work`` in one transaction (a read-only one unless ``write``) on a worker thread."""

    def run() -> T:
        with db.session() if write else db.read() as session:
            result = work(session)
            if not write:
                session.expunge_all()  # keep what was loaded usable after the read's rollback
            return result

    return await asyncio.to_thread(run)


class Actor:
    """Who clicked or typed: the textbank user behind a Discord member, and their guild."""

    __slots__ = ("guild_id", "name", "org_id", "role", "discord_id", "user_id")

    def __init__(self, user: User, guild_id: str, discord_id: str) -> None:
        self.user_id = user.id
        self.name = user.name
        self.role = user.role
        self.org_id = user.organization_id
        self.guild_id = guild_id
        self.discord_id = discord_id

    @property
    def is_admin(self) -> bool:
        return self.role in orgs.ADMIN_ROLES

    def user(self, session: Session) -> User:
        return orgs.get_user(session, self.user_id)


def platform_admin(interaction: discord.Interaction) -> bool:
    """The guild's owner, or a member with Administrator or Manage Server (core decides what that means)."""
    guild = interaction.guild
    if guild is not None and guild.owner_id == interaction.user.id:
        return True
    perms = interaction.permissions
    return bool(perms.administrator or perms.manage_guild)


class TextbankBot(discord.AutoShardedClient):
    """The bot: the command tree, the persistent buttons, and what every handler shares.

    ``/textbank`` is added to ``tree`` by its builder (``bot.discord.component.build_bot``); ``setup_hook``
    syncs it with Discord on every start, so the command group always matches this code.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(intents=intents())
        self.db = db
        self.settings = settings
        self.tree = app_commands.CommandTree(self)
        self.sends = GroupCommit(db, writers=SEND_WRITERS, max_batch=SEND_BATCH)
        self.ready = asyncio.Event()  # set once the gateway is ready and /textbank is synced

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        # AutoShardedClient asks GET /gateway/bot when it starts, but a reconnect that cannot resume dials
        # DEFAULT_GATEWAY (Discord's own address): make that the address Discord (or DISCORD_API_URL) gave.
        _, gateway, _ = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
        await self.tree.sync()

    async def on_ready(self) -> None:
        log.info("discord: connected as %s to %d servers", self.user, len(self.guilds))
        self.ready.set()

    async def actor(self, interaction: discord.Interaction, guild_id: int | str | None = None) -> Actor:
        """The textbank user behind the interaction's user, entered by core's rule on first use.

        In a DM there is no guild: ``guild_id`` (carried by the DM's buttons) names the one they came from.
        """
        guild = str(guild_id or interaction.guild_id or "")
        if not guild:
            raise Refused("use textbank from a server channel first: it has no server to go by here")
        admin = platform_admin(interaction) if interaction.guild_id else False
        return await self.enter(guild, interaction.user, admin)

    async def member(self, actor: Actor, member: discord.Member | discord.User) -> Actor:
        """Another member named in a command, entered by core's rule if new."""
        perms = getattr(member, "resolved_permissions", None) or getattr(member, "guild_permissions", None)
        owner = getattr(getattr(member, "guild", None), "owner_id", None) == member.id
        admin = bool(owner or (perms is not None and (perms.administrator or perms.manage_guild)))
        return await self.enter(actor.guild_id, member, admin)

    async def enter(self, guild: str, who: discord.abc.User, admin: bool) -> Actor:
        name = who.display_name

        def enter(session: Session) -> Actor:
            user = orgs.enter_workspace_user(
                session,
                platform=PLATFORM,
                workspace_id=guild,
                platform_user_id=str(who.id),
                name=name,
                platform_admin=admin,
                org_name=self.settings.organization_name,
            )
            return Actor(user, guild, str(who.id))

        return await in_db(self.db, enter)

"""The Discord bot as one part of ``textbank run`` (started when ``DISCORD_TOKEN`` is set)."""

from __future__ import annotations

import asyncio
import contextlib

import discord

from bot.chat import texts
from bot.chat.relay import RelayWorker
from bot.config import Settings
from bot.discord import commands, texting
from bot.discord.client import DEFAULT_API_URL, TextbankBot, use_api
from core.errors import Refused
from storage.engine import Database


def build_bot(db: Database, settings: Settings) -> TextbankBot:
    """The bot with the ``/textbank`` group and every click's handler, REST at ``DISCORD_API_URL``."""
    use_api(settings.discord_api_url)
    bot = TextbankBot(db, settings)
    bot.tree.add_command(commands.build_group(bot))
    texting.register(bot)
    return bot


class DiscordComponent:
    """Logs in, connects to the gateway ``GET /gateway/bot`` names, syncs ``/textbank``; ``start`` returns
    once the bot is ready, or raises what stopped it (a refused token, a missing privileged intent)."""

    name = "discord"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.settings = settings
        self.bot: TextbankBot = build_bot(db, settings)
        self._running: asyncio.Task[None] | None = None
        self._relay: RelayWorker | None = None

    @property
    def description(self) -> str:
        api = self.settings.discord_api_url or DEFAULT_API_URL
        return f"discord: /textbank commands and buttons over the gateway, REST {api}, relay worker"

    async def start(self) -> None:
        self._running = asyncio.create_task(self.bot.start(self.settings.discord_token))
        ready = asyncio.create_task(self.bot.ready.wait())
        await asyncio.wait({self._running, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            self._relay = RelayWorker(self.bot.chat.threads)
            self._relay.start()
            return
        ready.cancel()
        try:
            self._running.result()
        except discord.LoginFailure as exc:
            raise Refused(texts.DISCORD_TOKEN_REFUSED) from exc
        except discord.PrivilegedIntentsRequired as exc:
            raise Refused(texts.DISCORD_INTENT_REFUSED) from exc
        raise Refused(texts.DISCORD_STOPPED)

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
        await self.bot.close()
        if self._running is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._running


def runtime_parts(db: Database, settings: Settings) -> list[DiscordComponent]:
    """What ``textbank run`` adds for Discord: the bot when ``DISCORD_TOKEN`` is set."""
    return [DiscordComponent(db, settings)] if settings.discord_token else []

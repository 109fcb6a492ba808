"""``Chat``: what every flow of one platform connection shares (database work, surface, threads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.chat.surface import MessageRef, Surface
from bot.chat.threads import Threads
from bot.chat.views import Message
from bot.config import Settings
from bot.dbwork import DbWork


@dataclass
class Chat:
    work: DbWork
    surface: Surface
    settings: Settings
    threads: Threads = field(init=False)

    def __post_init__(self) -> None:
        self.threads = Threads(self.surface, self.work)

    @property
    def platform(self) -> str:
        return self.surface.platform

    async def dm(self, platform_user_id: str, message: Message) -> MessageRef:
        """Post ``message`` into the user's direct messages with the bot."""
        return await self.surface.post(await self.surface.open_dm(platform_user_id), message)

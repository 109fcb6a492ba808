"""textbank's buttons on Discord: every one is the ``DynamicItem`` ``Act``, parsed back from its custom_id.

A custom_id is ``tb_<name>|<compact JSON of ids>`` (at most 100 characters, Discord's limit; it carries
ids and the state the person saw, never a text). Because the handler is found from the custom_id alone,
buttons keep working on messages posted before a restart: a join message posted last week still joins.
Messages are sent with ``Buttons``, a view that discord.py does not keep in memory per message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

MAX_CUSTOM_ID = 100
Handler = Callable[[discord.Interaction, dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}


class CustomIdTooLong(ValueError):
    pass


def custom_id(name: str, **args: int | str | None) -> str:
    encoded = f"tb_{name}|" + json.dumps(
        {k: v for k, v in args.items() if v is not None}, separators=(",", ":")
    )
    if len(encoded) > MAX_CUSTOM_ID:
        raise CustomIdTooLong(
            f"{encoded[:40]}... is {len(encoded)} characters (Discord allows {MAX_CUSTOM_ID})"
        )
    return encoded


def handles(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of the ``tb_<name>`` buttons."""

    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


class Act(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"tb_(?P<name>[a-z_]+)\|(?P<args>\{.*\})"):
    def __init__(self, button: discord.ui.Button[Any], name: str, args: dict[str, Any]) -> None:
        super().__init__(button)
        self.name = name
        self.args = args

    @classmethod
    def button(
        cls, label: str, name: str, style: discord.ButtonStyle = discord.ButtonStyle.secondary, **args: Any
    ) -> Act:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label[:80], style=style, custom_id=custom_id(name, **args)
        )
        return cls(button, name, args)

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # textbank's items are buttons
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> Act:
        try:
            args = json.loads(match["args"])
        except ValueError:
            args = {}
        return cls(item, match["name"], args if isinstance(args, dict) else {})

    async def callback(self, interaction: discord.Interaction) -> None:
        handler = HANDLERS.get(self.name)
        if handler is not None:
            await handler(interaction, self.args)


class Buttons(discord.ui.View):
    """Rows of ``Act`` buttons (5 to a row, 5 rows). Not stored per message: ``Act`` finds the handler."""

    def __init__(self, *buttons: Act) -> None:
        super().__init__(timeout=None)
        if len(buttons) > 25:
            raise ValueError(f"{len(buttons)} buttons: a Discord message holds at most 25 (5 rows of 5)")
        for button in buttons:
            self.add_item(button)

    def is_dispatchable(self) -> bool:
        return False


DYNAMIC_ITEMS = (Act,)

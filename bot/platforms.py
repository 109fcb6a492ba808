"""The chat platforms ``textbank run`` can start, from one list, and what it says about each part.

Each entry turns the settings into the platform's parts (web route hooks and runtime components), or
says why the platform is off. ``run_report`` is what ``textbank run`` prints first: which parts start,
which are off and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.config import Settings
from bot.discord.component import runtime_parts as discord_parts
from bot.runtime import Component
from bot.slack.app import runtime_parts as slack_parts
from bot.web import RouteHook
from storage import Database


@dataclass(frozen=True)
class PlatformParts:
    name: str
    hooks: list[RouteHook] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    off: str | None = None  # why the platform is not started


def _slack(db: Database, settings: Settings) -> PlatformParts:
    if not settings.slack_bot_token:
        return PlatformParts("slack", off="SLACK_BOT_TOKEN is not set")
    hooks, components = slack_parts(db, settings)
    return PlatformParts("slack", list(hooks), list(components))


def _discord(db: Database, settings: Settings) -> PlatformParts:
    if not settings.discord_token:
        return PlatformParts("discord", off="DISCORD_TOKEN is not set")
    return PlatformParts("discord", components=list(discord_parts(db, settings)))


# The chat platforms, in start order. A new platform adds its entry here (see docs/ARCHITECTURE.md).
PLATFORMS: tuple[Callable[[Database, Settings], PlatformParts], ...] = (_slack, _discord)


def chat_platforms(db: Database, settings: Settings) -> list[PlatformParts]:
    """Every chat platform's parts (Refused when one is set up halfway, e.g. a token without its secret)."""
    return [entry(db, settings) for entry in PLATFORMS]


def sms_line(settings: Settings) -> str:
    if settings.sms == "twilio":
        return f"sms: Twilio, sending as {settings.sender}"
    why = "TEXTBANK_SMS=console" if settings.twilio_configured else "Twilio is not configured"
    return f"sms: console ({why}): texts are printed here, not sent"


def run_report(platforms: Sequence[PlatformParts], settings: Settings) -> list[str]:
    """One line per part: started, or off and why."""
    lines = [f"{p.name}: off ({p.off})" if p.off else f"{p.name}: starting" for p in platforms]
    lines.append(sms_line(settings))
    return lines

"""Discord's global rate limit kept on our side: REST requests spaced to stay under 50 a second.

discord.py waits out each route's bucket from the headers Discord sends, but learns of the global limit
(50 requests a second per bot, interaction answers excepted) only from a 429. A burst, such as a hundred
replies opening their conversation threads at once (about six requests each), then comes back as hundreds
of 429s: each request sleeps and tries again, up to five times, then fails to the relay's backoff, and
Discord counts every one of those 429s towards its ban on invalid requests (10,000 in 10 minutes). Spaced
evenly below the limit, the same burst goes out in the same time without a 429.

The pace is per process: two processes on one bot token share Discord's 50 a second between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import discord

# Evenly spaced at 48 a second, no 1-second window (however Discord aligns it) holds more than 49.
PER_SECOND = 48.0


class Pace:
    """Hands out start times at least ``1 / per_second`` apart; a request alone goes at once."""

    def __init__(self, per_second: float = PER_SECOND) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        start = max(now, self._next)
        self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def pace_requests(http: discord.http.HTTPClient, pace: Pace) -> None:
    """Make every REST request of ``http`` (the bot's; interaction answers use another client) wait its
    turn. The client is patched in place because discord.py's connection state holds it too."""
    request: Callable[..., Awaitable[Any]] = http.request

    async def paced(route: discord.http.Route, **kwargs: Any) -> Any:
        await pace.wait()
        return await request(route, **kwargs)

    http.request = paced  # type: ignore[method-assign]

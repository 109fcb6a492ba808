"""Discord's rate limits as the stand-in models them, when a test or benchmark asks it to.

Discord (https://discord.com/developers/docs/topics/rate-limits) limits each bot per route and per
top-level resource (a channel, a guild, a webhook) and says so on every answer: ``X-RateLimit-Limit``,
``-Remaining``, ``-Reset-After`` and ``-Bucket``. Past the limit it answers 429 with ``retry_after`` (and
``Retry-After``), scope ``user``. On top of that every bot may make 50 requests a second in all (the
global limit, documented), except to the interaction endpoints (``/interactions``, ``/webhooks``); past it a
429 with ``"global": true``. The per-route numbers are not documented ("should not be hard coded"), so
``RouteLimit``s are assumptions the caller states.

A route with no ``RouteLimit`` is answered with a bucket too large to reach, because discord.py treats a
route whose answers carry no headers as a bucket of one: one request at a time.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

GLOBAL_PER_SECOND = 50  # Discord's documented global limit for a bot
EXEMPT = ("/interactions/", "/webhooks/")  # interaction endpoints: not bound to the global limit
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class RouteLimit:
    """``limit`` requests per ``per`` seconds on ``method path`` (a regex whose first group, if any, is
    the top-level resource: each channel has its own window)."""

    method: str
    path: str
    limit: int
    per: float

    @property
    def bucket(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class _Window:
    resets: float
    used: int = 0


@dataclass(frozen=True)
class Verdict:
    """What the stand-in answers: the headers, and the 429 body when the request is refused."""

    headers: dict[str, str]
    refused: dict[str, object] | None = None


@dataclass
class RateLimits:
    routes: list[RouteLimit] = field(default_factory=list)
    global_per_second: int | None = GLOBAL_PER_SECOND
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    refusals: int = 0

    def _window(self, key: tuple[str, str], per: float, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.resets:
            window = self._windows[key] = _Window(now + per)
        return window

    def check(self, method: str, path: str) -> Verdict:
        """Count the request against its windows; the verdict says whether it passes."""
        now = time.monotonic()
        if self.global_per_second is not None and not path.startswith(EXEMPT):
            overall = self._window(("global", ""), 1.0, now)
            if overall.used >= self.global_per_second:
                self.refusals += 1
                wait = round(overall.resets - now, 3)
                headers = {
                    "Retry-After": str(wait),
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                }
                body = {"message": "You are being rate limited.", "retry_after": wait, "global": True}
                return Verdict(headers, body)
            overall.used += 1
        route = next((r for r in self.routes if r.method == method and re.fullmatch(r.path, path)), None)
        if route is None:  # one bucket per route shape, each id a resource of its own
            route = RouteLimit(method, re.sub(r"\d{5,}", "{id}", path), UNLIMITED, 1.0)
            resource = ",".join(re.findall(r"\d{5,}", path))
        else:
            match = re.fullmatch(route.path, path)
            resource = match.group(1) if match and match.groups() else ""
        window = self._window((route.bucket, resource), route.per, now)
        wait = round(window.resets - now, 3)
        headers = {
            "X-RateLimit-Limit": str(route.limit),
            "X-RateLimit-Reset-After": str(wait),
            "X-RateLimit-Bucket": route.bucket,
        }
        if window.used >= route.limit:
            self.refusals += 1
            headers.update(
                {"X-RateLimit-Remaining": "0", "Retry-After": str(wait), "X-RateLimit-Scope": "user"}
            )
            return Verdict(
                headers, {"message": "You are being rate limited.", "retry_after": wait, "global": False}
            )
        window.used += 1
        headers["X-RateLimit-Remaining"] = str(route.limit - window.used)
        return Verdict(headers)

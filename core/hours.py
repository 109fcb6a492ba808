"""Texting hours, in the contact's own time zone.

A campaign's window is ``[start, end)`` in minutes after local midnight (default 09:00 to 21:00): a text
may go at 09:00 exactly and no later than 20:59:59. A window that ends before it starts wraps midnight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import Refused

DEFAULT_START = 9 * 60
DEFAULT_END = 21 * 60


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Refused(f"unknown time zone {name!r}: use an IANA name such as America/New_York") from exc


def parse_hhmm(value: str) -> int:
    """``"09:00"`` -> 540. Refuses anything that is not HH:MM on a 24-hour clock."""
    text = str(value).strip()
    try:
        hh, mm = text.split(":")
        hours, minutes = int(hh), int(mm)
    except ValueError as exc:
        raise Refused(f"bad time {value!r}: write it as HH:MM, e.g. 09:00 or 21:00") from exc
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise Refused(f"bad time {value!r}: hours 00-24, minutes 00-59")
    return hours * 60 + minutes


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Window:
    start: int = DEFAULT_START
    end: int = DEFAULT_END

    def contains(self, minute_of_day: int) -> bool:
        if self.start == self.end:
            return True  # a zero-length window means "any time"
        if self.start < self.end:
            return self.start <= minute_of_day < self.end
        return minute_of_day >= self.start or minute_of_day < self.end


def local_now(tz_name: str, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(zone(tz_name))


def is_within(window: Window, tz_name: str, now: datetime | None = None) -> bool:
    """Is it inside the texting window right now in zone ``tz_name``?"""
    local = local_now(tz_name, now)
    return window.contains(local.hour * 60 + local.minute)


def window_closes_at(window: Window, tz_name: str, now: datetime | None = None) -> datetime | None:
    """When the current window closes (aware UTC), or None if we are outside it now."""
    if window.start == window.end:
        return None
    local = local_now(tz_name, now)
    if not window.contains(local.hour * 60 + local.minute):
        return None
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    close = midnight + timedelta(minutes=window.end)
    if close <= local:
        close += timedelta(days=1)
    # Rebuild through the zone so a DST change inside the day lands on the right wall-clock time.
    close = close.replace(tzinfo=None).replace(tzinfo=zone(tz_name))
    return close.astimezone(UTC)


def zones_open_now(zone_names: Iterable[str], window: Window, now: datetime | None = None) -> list[str]:
    """Of ``zone_names``, the ones where the window is open now (claims filter contacts by this list)."""
    return sorted(name for name in set(zone_names) if is_within(window, name, now))

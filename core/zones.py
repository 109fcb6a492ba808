"""A contact's time zone: from the zip code, else the phone's area code, else the campaign's default.

The zip table comes from the ``zipcodes`` package (USPS zips with their IANA zone); Arizona's zips carry
America/Phoenix, which has no daylight saving time, except the Navajo Nation's, which observe it.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

import zipcodes

from core.phones import zone_for_number


@lru_cache(maxsize=1)
def _zip_zones() -> dict[str, str]:
    """Five-digit zip -> IANA zone, built once (a few entries carry no zone or a broken one: left out)."""
    known = available_timezones()
    table: dict[str, str] = {}
    # A hundred small queries by two-digit prefix: listing all 42,000 zips as dicts at once would take
    # some 170 MB for a moment.
    for prefix in range(100):
        for entry in zipcodes.similar_to(f"{prefix:02d}"):
            zone = entry.get("timezone") or ""
            if zone in known:
                table[entry["zip_code"]] = zone
    return table


def zip5(raw: str) -> str | None:
    """The five-digit zip inside ``raw``: ZIP+4 (``02108-1234`` or nine digits) and zips whose leading
    zeros a spreadsheet dropped (``2108`` for Boston's 02108) are understood; anything else is None."""
    text = (raw or "").strip()
    if text.endswith(".0"):  # a spreadsheet that stored the zip as a number
        text = text[:-2]
    head, dash, tail = text.partition("-")
    if dash:
        if not (head.isdigit() and tail.isdigit() and len(tail) == 4 and 3 <= len(head) <= 5):
            return None
        return head.zfill(5)
    if not text.isdigit():
        return None
    if 3 <= len(text) <= 5:
        return text.zfill(5)
    if 7 <= len(text) <= 9:  # ZIP+4 without its dash, perhaps with lost leading zeros
        return text.zfill(9)[:5]
    return None


def zone_for_zip(zip: str) -> str | None:
    """The IANA zone of a US zip code, or None when the zip is unknown or malformed."""
    five = zip5(zip)
    return _zip_zones().get(five) if five else None


def contact_zone(zip: str, cell: str, campaign_zone: str) -> str:
    """The zip's zone, else the number's area-code zone, else the campaign's default zone."""
    return zone_for_zip(zip) or zone_for_number(cell) or campaign_zone

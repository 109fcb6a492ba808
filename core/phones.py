"""Phone numbers: E.164 normalization, masking for texters, and the zone of an area code."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone

DEFAULT_REGION = "US"


def normalize(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form of ``raw`` if it is a valid number, else None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(cell: str) -> str:
    """What a texter may see of a number: its last four digits."""
    digits = "".join(ch for ch in cell if ch.isdigit())
    return f"•••-•••-{digits[-4:]}" if len(digits) >= 4 else "••••"


@lru_cache(maxsize=4096)
def zone_for_number(cell: str) -> str | None:
    """The one IANA zone of a number's area code, or None when it spans several or is unknown."""
    try:
        parsed = phonenumbers.parse(cell, None)
    except phonenumbers.NumberParseException:
        return None
    zones = pn_timezone.time_zones_for_number(parsed)
    if len(zones) == 1 and zones[0] != pn_timezone.UNKNOWN_TIMEZONE:
        return zones[0]
    return None

"""Whole numbers a person types (ids, counts, batch sizes, maxima, minutes), checked once for every adapter.

A number has to fit the column it ends up in or is compared with: ids are 64-bit, settings and counts
32-bit (PostgreSQL ``integer``). A bigger one reaches the database as an ``OverflowError`` (SQLite) or a
``NumericValueOutOfRange`` (PostgreSQL), so every adapter checks the numbers people type here, and gets
the same refusal for the same mistake. The bounds below are far beyond any real campaign.
"""

from __future__ import annotations

from core.errors import Refused

MAX_ID = 2**63 - 1  # BIGINT / SQLite INTEGER
MAX_COUNT = 1_000_000  # a batch, a maximum, a number of texts to assign
MAX_MINUTES = 366 * 24 * 60  # a year
MAX_LIST = 10_000  # rows a listing shows at once
MAX_OFFSET = 2**31 - 1
# Longer digit strings are refused before int() reads them (Python refuses more than 4,300 digits anyway).
_MAX_DIGITS = 40


def parse_id(text: str) -> int | None:
    """The record id ``text`` spells (ASCII digits, 1 to ``MAX_ID``), else None: the caller says "no ..."."""
    text = text.strip()
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def shown(value: object) -> str:
    """A value for a refusal, cut short when it is long (a number of thousands of digits, say)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_MAX_DIGITS:
        return f"a number of more than {_MAX_DIGITS} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_whole_number(value: object, what: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """``value`` if it is a whole number from ``minimum`` to ``maximum``, else a refusal naming both."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Refused(f"{what} must be a whole number from {minimum:,} to {maximum:,} (got {shown(value)})")
    return value

"""Checks on what people send that hold for every platform, before anything reaches core."""

from __future__ import annotations

from typing import Any


def holds_nul(payload: Any) -> bool:
    """Whether any text in ``payload`` holds NUL: nobody types it, and PostgreSQL text cannot store it.

    Walked without recursion: a payload may nest deep.
    """
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False

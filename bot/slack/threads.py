"""The Slack adapter's own bookkeeping: which DM thread holds a conversation, and what it already shows.

The queries live in ``storage.slack_threads`` (adapters write no SQL); this module is the adapter's name
for them. Every step that must happen once (creating the thread, posting a message) is claimed in the
database first with a compare-and-set, so two workers or a click and the relay at the same moment never
post the same thing twice.
"""

from __future__ import annotations

from storage.slack_threads import (
    PENDING,
    ThreadRef,
    advance,
    claim,
    find,
    forget,
    recent,
    record,
    set_control,
    set_parent,
)

__all__ = [
    "PENDING",
    "ThreadRef",
    "advance",
    "claim",
    "find",
    "forget",
    "recent",
    "record",
    "set_control",
    "set_parent",
]

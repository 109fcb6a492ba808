"""The neutral actions a button, a select option or a modal carries.

An action is a name (``SEND_INITIAL``, ``REPLY_SEND``, ...) and a few arguments: ids, the status the
person saw and the last message id they saw. Never a text: a reply being prepared is a draft row
(``core.drafts``) and the action names its conversation. Encoded, an action is at most ``MAX_ENCODED``
(100) characters, Discord's ``custom_id`` limit; ``Action`` refuses to be built longer.

Encodings (stable: messages already posted carry them):

- ``Action.value()``: the arguments as compact JSON, e.g. ``{"c":12,"s":"needs_response","m":345}``
  (Slack puts the name in ``action_id`` and this in ``value``).
- ``Action.encode()``: ``name`` + ``"|"`` + ``value()`` in one string (Discord's ``custom_id``);
  ``Action.decode`` reads it back.

Argument keys: ``c`` contact id, ``k`` campaign id, ``s`` expected contact status, ``m`` last-seen
message id, ``u`` user id, ``q`` question step id, ``a`` answer step id, ``x`` menu choice, ``i`` item id
(canned response or tag), ``t`` join token, ``d`` draft id, ``r`` route of an ad-hoc text, ``f`` a review
filter (contact status), ``y`` confirmed (a button that asks first, where the platform cannot ask).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_ENCODED = 100
Arg = int | str | None

# --- texters ---
JOIN = "tb_join"  # t
START_INITIALS = "tb_start_initials"  # k: open (or refresh) the Send First Texts card
SEND_INITIAL = "tb_send_initial"  # c, s, k
REQUEST_MORE = "tb_request_more"  # k
DONE_FOR_NOW = "tb_done_for_now"  # k
DONE_FOR_THE_DAY = "tb_done_day"  # k (optional)
START_REPLIES = "tb_start_replies"  # k: Send Replies
OPEN_CONVERSATION = "tb_open"  # c: open a conversation's thread (an admin's escalated ones)
# --- conversation thread ---
ANSWER = "tb_answer"  # c, q, a (a select option)
REPLY_SEND = "tb_reply_send"  # c, s, m (the text is the conversation's draft row)
REPLY_EDIT = "tb_reply_edit"  # c (opens the edit form; its submission sets the draft)
MENU = "tb_menu"  # c, x, i (a select option: canned, tag, escalate, optout, close)
# --- ad-hoc texts ---
ADHOC_SEND = "tb_adhoc_send"  # d, r
# --- admins ---
RELEASE_TEXTER = "tb_release_texter"  # k, u (a confirmed button, or the release form's submission)
TEXTER_MENU = "tb_texter_menu"  # k, u, x (assign | max | release): opens that form
ASSIGN = "tb_assign"  # k, u: the assign form's submission (field "count")
SET_MAX = "tb_set_max"  # k, u: the maximum form's submission (field "max")
REVIEW_UNASSIGN = "tb_review_unassign"  # k, f, u, y
# --- admin forms (their submissions) ---
CAMPAIGN_NEW = "tb_campaign_new"
CAMPAIGN_APPLY = "tb_campaign_apply"
CONTACTS_UPLOAD = "tb_contacts"  # k
SETTINGS = "tb_settings"  # k

MENU_CHOICES = ("canned", "tag", "escalate", "optout", "close")
TEXTER_CHOICES = ("assign", "max", "release")
ROUTES = ("open", "me", "anyone")


class ActionTooLong(ValueError):
    """An action whose encoding would exceed ``MAX_ENCODED`` characters (a bug: actions carry ids only)."""


@dataclass(frozen=True)
class Action:
    name: str
    args: dict[str, Arg] = field(default_factory=dict)

    def __post_init__(self) -> None:
        encoded = self.encode()
        if len(encoded) > MAX_ENCODED:
            raise ActionTooLong(f"{encoded[:40]}... is {len(encoded)} characters (at most {MAX_ENCODED})")

    def value(self) -> str:
        return json.dumps({k: v for k, v in self.args.items() if v is not None}, separators=(",", ":"))

    def encode(self) -> str:
        return f"{self.name}|{self.value()}"

    @classmethod
    def decode(cls, encoded: str) -> Action:
        name, _, value = encoded.partition("|")
        return cls(name, parse_value(value))

    def number(self, key: str, default: int = 0) -> int:
        """An integer argument (``default`` when missing or not a number)."""
        raw = self.args.get(key)
        try:
            return int(raw) if raw is not None else default
        except (TypeError, ValueError):
            return default

    def maybe_number(self, key: str) -> int | None:
        raw = self.args.get(key)
        try:
            return int(raw) if raw is not None else None
        except (TypeError, ValueError):
            return None

    def text(self, key: str, default: str = "") -> str:
        raw = self.args.get(key)
        return default if raw is None else str(raw)


def parse_value(value: str | None) -> dict[str, Arg]:
    """The arguments of an encoded value; ``{}`` for anything that is not a JSON object."""
    try:
        data: Any = json.loads(value or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if v is None or isinstance(v, int | str)}


def act(name: str, **args: Arg) -> Action:
    """``Action(name, args)`` with keyword arguments (``None`` ones are left out)."""
    return Action(name, {k: v for k, v in args.items() if v is not None})

"""The neutral message model: what a card, a control message, a dashboard or a notice is made of.

A ``Message`` is a list of parts (sections of text, small notes, buttons and selects, ...) plus a plain
``summary`` for notifications. Text is neutral markup (``bot.chat.markup``); labels of buttons, options
and headers are plain text. Each platform renders a ``Message`` in its own components (Block Kit,
Discord content/embeds with action rows); the chat layer builds them and never sees those.

``kind`` says what the message is, so a platform may style it (an embed colour, an ephemeral reply):
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from bot.chat.actions import Action
from bot.chat.markup import plain
from bot.chat.surface_refs import MessageRef

Kind = Literal[
    "card",  # the Send First Texts card (a contact, or the batch-done prompt)
    "control",  # a conversation thread's control message (question select, reply, Send/Edit, menu)
    "thread_parent",  # the first message of a conversation thread
    "thread_line",  # one text of a conversation posted into its thread
    "dashboard",  # a texter's or admin's overview (Slack: the App Home tab)
    "notice",  # a line core's notice rows turn into (released, assigned, escalated, reminder, ...)
    "refusal",  # why something was not done
    "confirmation",  # what was done
    "info",  # anything else: help, stats, lists, join messages, routing choices
]
Style = Literal["primary", "danger"] | None


@dataclass(frozen=True)
class Confirm:
    """A question asked before a dangerous button's action runs (plain text)."""

    title: str
    text: str
    confirm: str
    deny: str = "Cancel"


@dataclass(frozen=True)
class Button:
    label: str
    action: Action
    style: Style = None
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Option:
    label: str
    action: Action


@dataclass(frozen=True)
class OptionGroup:
    label: str  # "" for a select without groups
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Select:
    """A choice among options; each option carries its own action. ``name`` identifies the select."""

    name: str
    placeholder: str
    groups: tuple[OptionGroup, ...]
    chosen: Option | None = None

    @property
    def options(self) -> tuple[Option, ...]:
        return tuple(o for g in self.groups for o in g.options)


@dataclass(frozen=True)
class Header:
    text: str  # plain


@dataclass(frozen=True)
class Section:
    text: str  # neutral markup
    accessory: Button | Select | None = None


@dataclass(frozen=True)
class Note:
    """A small line of context (neutral markup)."""

    text: str


@dataclass(frozen=True)
class Controls:
    """A row of buttons and selects. ``id`` names the row (stable across redraws)."""

    items: tuple[Button | Select, ...]
    id: str = ""


@dataclass(frozen=True)
class Divider:
    """A line between parts of a message."""


@dataclass(frozen=True)
class Link:
    """A line linking to a posted message: ``label`` linked to ``target``, then ``tail`` (neutral markup).

    A platform renders the link its own way (a permalink, a jump URL); without ``target`` the label is
    shown unlinked.
    """

    label: str
    target: MessageRef | None
    tail: str = ""


@dataclass(frozen=True)
class LinkList:
    links: tuple[Link, ...]


Part = Header | Section | Note | Controls | Divider | LinkList


@dataclass(frozen=True)
class Message:
    kind: Kind
    summary: str  # plain text: notifications, and platforms that show text only
    parts: tuple[Part, ...] = ()

    def actions(self) -> Iterator[Action]:
        """Every action the message carries (buttons and select options)."""
        for part in self.parts:
            items: tuple[Button | Select, ...] = ()
            if isinstance(part, Controls):
                items = part.items
            elif isinstance(part, Section) and part.accessory is not None:
                items = (part.accessory,)
            for item in items:
                if isinstance(item, Button):
                    yield item.action
                else:
                    yield from (o.action for o in item.options)


@dataclass(frozen=True)
class TextField:
    id: str
    label: str
    initial: str = ""
    multiline: bool = False
    max_length: int | None = None
    required: bool = True


@dataclass(frozen=True)
class Form:
    """A small form (Slack: a modal; Discord: a modal). Its submission carries ``action`` and the fields."""

    action: Action
    title: str  # plain, at most 24 characters (Slack's limit; Discord allows 45)
    submit: str
    fields: tuple[TextField, ...] = field(default_factory=tuple)
    intro: str = ""  # neutral markup shown above the fields (a confirmation form has only this)


def text_message(kind: Kind, text: str, summary: str | None = None) -> Message:
    """A message of one section (``summary`` defaults to the text without markup)."""
    return Message(kind, summary if summary is not None else plain(text), (Section(text),))

"""Neutral views as Block Kit: pure functions, no I/O, no decisions, no sentences of their own.

A button's ``action_id`` is the neutral action's name and its ``value`` the action's arguments
(``Action.value()``), so a click reads back as the same ``Action``. Neutral markup becomes mrkdwn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.chat.actions import Action, ActionTooLong, parse_value
from bot.chat.surface import MessageRef
from bot.chat.views import (
    Button,
    Controls,
    Divider,
    Form,
    Header,
    LinkList,
    Message,
    Note,
    Option,
    Section,
    Select,
)

Block = dict[str, Any]
MAX_TEXT = 3000
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100


def slack_escape(text: str) -> str:
    """Slack's three control characters, so names and texts from contacts render as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# mrkdwn's tokens: a code span (to its closing backtick or the end), a backslash escape, bold, a quote
# at a line's start, and Slack's control characters; everything else stays as it is. One regex pass
# (a loop over characters cost ~0.4 ms per card, a tenth of a click's CPU in the server).
_MRKDWN_TOKEN = re.compile(r"`[^`]*`?|\\.|\*\*|^>|[&<>]", re.S | re.M)


def _mrkdwn_token(match: re.Match[str]) -> str:
    token = match.group()
    if token[0] == "`":
        closed = len(token) > 1 and token.endswith("`")
        return "`" + slack_escape(token[1:-1] if closed else token[1:]) + ("`" if closed else "")
    if token[0] == "\\":
        return slack_escape(token[1])
    if token == "**":
        return "*"
    if token == ">" and (match.start() == 0 or match.string[match.start() - 1] == "\n"):
        return ">"
    return slack_escape(token)


def mrkdwn(text: str) -> str:
    """Neutral markup as Slack mrkdwn: ``**x**`` -> ``*x*``, escapes resolved, ``> `` quotes kept."""
    return _MRKDWN_TOKEN.sub(_mrkdwn_token, text)


def _plain(text: str, limit: int = 75) -> Block:
    return {"type": "plain_text", "text": (text or "-")[:limit]}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(text)[:MAX_TEXT]}}


def _option(option: Option) -> Block:
    return {"type": "option", "text": _plain(option.label), "value": option.action.value()}


def _button(button: Button) -> Block:
    element: Block = {
        "type": "button",
        "text": _plain(button.label),
        "action_id": button.action.name,
        "value": button.action.value(),
    }
    if button.style:
        element["style"] = button.style
    if button.confirm is not None:
        element["confirm"] = {
            "title": _plain(button.confirm.title, 100),
            "text": _plain(button.confirm.text, 300),
            "confirm": _plain(button.confirm.confirm, 30),
            "deny": _plain(button.confirm.deny, 30),
        }
    return element


def _select(select: Select) -> Block:
    element: Block = {
        "type": "static_select",
        "action_id": select.name,
        "placeholder": _plain(select.placeholder),
    }
    if len(select.groups) == 1 and not select.groups[0].label:
        element["options"] = [_option(o) for o in select.groups[0].options[:100]]
    else:
        element["option_groups"] = [
            {"label": _plain(g.label), "options": [_option(o) for o in g.options[:100]]}
            for g in select.groups
        ]
    if select.chosen is not None:
        element["initial_option"] = _option(select.chosen)
    return element


def _element(item: Button | Select) -> Block:
    return _button(item) if isinstance(item, Button) else _select(item)


def blocks(message: Message, links: Mapping[MessageRef, str] | None = None) -> list[Block]:
    """The message's blocks; ``links``: permalinks of the messages a ``LinkList`` points at."""
    out: list[Block] = []
    for part in message.parts:
        if isinstance(part, Header):
            out.append({"type": "header", "text": _plain(part.text, 150)})
        elif isinstance(part, Section):
            block = _section(part.text)
            if part.accessory is not None:
                block["accessory"] = _element(part.accessory)
            out.append(block)
        elif isinstance(part, Note):
            out.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(part.text)[:MAX_TEXT]}]}
            )
        elif isinstance(part, Controls):
            controls: Block = {"type": "actions", "elements": [_element(i) for i in part.items]}
            if part.id:
                controls["block_id"] = part.id
            out.append(controls)
        elif isinstance(part, Divider):
            out.append({"type": "divider"})
        elif isinstance(part, LinkList):
            rows = []
            for link in part.links:
                url = (links or {}).get(link.target) if link.target is not None else None
                label = slack_escape(link.label)
                rows.append((f"<{url}|{label}>" if url else label) + mrkdwn(link.tail))
            out.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(rows)[:MAX_TEXT]}})
    return out


def fallback(message: Message) -> str:
    """The notification text of a message: a one-section message's whole text, else its summary."""
    if len(message.parts) == 1 and isinstance(message.parts[0], Section):
        return mrkdwn(message.parts[0].text)[:MAX_TEXT]
    return message.summary[:MAX_TEXT]


def home_view(message: Message, links: Mapping[MessageRef, str] | None = None) -> Block:
    return {"type": "home", "blocks": blocks(message, links)[:MAX_HOME_BLOCKS]}


def modal(form: Form, clicked: MessageRef | None = None) -> Block:
    """A neutral form as a modal; its submission names the form's action and the clicked message."""
    meta: dict[str, Any] = {"a": form.action.value()}
    if clicked is not None:
        meta.update(ch=clicked.channel_id, ts=clicked.message_id)
    body: list[Block] = [_section(form.intro)] if form.intro else []
    for field in form.fields:
        element: Block = {"type": "plain_text_input", "action_id": "v", "multiline": field.multiline}
        if field.max_length:
            element["max_length"] = field.max_length
        if field.initial:
            element["initial_value"] = field.initial
        body.append(
            {
                "type": "input",
                "block_id": field.id,
                "optional": not field.required,
                "label": _plain(field.label, 2000),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": form.action.name,
        "title": _plain(form.title, 24),
        "submit": _plain(form.submit, 24),
        "close": _plain("Cancel", 24),
        "private_metadata": json.dumps(meta),
        "blocks": body,
    }


def submitted(view: Block) -> tuple[Action, MessageRef | None, dict[str, str]]:
    """A submitted form: its action, the message it was opened from, and its text fields by id."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    action = Action(str(view.get("callback_id") or ""), parse_value(str(meta.get("a") or "{}")))
    clicked = MessageRef(str(meta["ch"]), str(meta["ts"])) if meta.get("ch") and meta.get("ts") else None
    values = {
        block: str((fields.get("v") or {}).get("value") or "")
        for block, fields in (view.get("state") or {}).get("values", {}).items()
    }
    return action, clicked, values


def clicked_action(action: Block) -> Action:
    """The neutral action of a button or select click (no arguments when its value is not one of ours)."""
    selected = action.get("selected_option") or {}
    value = selected.get("value") if selected else action.get("value")
    name = str(action.get("action_id") or "")
    try:
        return Action(name, parse_value(value))
    except ActionTooLong:  # not a value textbank rendered: the flow refuses the missing ids
        return Action(name)

"""What a Slack request must be before Bolt reads it, checked where it enters (``POST /slack/events``).

Bolt parses the body while it builds the request, before any middleware runs: a payload that is not JSON,
or whose ``team`` or ``actions`` has another type than Slack sends, raised out of Bolt (HTTP 500 and a
traceback), and textbank's listeners read fields Slack always sends (a command's ``user_id``, a click's
``team.id``, the ids textbank put in its own buttons). So the entry reads the body first: UTF-8, a JSON
object, and every field Bolt or a textbank listener reads, of the type Slack sends. Anything else is
answered 400 with one log line; a request that passes reaches Bolt unchanged, which checks its signature.

The values of textbank's own buttons, menus and modals (``Action.value()``, ``private_metadata``) are
checked here too: ``VALUES`` lists, per action or view, the keys its listener reads and their types. A new
listener that reads a new key adds it there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body

from bot.chat.inputs import holds_nul
from core.numbers import MAX_ID


class BadRequest(Exception):
    """A request textbank cannot read; ``reason`` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Check = Callable[[Any], bool]


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _id(value: Any) -> bool:
    """A record id as textbank writes it into a button: a whole number (0 = none), never a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8


# key -> (check, required); "value" keys are read from the button's value (or a menu's selected option).
Schema = dict[str, tuple[Check, bool]]
_CAMPAIGN: Schema = {"k": (_id, False)}
# The keys of bot/chat/actions.py's actions (ids, expected status, last-seen message; never a text).
_TEXTER: Schema = {"k": (_id, True), "u": (_id, True)}
VALUES: dict[str, Schema] = {
    "tb_join": {"t": (_text, False)},
    "tb_release_texter": _TEXTER,
    "tb_texter_menu": {**_TEXTER, "x": (_text, True)},
    "tb_review_unassign": {"k": (_id, True), "f": (_optional(_text), False), "u": (_optional(_id), False)},
    "tb_adhoc_send": {"d": (_id, True), "r": (_text, True)},
    "tb_send_initial": {"c": (_id, True), "k": (_id, True), "s": (_text, False)},
    "tb_start_initials": _CAMPAIGN,
    "tb_request_more": _CAMPAIGN,
    "tb_done_for_now": _CAMPAIGN,
    "tb_done_day": {"k": (_optional(_id), False)},
    "tb_start_replies": _CAMPAIGN,
    "tb_open": {"c": (_id, True)},
    "tb_answer": {"c": (_id, True), "q": (_id, True), "a": (_id, True)},
    "tb_reply_send": {"c": (_id, True), "s": (_text, False), "m": (_id, False)},
    "tb_reply_edit": {"c": (_id, True)},
    "tb_menu": {"c": (_id, True), "x": (_text, False), "i": (_id, False)},
}
# Actions whose listener answers through the click's response_url.
RESPONDS = frozenset(
    {"tb_join", "tb_release_texter", "tb_review_unassign", "tb_adhoc_send", "tb_texter_menu"}
)
# Per modal: the keys of its private_metadata. A neutral form (bot.slack.render.modal) keeps its action's
# value in "a" and the message it was opened from in "ch"/"ts".
_FORM: Schema = {"a": (_text, True), "ch": (_text, False), "ts": (_text, False)}
METADATA: dict[str, Schema] = {
    "tb_campaign_new": _FORM,
    "tb_campaign_apply": {},
    "tb_contacts": {"k": (_id, True)},
    "tb_settings": {"k": (_id, True)},
    "tb_reply_edit": _FORM,
    "tb_assign": _FORM,
    "tb_set_max": _FORM,
    "tb_release_texter": _FORM,
}
COMMAND_FIELDS = ("command", "team_id", "user_id", "channel_id", "trigger_id")


def read_request(raw: bytes, headers: Mapping[str, str], query: str = "") -> AsyncBoltRequest:
    """The Bolt request for an HTTP body, or ``BadRequest`` naming what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 (byte {exc.start})") from None
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip() or None
    try:
        body = parse_body(text, content_type)  # as Bolt parses it
    except (ValueError, RecursionError) as exc:  # json.loads: not JSON, or nested past the stack
        raise BadRequest(f"the payload is not JSON ({exc.__class__.__name__})") from None
    problem = payload_problem(body)
    if problem is not None:
        raise BadRequest(problem)
    try:
        return AsyncBoltRequest(body=text, query=query, headers=dict(headers))
    except (TypeError, AttributeError, KeyError, IndexError):  # Bolt reading the ids of its context
        raise BadRequest("the payload's team, user or channel is not shaped as Slack sends it") from None


def payload_problem(body: Any) -> str | None:
    """What is wrong with a parsed payload for Bolt and textbank's listeners, or None."""
    if not isinstance(body, dict):
        return "the payload is not a JSON object"
    if holds_nul(body):  # no one types it in Slack, and PostgreSQL text cannot hold it
        return "the payload holds a NUL character"
    for key in ("event", "view", "container", "message"):
        if key in body and not isinstance(body[key], dict):
            return f"{key} is not an object"
    for key in ("team", "user", "channel", "enterprise"):
        if body.get(key) is not None and not isinstance(body[key], str | dict):
            return f"{key} is neither an id nor an object"
    if "type" in body and not _text(body["type"]):
        return "type is not text"
    if "command" in body:
        return _command_problem(body)
    kind = body.get("type")
    if kind == "block_actions":
        return _actor_problem(body) or _actions_problem(body)
    if kind in ("view_submission", "view_closed"):
        return _actor_problem(body) or _view_problem(body["view"] if "view" in body else None)
    if kind == "event_callback":
        event = body.get("event")
        if event is None or not _text(event.get("type")):
            return "event.type is missing"
        if not _text(body.get("team_id")):
            return "team_id is missing"
        if event["type"] == "app_home_opened" and not _text(event.get("user")):
            return "event.user is missing"
    return None


def _command_problem(body: dict[str, Any]) -> str | None:
    for key in COMMAND_FIELDS:
        if not _text(body.get(key)) or not body[key]:
            return f"the slash command has no {key}"
    if not _text(body.get("text", "")):
        return "the slash command's text is not text"
    if not _url(body.get("response_url")):
        return "the slash command has no response_url"
    return None


def _actor_problem(body: dict[str, Any]) -> str | None:
    for key in ("team", "user"):
        part = body.get(key)
        if not isinstance(part, dict) or not _text(part.get("id")) or not part["id"]:
            return f"{key}.id is missing"
    if "trigger_id" in body and not _text(body["trigger_id"]):
        return "trigger_id is not text"
    return None


def _actions_problem(body: dict[str, Any]) -> str | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return "actions is not a list of actions"
    container = body.get("container") or {}
    if container.get("type") == "message" and not (
        _text(container.get("channel_id")) and _text(container.get("message_ts"))
    ):
        return "container has no channel_id and message_ts"
    for action in actions:
        if not isinstance(action, dict) or not _text(action.get("action_id")):
            return "an action has no action_id"
        for key in ("block_id", "value", "type"):
            if key in action and not _text(action[key]):
                return f"an action's {key} is not text"
        option = action.get("selected_option")
        if option is not None and not (isinstance(option, dict) and _text(option.get("value"))):
            return "an action's selected_option has no value"
        action_id = action["action_id"]
        if action_id in RESPONDS and not _url(body.get("response_url")):
            return f"{action_id} came without a response_url"
        if action_id in ("tb_reply_edit", "tb_texter_menu") and not _text(body.get("trigger_id")):
            return f"{action_id} came without a trigger_id"
        schema = VALUES.get(action_id)
        if schema is not None:
            raw = option["value"] if option is not None else action.get("value")
            problem = _json_problem(raw, schema)
            if problem is not None:
                return f"the value of {action_id} {problem}"
    return None


def _view_problem(view: Any) -> str | None:
    if not isinstance(view, dict) or not _text(view.get("callback_id")):
        return "view.callback_id is missing"
    if not _text(view.get("private_metadata", "")):
        return "view.private_metadata is not text"
    state = view.get("state", {})
    values = state.get("values", {}) if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return "view.state.values is not an object"
    for block in values.values():
        if not isinstance(block, dict):
            return "view.state.values holds a block that is not an object"
        for element in block.values():
            problem = _element_problem(element)
            if problem is not None:
                return f"view.state.values: {problem}"
    schema = METADATA.get(view["callback_id"])
    if schema is not None:
        problem = _json_problem(view.get("private_metadata") or "{}", schema)
        if problem is not None:
            return f"the private_metadata of {view['callback_id']} {problem}"
    return None


def _element_problem(element: Any) -> str | None:
    if not isinstance(element, dict):
        return "an input is not an object"
    if element.get("value") is not None and not _text(element["value"]):
        return "an input's value is not text"
    option = element.get("selected_option")
    if option is not None and not (isinstance(option, dict) and _text(option.get("value"))):
        return "a selected_option has no value"
    for key in ("selected_options", "files"):
        items = element.get(key)
        if items is not None and not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            return f"{key} is not a list of objects"
    for option in element.get("selected_options") or []:
        if not _text(option.get("value")):
            return "a selected option has no value"
    for file in element.get("files") or []:
        for key in ("name", "url_private", "url_private_download"):
            if key in file and not _text(file[key]):
                return f"a file's {key} is not text"
    return None


def _json_problem(raw: Any, schema: Schema) -> str | None:
    if not _text(raw):
        return "is missing"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return "is not JSON"
    if not isinstance(data, dict):
        return "is not a JSON object"
    for key, (check, required) in schema.items():
        if key not in data:
            if required:
                return f"has no {key!r}"
            continue
        if not check(data[key]):
            return f"has a bad {key!r}"
    return None

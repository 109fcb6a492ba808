"""Admin modals: campaign new, campaign apply (YAML file), contacts (CSV file), assignment settings.

A submission the chat layer refuses keeps the modal open with the reason under the field concerned
(``response_action: errors``); nothing is written. The CSV import is slow, so it is acked first and its
progress and summary are posted into the admin's DM.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.chat import actions as A
from bot.chat import admin, texts
from bot.chat.actions import parse_value
from bot.chat.actor import Actor
from bot.chat.surface import MessageRef
from bot.chat.views import Message, Section
from bot.slack import render
from bot.slack.deps import SlackDeps
from core import campaign_yaml
from core.errors import Refused
from storage.models import Campaign

YAML_TYPES = ["yaml", "yml", "text"]
CSV_TYPES = ["csv", "text"]
MAX_YAML_BYTES = 1024 * 1024
MAX_ERROR = 1900


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _file(label: str, filetypes: list[str]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "file",
        "label": _plain(label),
        "element": {"type": "file_input", "action_id": "v", "filetypes": filetypes, "max_files": 1},
    }


def _modal(
    callback_id: str, title: str, submit: str, body: list[dict[str, Any]], **meta: Any
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title[:24]),
        "submit": _plain(submit),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(meta),
        "blocks": body,
    }


def campaign_new_view() -> dict[str, Any]:
    return render.modal(texts.new_campaign_form())


def campaign_apply_view() -> dict[str, Any]:
    intro = render.blocks(Message("info", "", (Section(texts.apply_form_intro()),)))
    title, submit, label = texts.APPLY_FORM
    return _modal(A.CAMPAIGN_APPLY, title, submit, [*intro, _file(label, YAML_TYPES)])


def contacts_view(campaign_id: int, title: str) -> dict[str, Any]:
    intro = render.blocks(Message("info", "", (Section(texts.contacts_form_intro(title)),)))
    form_title, submit, label = texts.CONTACTS_FORM
    return _modal(
        A.CONTACTS_UPLOAD,
        form_title,
        submit,
        [*intro, _file(label, CSV_TYPES)],
        k=campaign_id,
    )


def settings_view(campaign: Campaign) -> dict[str, Any]:
    options: list[dict[str, Any]] = [
        {"text": _plain(label), "value": name} for name, label in admin.BOOL_SETTINGS
    ]
    checked = [o for o in options if getattr(campaign, str(o["value"]))]
    checkboxes: dict[str, Any] = {"type": "checkboxes", "action_id": "v", "options": options}
    if checked:
        checkboxes["initial_options"] = checked
    body: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": "flags",
            "optional": True,
            "label": _plain(texts.SETTINGS_FORM[2]),
            "element": checkboxes,
        }
    ]
    for name, label, required in admin.NUMBER_SETTINGS:
        current = getattr(campaign, name)
        element: dict[str, Any] = {
            "type": "number_input",
            "action_id": "v",
            "is_decimal_allowed": False,
            "min_value": "1",
        }
        if current is not None:
            element["initial_value"] = str(current)
        body.append(
            {
                "type": "input",
                "block_id": name,
                "optional": not required,
                "label": _plain(label),
                "element": element,
            }
        )
    return _modal(A.SETTINGS, texts.SETTINGS_FORM[0], texts.SETTINGS_FORM[1], body, k=campaign.id)


def _values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block: fields.get("v", {}) for block, fields in view.get("state", {}).get("values", {}).items()}


def _meta(view: dict[str, Any]) -> dict[str, Any]:
    return dict(parse_value(view.get("private_metadata")))


def _one_file(values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    files = values.get("file", {}).get("files") or []
    if not files:
        raise Refused(texts.no_file())
    return dict(files[0])


def _errors(exc: Refused, default: str, fields: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {admin.field_of(exc, default, fields): exc.reason[:MAX_ERROR]}


def register(app: AsyncApp, deps: SlackDeps) -> None:
    chat = deps.chat

    @app.view(A.CAMPAIGN_NEW)
    async def campaign_new(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        _action, _where, values = render.submitted(view)
        try:
            answer = await admin.create_campaign(chat, actor, values)
        except Refused as exc:
            await ack(response_action="errors", errors=_errors(exc, "title", admin.NEW_CAMPAIGN_FIELDS))
            return
        await ack()
        await deps.dm(actor.platform_user_id, answer)

    @app.view(A.CAMPAIGN_APPLY)
    async def campaign_apply(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        try:
            await admin.require_admin(chat, actor)
            file = _one_file(_values(view))
            sink = io.BytesIO()
            await deps.download(file, sink, limit=MAX_YAML_BYTES)
            name = str(file.get("name") or "campaign.yaml")
            try:
                text = sink.getvalue().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise Refused(texts.not_utf8(name)) from exc
            answer = await admin.apply_yaml(chat, actor, text, name)
        except campaign_yaml.CampaignYamlError as exc:
            await ack(response_action="errors", errors={"file": "\n".join(exc.errors[:10])[:MAX_ERROR]})
            return
        except Refused as exc:
            await ack(response_action="errors", errors={"file": exc.reason[:MAX_ERROR]})
            return
        await ack()
        await deps.dm(actor.platform_user_id, answer)

    @app.view(A.CONTACTS_UPLOAD)
    async def contacts(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        try:
            campaign = await admin.campaign_for_form(chat, actor, str(int(_meta(view).get("k") or 0)))
            file = _one_file(_values(view))
        except Refused as exc:
            await ack(response_action="errors", errors={"file": exc.reason[:MAX_ERROR]})
            return
        await ack()
        deps.spawn(run_import(deps, actor, campaign.id, campaign.title, file))

    @app.view(A.SETTINGS)
    async def settings(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        values = _values(view)
        flags = {o["value"] for o in values.get("flags", {}).get("selected_options") or []}
        numbers = {
            name: str(values.get(name, {}).get("value") or "") for name, _l, _r in admin.NUMBER_SETTINGS
        }
        fields = [name for name, _l, _r in admin.NUMBER_SETTINGS]
        try:
            new = admin.settings_values(flags, numbers)
            answer = await admin.save_settings(chat, actor, int(_meta(view).get("k") or 0), new)
        except Refused as exc:
            await ack(response_action="errors", errors=_errors(exc, "flags", fields))
            return
        await ack()
        await deps.dm(actor.platform_user_id, answer)


async def run_import(
    deps: SlackDeps, actor: Actor, campaign_id: int, title: str, file: dict[str, Any]
) -> None:
    """Download the CSV to a temporary file, import it in a worker thread, post progress and the summary."""
    name = str(file.get("name") or "contacts.csv")
    surface = deps.chat.surface
    started: MessageRef = await deps.chat.dm(actor.platform_user_id, texts.import_started(name, title))
    loop = asyncio.get_running_loop()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 or not total:
            return
        last[0] = now
        percent = min(100.0, 100.0 * done / total)
        asyncio.run_coroutine_threadsafe(
            surface.update(started, texts.import_progress(name, title, percent)), loop
        )

    with tempfile.TemporaryDirectory(prefix="textbank-import-") as folder:
        path = Path(folder) / "contacts.csv"
        try:
            with path.open("wb") as sink:
                await deps.download(file, sink)
            summary = await admin.import_contacts(deps.chat, actor, campaign_id, path, progress)
        except Refused as exc:
            await surface.update(started, texts.import_failed(name, exc.reason))
            return
    await surface.update(
        started, texts.import_done(name, title, summary.imported, summary.rows, dict(summary.skipped))
    )

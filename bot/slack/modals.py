"""Modals: campaign new, campaign apply (YAML file), contacts (CSV file), assignment settings.

A submission that core refuses keeps the modal open with the reason under the field concerned
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
from sqlalchemy.orm import Session

from bot.slack import blocks
from bot.slack.app import SlackDeps
from bot.slack.context import Actor, in_read, in_session
from core import campaign_yaml, campaigns, contacts_import, orgs
from core.errors import Refused
from core.hours import format_hhmm, parse_hhmm
from storage.models import Campaign

YAML_TYPES = ["yaml", "yml", "text"]
CSV_TYPES = ["csv", "text"]
MAX_YAML_BYTES = 1024 * 1024
BOOL_SETTINGS = {
    "dynamic_initials": "Dynamic assignment for initials (texters request batches)",
    "replies_before_initials": "Texters finish their replies before getting more initials",
    "dynamic_replies": "Dynamic assignment for replies",
}
NUMBER_SETTINGS = {
    "initials_batch_size": ("Initials batch size", True),
    "replies_batch_size": ("Replies batch size", True),
    "max_initials_per_texter": ("Maximum initials per texter (empty = no limit)", False),
    "release_unhandled_after_minutes": ("Release unhandled replies after N minutes (empty = never)", False),
}


def load_value(action: dict[str, Any]) -> dict[str, Any]:
    """The JSON a button's value holds (see blocks.value); {} for anything else."""
    try:
        data = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _text(
    label: str,
    block_id: str,
    *,
    initial: str = "",
    multiline: bool = False,
    optional: bool = False,
    placeholder: str = "",
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "v", "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder}
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


def _file(label: str, filetypes: list[str]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "file",
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "file_input", "action_id": "v", "filetypes": filetypes, "max_files": 1},
    }


def _modal(
    callback_id: str, title: str, submit: str, body: list[dict[str, Any]], meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(meta or {}),
        "blocks": body,
    }


def campaign_new_view() -> dict[str, Any]:
    return _modal(
        "tb_campaign_new",
        "New campaign",
        "Create",
        [
            _text("Title", "title", placeholder="GOTV November"),
            _text("Description", "description", multiline=True, optional=True),
            _text(
                "Initial message",
                "initial",
                multiline=True,
                placeholder="Hi {firstName}, this is {texterName} with ... Can we count on your vote?",
            ),
            _text("Texting hours start (contact's local time, HH:MM)", "hours_start", initial="09:00"),
            _text("Texting hours end (HH:MM)", "hours_end", initial="21:00"),
            _text("Default time zone", "timezone", initial="America/New_York"),
        ],
    )


def campaign_apply_view() -> dict[str, Any]:
    return _modal(
        "tb_campaign_apply",
        "Apply campaign file",
        "Apply",
        [
            blocks.section(
                "Upload a campaign YAML file: a new title creates a campaign, an existing one updates it."
            ),
            _file("Campaign file (.yaml)", YAML_TYPES),
        ],
    )


def contacts_view(campaign_id: int, title: str) -> dict[str, Any]:
    return _modal(
        "tb_contacts",
        "Upload contacts",
        "Import",
        [
            blocks.section(
                f"Contacts for *{blocks.escape(title)}*: a CSV with a phone column (cell, phone, ...) "
                "and optional first name, last name, zip and custom fields. All or nothing."
            ),
            _file("Contacts file (.csv)", CSV_TYPES),
        ],
        {"c": campaign_id},
    )


def settings_view(campaign: Campaign) -> dict[str, Any]:
    options: list[dict[str, Any]] = [
        {"text": {"type": "plain_text", "text": label}, "value": name}
        for name, label in BOOL_SETTINGS.items()
    ]
    checked = [o for o in options if getattr(campaign, o["value"])]
    checkboxes: dict[str, Any] = {"type": "checkboxes", "action_id": "v", "options": options}
    if checked:
        checkboxes["initial_options"] = checked
    body: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": "flags",
            "optional": True,
            "label": {"type": "plain_text", "text": "Assignment"},
            "element": checkboxes,
        }
    ]
    for name, (label, required) in NUMBER_SETTINGS.items():
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
                "label": {"type": "plain_text", "text": label},
                "element": element,
            }
        )
    return _modal("tb_settings", "Assignment settings", "Save", body, {"c": campaign.id})


# --- reading submissions -----------------------------------------------------------------------------------


def _values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block: fields.get("v", {}) for block, fields in view.get("state", {}).get("values", {}).items()}


def _meta(view: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}


def _admin(session: Session, actor: Actor) -> Any:
    user = orgs.get_user(session, actor.user_id)
    orgs.require_admin(user)
    return user


def _one_file(values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    files = values.get("file", {}).get("files") or []
    if not files:
        raise Refused("no file was uploaded: choose a file")
    return files[0]


def _campaign_new(session: Session, actor: Actor, values: dict[str, dict[str, Any]]) -> Campaign:
    _admin(session, actor)

    def get(block: str) -> str:
        return (values.get(block, {}).get("value") or "").strip()

    try:
        start = parse_hhmm(get("hours_start"))
    except Refused as exc:
        raise FieldError("hours_start", exc.reason) from exc
    try:
        end = parse_hhmm(get("hours_end"))
    except Refused as exc:
        raise FieldError("hours_end", exc.reason) from exc
    return campaigns.create_campaign(
        session,
        actor.org_id,
        actor=orgs.get_user(session, actor.user_id),
        title=get("title"),
        description=get("description"),
        timezone=get("timezone") or "America/New_York",
        hours_start=start,
        hours_end=end,
        initial_script=get("initial"),
    )


class FieldError(Refused):
    """A refusal that belongs under one field of the modal."""

    def __init__(self, block_id: str, reason: str) -> None:
        super().__init__(reason)
        self.block_id = block_id


def _block_for(reason: str, default: str, candidates: list[str]) -> str:
    lowered = reason.lower()
    for block_id in candidates:
        if block_id.replace("_", " ") in lowered or block_id in lowered:
            return block_id
    if "script" in lowered or "placeholder" in lowered or "initial" in lowered:
        return "initial" if "initial" in candidates else default
    if "time zone" in lowered:
        return "timezone" if "timezone" in candidates else default
    return default


def _errors(exc: Refused, default: str, candidates: list[str]) -> dict[str, str]:
    block_id = exc.block_id if isinstance(exc, FieldError) else _block_for(exc.reason, default, candidates)
    return {block_id: exc.reason[:1900]}


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.view("tb_campaign_new")
    async def campaign_new(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        values = _values(view)
        try:
            campaign = await in_session(deps.db, lambda s: _campaign_new(s, actor, values))
        except Refused as exc:
            blocks_ids = ["title", "description", "initial", "hours_start", "hours_end", "timezone"]
            await ack(response_action="errors", errors=_errors(exc, "title", blocks_ids))
            return
        await ack()
        hours = f"{format_hhmm(campaign.hours_start)}-{format_hhmm(campaign.hours_end)}"
        await deps.dm(
            actor.slack_user_id,
            f"Created draft campaign {campaign.title}",
            [
                blocks.section(
                    f":memo: Draft campaign *{blocks.escape(campaign.title)}* (id {campaign.id}) created, "
                    f"texting hours {hours}. Next: `/textbank contacts {campaign.id}`, "
                    f"`/textbank settings {campaign.id}`, then `/textbank launch {campaign.id}`."
                )
            ],
        )

    @app.view("tb_campaign_apply")
    async def campaign_apply(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        try:
            await in_read(deps.db, lambda s: _admin(s, actor))
            file = _one_file(_values(view))
            sink = io.BytesIO()
            await deps.download(file, sink, limit=MAX_YAML_BYTES)
            try:
                text = sink.getvalue().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise Refused(f"{file.get('name', 'the file')} is not UTF-8 text: save it as UTF-8") from exc
            name = file.get("name") or "campaign.yaml"
            campaign, created = await in_session(
                deps.db,
                lambda s: campaign_yaml.apply_campaign_yaml(
                    s, actor.org_id, text, source=name, actor=_admin(s, actor)
                ),
            )
        except campaign_yaml.CampaignYamlError as exc:
            await ack(response_action="errors", errors={"file": "\n".join(exc.errors[:10])[:1900]})
            return
        except Refused as exc:
            await ack(response_action="errors", errors={"file": exc.reason[:1900]})
            return
        await ack()
        verb = "Created" if created else "Updated"
        await deps.dm(
            actor.slack_user_id,
            f"{verb} campaign {campaign.title}",
            [
                blocks.section(
                    f":white_check_mark: {verb} *{blocks.escape(campaign.title)}* (id {campaign.id}, "
                    f"{campaign.status}) from {blocks.escape(name)}."
                )
            ],
        )

    @app.view("tb_contacts")
    async def contacts(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        campaign_id = int(_meta(view).get("c", 0))
        try:
            campaign = await in_read(
                deps.db,
                lambda s: (_admin(s, actor), campaigns.get_campaign(s, actor.org_id, str(campaign_id)))[1],
            )
            file = _one_file(_values(view))
        except Refused as exc:
            await ack(response_action="errors", errors={"file": exc.reason[:1900]})
            return
        await ack()
        deps.spawn(run_import(deps, actor, campaign.id, campaign.title, file))

    @app.view("tb_settings")
    async def settings(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        campaign_id = int(_meta(view).get("c", 0))
        values = _values(view)
        chosen = {o["value"] for o in values.get("flags", {}).get("selected_options") or []}
        new: dict[str, Any] = {name: name in chosen for name in BOOL_SETTINGS}
        errors: dict[str, str] = {}
        for name in NUMBER_SETTINGS:
            raw = (values.get(name, {}).get("value") or "").strip()
            if not raw:
                new[name] = None
                continue
            try:
                new[name] = int(raw)
            except ValueError:
                errors[name] = "give a whole number"
        if errors:
            await ack(response_action="errors", errors=errors)
            return

        def save(session: Session) -> Campaign:
            _admin(session, actor)
            campaign = campaigns.get_campaign(session, actor.org_id, str(campaign_id))
            return campaigns.update_assignment_settings(
                session, campaign, actor=_admin(session, actor), **new
            )

        try:
            campaign = await in_session(deps.db, save)
        except Refused as exc:
            await ack(response_action="errors", errors=_errors(exc, "flags", list(NUMBER_SETTINGS)))
            return
        await ack()
        await deps.dm(actor.slack_user_id, f"Saved the assignment settings of {campaign.title}.")


async def run_import(
    deps: SlackDeps, actor: Actor, campaign_id: int, title: str, file: dict[str, Any]
) -> None:
    """Download the CSV to a temporary file, import it in a worker thread, post progress and the summary."""
    name = file.get("name") or "contacts.csv"
    channel = await deps.dm_channel(actor.slack_user_id)
    started = await deps.client.chat_postMessage(channel=channel, text=f"Importing {name} into {title}…")
    ts = started["ts"]
    loop = asyncio.get_running_loop()
    last = [0.0]

    async def show(text: str) -> None:
        await deps.client.chat_update(channel=channel, ts=ts, text=text, blocks=[blocks.section(text)])

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 or not total:
            return
        last[0] = now
        percent = min(100.0, 100.0 * done / total)
        text = f"Importing {name} into {title}: `{blocks.progress_bar(percent)}` {percent:.0f}%"
        asyncio.run_coroutine_threadsafe(show(text), loop)

    with tempfile.TemporaryDirectory(prefix="textbank-import-") as folder:
        path = Path(folder) / "contacts.csv"
        try:
            with path.open("wb") as sink:
                await deps.download(file, sink)
            summary = await asyncio.to_thread(
                contacts_import.import_contacts,
                deps.db,
                campaign_id,
                path,
                region=deps.settings.default_region,
                progress=progress,
            )
        except Refused as exc:
            await show(f":no_entry_sign: {name} was not imported, nothing changed: {exc.reason}")
            return
    skipped = ", ".join(
        f"{count} {reason.replace('_', ' ')}" for reason, count in summary.skipped.items() if count
    )
    text = (
        f":white_check_mark: Imported *{summary.imported}* contacts of {summary.rows} rows from {name} into "
        f"*{blocks.escape(title)}*." + (f" Skipped: {skipped}." if skipped else "")
    )
    await show(text)

"""The admin's flows: campaigns, join links, stats, texters, review, opt-outs, roles, forms.

Each takes the acting user and typed arguments (a platform parses its own command syntax) and answers
with a neutral view; a refusal is core's one-line reason. Forms (new campaign, settings) refuse a field
with ``FieldRefused`` naming the field, so a platform shows the reason under it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.chat import texts
from bot.chat.actions import Action
from bot.chat.actor import Actor
from bot.chat.context import Chat
from bot.chat.markup import esc
from bot.chat.views import Form, Message
from core import (
    assignment,
    campaign_yaml,
    campaigns,
    connect,
    contacts_import,
    export,
    joining,
    optouts,
    orgs,
    releases,
    stats,
    thread_channels,
)
from core.errors import Refused
from core.hours import format_hhmm, parse_hhmm
from storage.models import Campaign, User

# The assignment settings a form shows: (name, label).
BOOL_SETTINGS = (
    ("dynamic_initials", "Dynamic assignment for initials (texters request batches)"),
    ("replies_before_initials", "Texters finish their replies before getting more initials"),
    ("dynamic_replies", "Dynamic assignment for replies"),
)
# (name, label, required)
NUMBER_SETTINGS = (
    ("initials_batch_size", "Initials batch size", True),
    ("replies_batch_size", "Replies batch size", True),
    ("max_initials_per_texter", "Maximum initials per texter (empty = no limit)", False),
    ("release_unhandled_after_minutes", "Release unhandled replies after N minutes (empty = never)", False),
)
NEW_CAMPAIGN_FIELDS = ("title", "description", "initial", "hours_start", "hours_end", "timezone")


class FieldRefused(Refused):
    """A refusal that belongs under one field of a form (``field``: the field's id)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def field_of(exc: Refused, default: str, fields: tuple[str, ...] | list[str]) -> str:
    """The form field a refusal is about: its own, or the one its reason names, else ``default``."""
    if isinstance(exc, FieldRefused):
        return exc.field
    lowered = exc.reason.lower()
    for name in fields:
        if name.replace("_", " ") in lowered or name in lowered:
            return name
    if ("script" in lowered or "placeholder" in lowered or "initial" in lowered) and "initial" in fields:
        return "initial"
    if "time zone" in lowered and "timezone" in fields:
        return "timezone"
    return default


def _me(session: Session, actor: Actor) -> User:
    return orgs.get_user(session, actor.user_id)


def _admin(session: Session, actor: Actor) -> User:
    user = _me(session, actor)
    orgs.require_admin(user)
    return user


def admin_campaign(session: Session, actor: Actor, ref: str) -> Campaign:
    _admin(session, actor)
    return campaigns.get_campaign(session, actor.org_id, ref)


async def require_admin(chat: Chat, actor: Actor) -> None:
    """Refused unless the actor is an admin (before a form is even opened)."""
    await chat.work.read(lambda s: _admin(s, actor))


async def campaign_for_form(chat: Chat, actor: Actor, ref: str) -> Campaign:
    """The campaign an admin opens a form of (detached: its settings stay readable)."""
    return await chat.work.read(lambda s: admin_campaign(s, actor, ref))


async def campaign_list(chat: Chat, actor: Actor) -> Message:
    def listing(session: Session) -> list[tuple[int, str, str, int]]:
        _admin(session, actor)
        return [
            (s.campaign.id, s.campaign.title, s.campaign.status, s.contacts)
            for s in campaigns.list_campaigns(session, actor.org_id, actor=_me(session, actor))
        ]

    return texts.campaign_list(await chat.work.read(listing))


async def _change_status(chat: Chat, actor: Actor, ref: str, change: Callable[..., Campaign]) -> str:
    """Launch or archive (core checks the role); the campaign's title."""

    def run(session: Session) -> str:
        return change(session, admin_campaign(session, actor, ref), actor=_me(session, actor)).title

    return await chat.work.write(run)


async def launch(chat: Chat, actor: Actor, ref: str) -> Message:
    return texts.launched(await _change_status(chat, actor, ref, campaigns.launch_campaign))


async def archive(chat: Chat, actor: Actor, ref: str) -> Message:
    return texts.archived(await _change_status(chat, actor, ref, campaigns.archive_campaign))


async def campaign_stats(chat: Chat, actor: Actor, ref: str) -> Message:
    def read(session: Session) -> tuple[str, stats.CampaignStats]:
        campaign = admin_campaign(session, actor, ref)
        return campaign.title, stats.campaign_stats(session, campaign, actor=_me(session, actor))

    title, result = await chat.work.read(read)
    return texts.stats_message(title, result)


async def texters(chat: Chat, actor: Actor, ref: str) -> Message:
    def read(session: Session) -> tuple[int, str, list[stats.TexterCounts]]:
        campaign = admin_campaign(session, actor, ref)
        return campaign.id, campaign.title, stats.texter_counts(session, campaign, actor=_me(session, actor))

    return texts.texters_message(*await chat.work.read(read))


async def review(chat: Chat, actor: Actor, ref: str, status_word: str, texter: Actor | None) -> Message:
    def read(session: Session) -> tuple[int, str, str | None, list[stats.ReviewRow]]:
        status = None if status_word.lower() == "all" else stats.parse_status(status_word)
        campaign = campaigns.get_campaign(session, actor.org_id, ref)
        who = orgs.get_user(session, texter.user_id) if texter else None
        rows = stats.review(session, _me(session, actor), campaign, status=status, texter=who)
        return campaign.id, campaign.title, status, rows

    campaign_id, title, status, rows = await chat.work.read(read)
    whose = (texter.user_id, texter.name) if texter else None
    return texts.review_message(campaign_id, title, status, whose, rows)


async def release_texter(chat: Chat, actor: Actor, action: Action) -> Message:
    """Release unsent (from the texters list, after its confirmation)."""

    def release(session: Session) -> tuple[str, int]:
        campaign = campaigns.get_campaign(session, actor.org_id, str(action.number("k")))
        texter = orgs.get_user(session, action.number("u"))
        return texter.name, releases.release_texter_initials(session, _me(session, actor), campaign, texter)

    try:
        name, count = await chat.work.write(release)
    except Refused as exc:
        return texts.refusal(exc.reason)
    return texts.released_texter(name, count)


async def review_unassign(chat: Chat, actor: Actor, action: Action) -> Message:
    def unassign(session: Session) -> int:
        campaign = campaigns.get_campaign(session, actor.org_id, str(action.number("k")))
        user_id = action.maybe_number("u")
        texter = orgs.get_user(session, user_id) if user_id else None
        status = action.args.get("f")
        return releases.unassign_by_filter(
            session, _me(session, actor), campaign, status=str(status) if status else None, texter=texter
        )

    try:
        count = await chat.work.write(unassign)
    except Refused as exc:
        return texts.refusal(exc.reason)
    return texts.unassigned(count)


async def review_unassign_asked(chat: Chat, actor: Actor, action: Action) -> Message:
    """Unassign on a platform whose buttons cannot ask first: an admin is asked, then (``y``) it runs."""
    if action.maybe_number("y") is None:
        try:
            await require_admin(chat, actor)
        except Refused as exc:
            return texts.refusal(exc.reason)
        return texts.confirm_first(texts.UNASSIGN_CONFIRM, action)
    return await review_unassign(chat, actor, action)


async def optout_add(chat: Chat, actor: Actor, raw: str) -> Message:
    def add(session: Session) -> tuple[str, bool]:
        _admin(session, actor)
        cell = optouts.normalize_or_refuse(raw, chat.settings.default_region)
        added = optouts.opt_out(
            session,
            actor.org_id,
            cell,
            source="admin",
            reason=f"added in {chat.platform.title()}",
            actor=_me(session, actor),
        )
        return cell, added

    return texts.opted_out_number(*await chat.work.write(add))


async def optout_list(chat: Chat, actor: Actor, page: int = 1) -> Message:
    return texts.optout_list(await chat.work.read(lambda s: optouts.optout_page(s, _me(s, actor), page=page)))


async def connect_platforms(chat: Chat, actor: Actor, code: str | None) -> Message:
    """``connect``: a one-time code for the other platform, or (with ``code``) join its organization."""

    def work(session: Session) -> str:
        me = _me(session, actor)
        if not code:
            return connect.create_connect_code(session, me, platform=actor.platform).message
        done = connect.redeem_connect_code(
            session, me, code, platform=actor.platform, workspace_id=actor.workspace_id
        )
        return done.message

    return texts.confirmation(esc(await chat.work.write(work)))


async def set_role(chat: Chat, actor: Actor, target: Actor, role: str) -> Message:
    await chat.work.write(lambda s: orgs.set_role(s, _me(s, actor), orgs.get_user(s, target.user_id), role))
    return texts.role_changed(target.name, role)


@dataclass(frozen=True)
class JoinLink:
    title: str
    message: Message  # the join message to post in the channel


async def join_link(chat: Chat, actor: Actor, kind: str, ref: str, team: str | None) -> JoinLink:
    def make(session: Session) -> JoinLink:
        campaign = campaigns.get_campaign(session, actor.org_id, ref)
        token = joining.create_join_token(session, _me(session, actor), campaign, kind, team)
        return JoinLink(campaign.title, texts.join_message(campaign.title, kind, team, token.token))

    return await chat.work.write(make)


async def export_csv(chat: Chat, actor: Actor, ref: str, path: Path) -> tuple[str, int]:
    """Write the campaign's contacts CSV to ``path``; (title, contacts written)."""

    def write(session: Session) -> tuple[str, int]:
        campaign = campaigns.get_campaign(session, actor.org_id, ref)
        with path.open("w", encoding="utf-8", newline="") as out:
            count = export.export_contacts_csv(session, _me(session, actor), campaign, out)
        return campaign.title, count

    return await chat.work.read(write)


async def create_campaign(chat: Chat, actor: Actor, fields: dict[str, str]) -> Message:
    """The new-campaign form submitted (``NEW_CAMPAIGN_FIELDS``); FieldRefused names a bad field."""

    def get(name: str) -> str:
        return (fields.get(name) or "").strip()

    def create(session: Session) -> Campaign:
        _admin(session, actor)
        hours = {}
        for name in ("hours_start", "hours_end"):
            try:
                hours[name] = parse_hhmm(get(name))
            except Refused as exc:
                raise FieldRefused(name, exc.reason) from exc
        return campaigns.create_campaign(
            session,
            actor.org_id,
            title=get("title"),
            description=get("description"),
            timezone=get("timezone") or "America/New_York",
            hours_start=hours["hours_start"],
            hours_end=hours["hours_end"],
            initial_script=get("initial"),
            actor=_me(session, actor),
        )

    campaign = await chat.work.write(create)
    hours = f"{format_hhmm(campaign.hours_start)}-{format_hhmm(campaign.hours_end)}"
    return texts.campaign_created(campaign.title, campaign.id, hours)


async def apply_yaml(chat: Chat, actor: Actor, text: str, source: str) -> Message:
    """A campaign YAML file applied (CampaignYamlError lists its problems)."""

    def apply(session: Session) -> tuple[Campaign, bool]:
        _admin(session, actor)
        return campaign_yaml.apply_campaign_yaml(
            session, actor.org_id, text, source=source, actor=_me(session, actor)
        )

    campaign, created = await chat.work.write(apply)
    return texts.campaign_applied(campaign.title, campaign.id, campaign.status, created, source)


def settings_values(flags: set[str], numbers: dict[str, str]) -> dict[str, Any]:
    """The settings form's values as core's arguments; FieldRefused for a number that is not one."""
    new: dict[str, Any] = {name: name in flags for name, _ in BOOL_SETTINGS}
    for name, _label, _required in NUMBER_SETTINGS:
        raw = (numbers.get(name) or "").strip()
        if not raw:
            new[name] = None
            continue
        try:
            new[name] = int(raw)
        except ValueError as exc:
            raise FieldRefused(name, "give a whole number") from exc
    return new


async def save_settings(chat: Chat, actor: Actor, campaign_id: int, new: dict[str, Any]) -> Message:
    def save(session: Session) -> Campaign:
        campaign = admin_campaign(session, actor, str(campaign_id))
        return campaigns.update_assignment_settings(session, campaign, actor=_me(session, actor), **new)

    return texts.settings_saved((await chat.work.write(save)).title)


async def assignment_settings(chat: Chat, actor: Actor, ref: str, given: dict[str, Any]) -> Message:
    """A campaign's assignment settings, after setting the ``given`` ones (the rest stay as they are)."""

    def run(session: Session) -> tuple[str, list[tuple[str, Any]]]:
        campaign = admin_campaign(session, actor, ref)
        if given:
            current = {name: getattr(campaign, name) for name in campaigns.ASSIGNMENT_FIELDS}
            campaign = campaigns.update_assignment_settings(
                session, campaign, actor=_me(session, actor), **{**current, **given}
            )
        return campaign.title, [(name, getattr(campaign, name)) for name in campaigns.ASSIGNMENT_FIELDS]

    title, values = await (chat.work.write(run) if given else chat.work.read(run))
    return texts.assignment_settings(title, values, saved=bool(given))


async def thread_channel(chat: Chat, actor: Actor, ref: str | None, channel_id: str) -> Message:
    """Conversation threads of a campaign (``ref``; None: of every campaign without its own) open in
    ``channel_id`` of the admin's workspace (core checks the role)."""
    title = await chat.work.write(
        lambda s: thread_channels.choose(
            s, actor.user_id, actor.platform, actor.workspace_id, channel_id, ref
        )
    )
    return texts.thread_channel_chosen(title)


async def import_contacts(
    chat: Chat, actor: Actor, campaign_id: int, path: Path, progress: Callable[[int, int], None]
) -> contacts_import.ImportSummary:
    """Import a downloaded contacts CSV (all or nothing) on a worker thread."""
    await chat.work.read(lambda s: admin_campaign(s, actor, str(campaign_id)))
    return await asyncio.to_thread(
        contacts_import.import_contacts,
        chat.work.db,
        campaign_id,
        path,
        region=chat.settings.default_region,
        progress=progress,
    )


async def texter_form(chat: Chat, actor: Actor, action: Action) -> Form:
    """A choice on a texter of ``/textbank texters``: the form that asks for the rest (or confirms)."""

    def read(session: Session) -> Form:
        campaign = admin_campaign(session, actor, str(action.number("k")))
        texter = orgs.get_user(session, action.number("u"))
        if texter.organization_id != actor.org_id:
            raise Refused("that texter is not in your organization: pick one from /textbank texters")
        row = stats.own_counts(session, campaign, texter)
        choice = action.text("x")
        if choice == "assign":
            return texts.assign_form(campaign.id, texter.id, texter.name, campaign.title)
        if choice == "max":
            member = assignment.membership(session, campaign, texter)
            own = member.max_initials if member is not None else None
            return texts.max_form(campaign.id, texter.id, texter.name, campaign.title, own)
        if choice == "release":
            return texts.release_form(campaign.id, texter.id, texter.name, row.unsent_initials if row else 0)
        raise Refused(texts.unknown_menu_choice(choice))

    return await chat.work.read(read)


def whole_number(raw: str, field: str) -> int:
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise FieldRefused(field, f"{raw.strip()!r} is not a whole number: give one such as 50") from exc


async def assign(chat: Chat, actor: Actor, ref: str, texter_id: int, count: int) -> Message:
    """Manual assignment: ``count`` unassigned first texts to a texter (refused while dynamic is on)."""

    def give(session: Session) -> tuple[str, str, int, str | None]:
        campaign = campaigns.get_campaign(session, actor.org_id, ref)
        texter = orgs.get_user(session, texter_id)
        result = assignment.assign_initials(session, _me(session, actor), campaign, texter, count)
        return texter.name, campaign.title, len(result.contact_ids), result.reason

    return texts.assigned_by_hand(*await chat.work.serial(give))


async def set_max(chat: Chat, actor: Actor, ref: str, texter_id: int, value: str) -> Message:
    """A texter's own maximum of contacts held ("none": the campaign's applies)."""

    def save(session: Session) -> tuple[str, str, int | None, int | None]:
        campaign = campaigns.get_campaign(session, actor.org_id, ref)
        texter = orgs.get_user(session, texter_id)
        word = value.strip().lower()
        maximum = None if word in ("none", "") else whole_number(word, "max")
        assignment.set_texter_max(session, _me(session, actor), campaign, texter, maximum)
        return texter.name, campaign.title, maximum, campaign.max_initials_per_texter

    return texts.maximum_set(*await chat.work.write(save))

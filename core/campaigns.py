"""Campaign lifecycle: create, find, edit, launch, archive; canned responses and the tags a campaign offers.

Status goes ``draft -> launched -> archived``. A draft is edited freely. A launched campaign may still
change what does not alter what contacts were or will be sent: its description, texting hours, assignment
settings, canned responses and tags. Its title (texters and join messages know it by that), time zone
(contacts' zones were derived from it at import), custom fields and script (answers are recorded against
its steps) are fixed. An archived campaign changes no more.

Titles are unique per organization among campaigns that are not archived. The one ``kind == "adhoc"``
campaign of an organization holds its ad-hoc texts (seed 001) under the reserved title ``ADHOC_TITLE``: it
is listed and found by id or title like any campaign (so ``link replies`` and Send Replies reach the
replies waiting there), but it is never edited, launched or archived.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnDefault, Select, delete, func, select
from sqlalchemy.orm import Session

from core import scripts
from core.errors import NotFound, Refused
from core.hours import zone
from core.numbers import MAX_COUNT, MAX_MINUTES, check_whole_number, parse_id
from core.orgs import find_identity, get_user, is_admin, organization_for_workspace, require_org_admin
from storage.models import (
    Campaign,
    CampaignTag,
    CampaignTexter,
    CannedResponse,
    Contact,
    Organization,
    Tag,
    Team,
    User,
)
from storage.types import utcnow

STATUSES = ("draft", "launched", "archived")
# The ad-hoc campaign's title: stable, so commands can name it (``/textbank link replies "ad-hoc texts"``).
ADHOC_TITLE = "ad-hoc texts"
CONTACT_STATUSES = ("needs_message", "messaged", "needs_response", "convo", "closed")
MAX_TITLE = 200
MINUTES_PER_DAY = 24 * 60

ASSIGNMENT_FIELDS = (
    "dynamic_initials",
    "initials_batch_size",
    "replies_before_initials",
    "max_initials_per_texter",
    "dynamic_replies",
    "replies_batch_size",
    "release_unhandled_after_minutes",
    "reply_reminder_minutes",
)
# The column defaults, for a YAML file that leaves a setting out.
ASSIGNMENT_DEFAULTS: dict[str, Any] = {
    name: (column.default.arg if isinstance(column.default, ColumnDefault) else None)
    for name in ASSIGNMENT_FIELDS
    for column in [Campaign.__table__.c[name]]
}
_BOOL_SETTINGS = {"dynamic_initials", "replies_before_initials", "dynamic_replies"}
_POSITIVE_SETTINGS = {"initials_batch_size", "replies_batch_size"}
_OPTIONAL_POSITIVE_SETTINGS = {"max_initials_per_texter", "release_unhandled_after_minutes"}
# 0 turns the setting off.
_NON_NEGATIVE_SETTINGS = {"reply_reminder_minutes"}
_SETTING_MAXIMA = {"release_unhandled_after_minutes": MAX_MINUTES}

DRAFT_FIELDS = ("title", "description", "timezone", "hours_start", "hours_end", "custom_fields")
LAUNCHED_FIELDS = ("description", "hours_start", "hours_end")
_WHY_FIXED = {
    "title": "texters and join messages know the campaign by its title",
    "timezone": "contacts' time zones were derived from it when they were imported",
    "custom_fields": "its script is fixed, so the placeholders it may use are too",
}


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignSummary:
    campaign: Campaign
    contacts: int
    by_status: dict[str, int] = field(default_factory=dict)
    opted_out: int = 0


def _visible(org_id: int) -> Select[Campaign]:
    return select(Campaign).where(
        Campaign.organization_id == org_id, Campaign.kind.in_(("campaign", "adhoc"))
    )


def get_campaign(session: Session, org_id: int, ref: str) -> Campaign:
    """The campaign named by ``ref``: its numeric id, else its exact title.

    An archived campaign and a live one may share a title: the live one is meant. Titles that still
    match several campaigns are refused with their ids.
    """
    ref = str(ref).strip()
    if not ref:
        raise NotFound("no campaign given: name one by its id or title (see `textbank campaign list`)")
    ref_id = parse_id(ref)
    if ref_id is not None:
        by_id = session.scalars(_visible(org_id).where(Campaign.id == ref_id)).first()
        if by_id is not None:
            return by_id
    matches = list(session.scalars(_visible(org_id).where(Campaign.title == ref).order_by(Campaign.id)))
    live = [c for c in matches if c.status != "archived"]
    if len(live) == 1:
        return live[0]
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(str(c.id) for c in matches)
        raise Refused(
            f"{len(matches)} campaigns are titled {ref!r} (ids {ids}): name the one you mean by its id"
        )
    titles = list(session.scalars(select(Campaign.title).where(Campaign.organization_id == org_id)))
    close = difflib.get_close_matches(ref, titles, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise NotFound(f"no campaign {ref!r}: {hint}see `textbank campaign list` for ids and titles")


def campaign_kind(session: Session, campaign_id: int) -> str:
    """``campaign``, or ``adhoc`` for an organization's ad-hoc conversations, of the campaign with this id.

    By id alone (no organization check): for code that already holds the id from a checked read, such as
    a conversation's view. A loaded campaign comes from the session's identity map without a query.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign.kind


def contact_counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[dict[str, int], int]]:
    """Per campaign: contacts by status, and how many are opted out (one grouped query)."""
    out: dict[int, tuple[dict[str, int], int]] = {cid: ({}, 0) for cid in campaign_ids}
    if not campaign_ids:
        return out
    rows = session.execute(
        select(Contact.campaign_id, Contact.status, Contact.opted_out, func.count())
        .where(Contact.campaign_id.in_(list(campaign_ids)))
        .group_by(Contact.campaign_id, Contact.status, Contact.opted_out)
    )
    for campaign_id, status, opted_out, count in rows:
        by_status, out_count = out[campaign_id]
        by_status[status] = by_status.get(status, 0) + count
        out[campaign_id] = (by_status, out_count + (count if opted_out else 0))
    return out


def summarize(session: Session, campaigns: Sequence[Campaign]) -> list[CampaignSummary]:
    counts = contact_counts(session, [c.id for c in campaigns])
    return [
        CampaignSummary(
            campaign=c,
            contacts=sum(counts[c.id][0].values()),
            by_status=counts[c.id][0],
            opted_out=counts[c.id][1],
        )
        for c in campaigns
    ]


def list_campaigns(
    session: Session, org_id: int, *, actor: User, include_archived: bool = True
) -> list[CampaignSummary]:
    """The organization's campaigns (oldest first) with their contact counts: an admin's list."""
    require_org_admin(actor, org_id)
    query = _visible(org_id).order_by(Campaign.id)
    if not include_archived:
        query = query.where(Campaign.status != "archived")
    return summarize(session, list(session.scalars(query)))


def titles_for_member(
    session: Session, platform: str, workspace_id: str, platform_user_id: str, typed: str
) -> list[tuple[int, str]]:
    """(id, title) of the live campaigns whose title holds ``typed`` (any case), for a workspace member's
    campaign autocomplete: an admin of the workspace's organization sees them, anyone else none (an
    autocomplete cannot refuse)."""
    org = organization_for_workspace(session, platform, workspace_id)
    identity = find_identity(session, platform, workspace_id, platform_user_id)
    me = get_user(session, identity.user_id) if identity is not None else None
    if org is None or me is None or not is_admin(me):
        return []
    listed = list_campaigns(session, org.id, actor=me, include_archived=False)
    return [(s.campaign.id, s.campaign.title) for s in listed if typed.lower() in s.campaign.title.lower()]


def texter_campaigns(session: Session, user: User) -> list[Campaign]:
    """The launched campaigns ``user`` texts in (a member, or holding contacts of it), oldest first.

    What a texter's own dashboard lists; it needs no admin role.
    """
    member = select(CampaignTexter.campaign_id).where(CampaignTexter.user_id == user.id)
    holding = select(Contact.campaign_id).where(Contact.assigned_user_id == user.id).distinct()
    return list(
        session.scalars(
            select(Campaign)
            .where(
                Campaign.organization_id == user.organization_id,
                Campaign.status == "launched",
                Campaign.id.in_(member.union(holding)),
            )
            .order_by(Campaign.id)
        )
    )


def has_contacts(session: Session, campaign_id: int) -> bool:
    return session.scalar(select(Contact.id).where(Contact.campaign_id == campaign_id).limit(1)) is not None


def canned_responses(session: Session, campaign_id: int) -> list[CannedResponse]:
    return list(
        session.scalars(
            select(CannedResponse)
            .where(CannedResponse.campaign_id == campaign_id)
            .order_by(CannedResponse.position, CannedResponse.id)
        )
    )


def campaign_tags(session: Session, campaign_id: int) -> list[tuple[Tag, Team | None]]:
    """The tags a campaign offers, in order, each with the team its escalations go to (if any)."""
    rows = session.execute(
        select(Tag, Team)
        .join(CampaignTag, CampaignTag.tag_id == Tag.id)
        .outerjoin(Team, Team.id == Tag.team_id)
        .where(CampaignTag.campaign_id == campaign_id)
        .order_by(CampaignTag.position, Tag.id)
    )
    return [(tag, team) for tag, team in rows]


# --- validation shared with the YAML loader ----------------------------------------------------------------


def check_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise Refused("the title is empty: give the campaign a title, e.g. 'GOTV November'")
    title = title.strip()
    if len(title) > MAX_TITLE:
        raise Refused(f"the title is longer than {MAX_TITLE} characters: shorten it")
    if title.casefold() == ADHOC_TITLE.casefold():
        raise Refused(f"{title!r} is the title of the organization's ad-hoc texts: pick another title")
    return title


def check_timezone(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Refused("the time zone is empty: use an IANA name such as America/New_York")
    zone(name.strip())
    return name.strip()


def check_hours(start: Any, end: Any) -> tuple[int, int]:
    for label, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MINUTES_PER_DAY:
            raise Refused(f"texting hours {label} must be minutes after midnight, 0 to 1440 (got {value!r})")
    return start, end


def check_custom_fields(names: Any) -> list[str]:
    if not isinstance(names, list | tuple):
        raise Refused("custom fields must be a list of names")
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise Refused("a custom field name is empty: give each field its column name, e.g. pollingPlace")
        name = name.strip()
        if any(ch in name for ch in "{}:!"):
            raise Refused(f"custom field {name!r} contains one of {{ }} : ! which placeholders cannot hold")
        if name in scripts.BUILTIN_PLACEHOLDERS:
            raise Refused(f"custom field {name!r} is a built-in placeholder already: remove it from the list")
        if name in out:
            raise Refused(f"custom field {name!r} is listed twice: list it once")
        out.append(name)
    return out


def check_assignment_setting(name: str, value: Any) -> Any:
    """The validated value of one assignment setting (see ASSIGNMENT_FIELDS)."""
    if name in _BOOL_SETTINGS:
        if not isinstance(value, bool):
            raise Refused(f"{name} must be true or false (got {value!r})")
        return value
    if name in _POSITIVE_SETTINGS or name in _OPTIONAL_POSITIVE_SETTINGS:
        if value is None and name in _OPTIONAL_POSITIVE_SETTINGS:
            return None
        try:
            return check_whole_number(value, name, maximum=_SETTING_MAXIMA.get(name, MAX_COUNT))
        except Refused as exc:
            if name in _OPTIONAL_POSITIVE_SETTINGS:
                raise Refused(exc.reason.replace(" (got", ", or null for no limit (got", 1)) from None
            raise
    if name in _NON_NEGATIVE_SETTINGS:
        try:
            return check_whole_number(value, name, minimum=0, maximum=MAX_MINUTES)
        except Refused as exc:
            raise Refused(exc.reason.replace(" (got", " minutes, or 0 for off (got", 1)) from None
    raise Refused(f"unknown assignment setting {name!r}: use one of {', '.join(ASSIGNMENT_FIELDS)}")


def check_reminder_before_release(reminder_minutes: int, release_minutes: int | None) -> None:
    """A reply reminder (when on) must come before Release Unhandled Replies (when on) takes the replies."""
    if reminder_minutes and release_minutes is not None and reminder_minutes >= release_minutes:
        raise Refused(
            f"reply_reminder_minutes ({reminder_minutes}) must be less than release_unhandled_after_minutes "
            f"({release_minutes}): a texter is reminded of their waiting replies before they are released; "
            "give a shorter reminder, or 0 to turn reminders off"
        )


def _check_assignment_together(campaign: Campaign, checked: dict[str, Any]) -> None:
    """The settings that depend on each other, as they will be once ``checked`` is applied."""
    check_reminder_before_release(
        checked.get("reply_reminder_minutes", campaign.reply_reminder_minutes),
        checked.get("release_unhandled_after_minutes", campaign.release_unhandled_after_minutes),
    )


def _lock_titles(session: Session, org_id: int) -> None:
    # Serializes title checks per organization on PostgreSQL (SQLite write transactions are serial already).
    session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())


def _check_title_free(session: Session, org_id: int, title: str, *, except_id: int | None = None) -> None:
    query = _visible(org_id).where(Campaign.title == title, Campaign.status != "archived")
    if except_id is not None:
        query = query.where(Campaign.id != except_id)
    other = session.scalars(query).first()
    if other is not None:
        raise Refused(
            f"a campaign titled {title!r} already exists (id {other.id}, {other.status}): titles are unique "
            "among campaigns that are not archived; pick another title or archive that one first"
        )


# --- changing ----------------------------------------------------------------------------------------------


def create_campaign(
    session: Session,
    org_id: int,
    *,
    actor: User,
    title: str,
    description: str = "",
    timezone: str = "America/New_York",
    hours_start: int = 540,
    hours_end: int = 1260,
    initial_script: str | None = None,
    custom_fields: Iterable[str] = (),
) -> Campaign:
    """An admin's new draft campaign (with a root script step when ``initial_script`` is given)."""
    require_org_admin(actor, org_id)
    title = check_title(title)
    timezone = check_timezone(timezone)
    hours_start, hours_end = check_hours(hours_start, hours_end)
    fields = check_custom_fields(list(custom_fields))
    root = None
    if initial_script is not None and initial_script.strip():
        root = scripts.StepSpec(script=initial_script)
        scripts.validate_tree(root, fields)
    _lock_titles(session, org_id)
    _check_title_free(session, org_id, title)
    campaign = Campaign(
        organization_id=org_id,
        title=title,
        description=description or "",
        kind="campaign",
        status="draft",
        timezone=timezone,
        hours_start=hours_start,
        hours_end=hours_end,
        custom_fields=fields,
    )
    session.add(campaign)
    session.flush()
    if root is not None:
        scripts.replace_tree(session, campaign, root)
    return campaign


def _refuse_archived(campaign: Campaign) -> None:
    if campaign.status == "archived":
        raise Refused(
            f"campaign {campaign.title!r} is archived: nothing about it can change; create a new campaign"
        )
    if campaign.kind != "campaign":
        raise Refused("that is the organization's ad-hoc texting home, not a campaign: it cannot be edited")


def update_campaign(session: Session, campaign: Campaign, *, actor: User, **fields: Any) -> Campaign:
    """An admin changes campaign settings (assignment settings too, as ``update_assignment_settings``).

    A draft may change any of DRAFT_FIELDS; a launched campaign only LAUNCHED_FIELDS (the rest is refused
    with the reason). Everything is validated before anything changes.
    """
    require_org_admin(actor, campaign.organization_id)
    _refuse_archived(campaign)
    assignment = {k: fields.pop(k) for k in list(fields) if k in ASSIGNMENT_FIELDS}
    allowed = DRAFT_FIELDS if campaign.status == "draft" else LAUNCHED_FIELDS
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in DRAFT_FIELDS:
            known = ", ".join(DRAFT_FIELDS + ASSIGNMENT_FIELDS)
            raise Refused(f"unknown campaign setting {name!r}: settable are {known}")
        if name not in allowed and value != getattr(campaign, name):
            raise Refused(
                f"campaign {campaign.title!r} is launched, so its {name.replace('_', ' ')} cannot change "
                f"({_WHY_FIXED[name]}); a launched campaign may change its description, hours, assignment "
                "settings, canned responses and tags"
            )
        values[name] = value
    if "title" in values:
        values["title"] = check_title(values["title"])
    if "timezone" in values:
        values["timezone"] = check_timezone(values["timezone"])
    if "hours_start" in values or "hours_end" in values:
        values["hours_start"], values["hours_end"] = check_hours(
            values.get("hours_start", campaign.hours_start), values.get("hours_end", campaign.hours_end)
        )
    if "custom_fields" in values:
        values["custom_fields"] = check_custom_fields(values["custom_fields"])
        root = scripts.load_tree(session, campaign.id)
        if root is not None:
            scripts.validate_tree(root, values["custom_fields"])
        for response in canned_responses(session, campaign.id):
            scripts.validate_script(
                response.text, values["custom_fields"], f"canned response {response.title!r}"
            )
    if "description" in values and not isinstance(values["description"], str):
        raise Refused("the description must be text")
    checked_assignment = {name: check_assignment_setting(name, v) for name, v in assignment.items()}
    _check_assignment_together(campaign, checked_assignment)
    if values.get("title", campaign.title) != campaign.title:
        _lock_titles(session, campaign.organization_id)
        _check_title_free(session, campaign.organization_id, values["title"], except_id=campaign.id)
    for name, value in values.items():
        setattr(campaign, name, value)
    for name, value in checked_assignment.items():
        setattr(campaign, name, value)
    session.flush()
    return campaign


def update_assignment_settings(
    session: Session, campaign: Campaign, *, actor: User, **settings: Any
) -> Campaign:
    """An admin changes assignment settings (in draft and launched campaigns alike), all validated first."""
    require_org_admin(actor, campaign.organization_id)
    _refuse_archived(campaign)
    checked = {name: check_assignment_setting(name, value) for name, value in settings.items()}
    _check_assignment_together(campaign, checked)
    for name, value in checked.items():
        setattr(campaign, name, value)
    session.flush()
    return campaign


def set_script(session: Session, campaign: Campaign, spec: scripts.StepSpec | None) -> None:
    """Replace the script tree of a draft campaign."""
    _refuse_archived(campaign)
    scripts.replace_tree(session, campaign, spec)


@dataclass(frozen=True)
class CannedSpec:
    title: str
    text: str


def set_canned_responses(session: Session, campaign: Campaign, items: Sequence[CannedSpec]) -> None:
    """Replace the campaign's canned responses (any time before archiving)."""
    _refuse_archived(campaign)
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"canned_responses[{index}]"
        if not item.title.strip():
            raise Refused(f"{where}.title: the title is empty: give texters a short name to pick it by")
        if len(item.title.strip()) > MAX_TITLE:
            raise Refused(f"{where}.title: longer than {MAX_TITLE} characters: shorten it")
        if item.title.strip().casefold() in seen:
            raise Refused(f"{where}.title: {item.title.strip()!r} is used twice: give each a distinct title")
        seen.add(item.title.strip().casefold())
        if not item.text.strip():
            raise Refused(f"{where}.text: the text is empty: write the message it sends")
        scripts.validate_script(item.text, campaign.custom_fields or [], f"{where}.text")
    session.execute(delete(CannedResponse).where(CannedResponse.campaign_id == campaign.id))
    for index, item in enumerate(items):
        session.add(
            CannedResponse(campaign_id=campaign.id, title=item.title.strip(), text=item.text, position=index)
        )
    session.flush()


@dataclass(frozen=True)
class TagSpec:
    name: str
    description: str = ""
    escalate: bool = False
    team: str | None = None


MAX_TAG = 100


def set_tags(session: Session, campaign: Campaign, items: Sequence[TagSpec]) -> None:
    """Offer exactly these tags in the campaign.

    Tags belong to the organization: a tag named here is created if missing, and its description,
    escalation flag and team are set as given (so every campaign offering it sees the same tag). A team
    is found by name and created if missing.
    """
    _refuse_archived(campaign)
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"tags[{index}]"
        name = item.name.strip()
        if not name:
            raise Refused(f"{where}.name: the tag name is empty: name it, e.g. wrong-number")
        if len(name) > MAX_TAG:
            raise Refused(f"{where}.name: longer than {MAX_TAG} characters: shorten it")
        if name in seen:
            raise Refused(f"{where}.name: tag {name!r} is listed twice: list it once")
        seen.add(name)
        if item.team is not None and not item.escalate:
            raise Refused(
                f"{where}.team: only an escalation tag hands conversations to a team: "
                "set escalate: true or remove the team"
            )
        if item.team is not None and not item.team.strip():
            raise Refused(f"{where}.team: the team name is empty: name a team or write null for admins")
    org_id = campaign.organization_id
    session.execute(delete(CampaignTag).where(CampaignTag.campaign_id == campaign.id))
    for index, item in enumerate(items):
        team_id = _team_id(session, org_id, item.team.strip()) if item.team else None
        name = item.name.strip()
        tag = session.scalars(select(Tag).where(Tag.organization_id == org_id, Tag.name == name)).first()
        if tag is None:
            tag = Tag(organization_id=org_id, name=name)
            session.add(tag)
        tag.description = item.description or ""
        tag.is_escalation = bool(item.escalate)
        tag.team_id = team_id
        session.flush()
        session.add(CampaignTag(campaign_id=campaign.id, tag_id=tag.id, position=index))
    session.flush()


def _team_id(session: Session, org_id: int, name: str) -> int:
    team = session.scalars(select(Team).where(Team.organization_id == org_id, Team.name == name)).first()
    if team is None:
        team = Team(organization_id=org_id, name=name)
        session.add(team)
        session.flush()
    return team.id


def launch_problems(session: Session, campaign: Campaign) -> list[str]:
    """Why ``campaign`` cannot be launched now (empty when it can)."""
    problems: list[str] = []
    if campaign.status != "draft":
        verb = (
            "is already launched" if campaign.status == "launched" else "is archived and cannot be relaunched"
        )
        return [f"campaign {campaign.title!r} {verb}"]
    if not has_contacts(session, campaign.id):
        problems.append(
            f"it has no contacts: import some with `textbank contacts import {campaign.id} FILE.csv`"
        )
    root = scripts.load_tree(session, campaign.id)
    if root is None or not root.script.strip():
        problems.append("it has no initial script: add script.initial to its YAML and apply it")
    else:
        try:
            scripts.validate_tree(root, campaign.custom_fields or [])
        except Refused as exc:
            problems.append(f"its script has a problem: {exc.reason}")
    for response in canned_responses(session, campaign.id):
        try:
            scripts.validate_script(
                response.text, campaign.custom_fields or [], f"canned response {response.title!r}"
            )
        except Refused as exc:
            problems.append(exc.reason)
    return problems


def launch_campaign(session: Session, campaign: Campaign, *, actor: User) -> Campaign:
    """An admin starts a draft: from now on it sends. Refused, naming every problem, when it is not ready."""
    require_org_admin(actor, campaign.organization_id)
    if campaign.kind != "campaign":
        raise Refused("that is the organization's ad-hoc texting home, not a campaign: it cannot be launched")
    problems = launch_problems(session, campaign)
    if problems:
        if campaign.status != "draft":
            raise Refused(f"{problems[0]}: nothing to do")
        raise Refused(f"cannot launch {campaign.title!r}: " + "; ".join(problems))
    campaign.status = "launched"
    campaign.launched_at = utcnow()
    session.flush()
    return campaign


def archive_campaign(session: Session, campaign: Campaign, *, actor: User) -> Campaign:
    """An admin ends a campaign for good: it sends nothing more and changes no more; its title is free."""
    require_org_admin(actor, campaign.organization_id)
    _refuse_archived(campaign)
    campaign.status = "archived"
    campaign.archived_at = utcnow()
    session.flush()
    return campaign

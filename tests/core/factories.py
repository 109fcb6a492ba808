"""Shared test helpers: rows written straight through the storage models, no core rules involved.

Core tests build their world with these (an organization, admins and texters with a chat identity, a
launched campaign with N contacts spread over given time zones, a small script tree) and then exercise
the core call under test. Every helper takes the open session and flushes, so ids are set on return.
Names here are stable: other test modules import them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.orgs import default_organization
from core.sending import send_initial
from storage import Database
from storage.models import (
    Campaign,
    CampaignTexter,
    Contact,
    InteractionStep,
    Organization,
    PlatformIdentity,
    Tag,
    Team,
    TeamMember,
    User,
)

_serial = count(1)

# Valid US numbers (212 = New York, 602 = Phoenix, ...) so phonenumbers accepts them; the line part varies.
AREA_CODES = {
    "America/New_York": "212",
    "America/Chicago": "312",
    "America/Denver": "303",
    "America/Phoenix": "602",
    "America/Los_Angeles": "213",
    "Pacific/Honolulu": "808",
}


def at(year: int, month: int, day: int, hour: int, minute: int = 0, tz: str = "UTC") -> datetime:
    """A fixed clock: the aware UTC instant of a wall-clock time in zone ``tz``."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def make_org(session: Session, name: str | None = None) -> Organization:
    org = Organization(name=name or f"org {next(_serial)}", optout_phrases=[])
    session.add(org)
    session.flush()
    return org


def make_user(
    session: Session,
    org: Organization | int,
    name: str | None = None,
    *,
    role: str = "texter",
    platform: str | None = "slack",
    workspace_id: str = "T0001",
) -> User:
    """A user of ``org`` with one platform identity (none when ``platform`` is None)."""
    org_id = org if isinstance(org, int) else org.id
    serial = next(_serial)
    user = User(organization_id=org_id, name=name or f"{role} {serial}", role=role)
    session.add(user)
    session.flush()
    if platform is not None:
        session.add(
            PlatformIdentity(
                user_id=user.id,
                platform=platform,
                workspace_id=workspace_id,
                platform_user_id=f"U{serial:06d}",
                display_name=user.name,
                dm_channel_id=f"D{serial:06d}",
            )
        )
        session.flush()
    return user


def make_admin(session: Session, org: Organization | int, name: str | None = None, **kwargs: Any) -> User:
    return make_user(session, org, name, role="admin", **kwargs)


def org_admin(session: Session, org: Organization | int) -> User:
    """The organization's test admin ("org admin"), created the first time it is asked for.

    For tests whose subject is not the role check: core's admin actions take the acting user.
    """
    org_id = org if isinstance(org, int) else org.id
    found = session.scalars(
        select(User).where(User.organization_id == org_id, User.name == "org admin", User.role == "admin")
    ).first()
    return found if found is not None else make_admin(session, org_id, "org admin", platform=None)


def make_texter(session: Session, org: Organization | int, name: str | None = None, **kwargs: Any) -> User:
    return make_user(session, org, name, role="texter", **kwargs)


def make_team(session: Session, org: Organization | int, name: str | None = None) -> Team:
    org_id = org if isinstance(org, int) else org.id
    team = Team(organization_id=org_id, name=name or f"team {next(_serial)}")
    session.add(team)
    session.flush()
    return team


def add_team_member(session: Session, team: Team, user: User) -> TeamMember:
    member = TeamMember(team_id=team.id, user_id=user.id)
    session.add(member)
    session.flush()
    return member


def make_campaign(
    session: Session,
    org: Organization | int,
    *,
    title: str | None = None,
    status: str = "launched",
    timezone: str = "America/New_York",
    **settings: Any,
) -> Campaign:
    """A campaign (launched by default); ``settings`` sets any other Campaign column."""
    org_id = org if isinstance(org, int) else org.id
    campaign = Campaign(
        organization_id=org_id,
        title=title or f"campaign {next(_serial)}",
        status=status,
        timezone=timezone,
        custom_fields=settings.pop("custom_fields", []),
        **settings,
    )
    if status in ("launched", "archived"):
        campaign.launched_at = datetime.now(UTC)
    if status == "archived":
        campaign.archived_at = datetime.now(UTC)
    session.add(campaign)
    session.flush()
    return campaign


def cell_for(index: int, tz: str | None = None) -> str:
    """A distinct valid E.164 number; its area code matches ``tz`` when that zone is in AREA_CODES."""
    area = AREA_CODES.get(tz or "", "212")
    return f"+1{area}{2000000 + index:07d}"


def add_contacts(
    session: Session,
    campaign: Campaign,
    n: int,
    *,
    timezones: Sequence[str | None] | None = None,
    status: str = "needs_message",
    assigned_to: User | None = None,
    first: int = 0,
    cells: Sequence[str] | None = None,
    **fields: Any,
) -> list[Contact]:
    """``n`` contacts in ``campaign``; ``timezones`` is cycled over them (None = campaign's zone).

    Phone numbers are distinct per campaign unless ``cells`` gives them; ``first`` offsets them so
    several calls on one campaign never collide. ``fields`` sets any other Contact column on every
    row (e.g. ``opted_out=True``, ``escalated=True``, ``last_inbound_at=...``).
    """
    zones: Sequence[str | None] = timezones or [None]
    contacts = []
    for i in range(n):
        tz = zones[i % len(zones)]
        index = (campaign.id % 70) * 100_000 + first + i
        contact = Contact(
            campaign_id=campaign.id,
            cell=cells[i] if cells is not None else cell_for(index, tz),
            first_name=f"First{first + i}",
            last_name=f"Last{first + i}",
            timezone=tz,
            status=status,
            custom_fields={},
            **fields,
        )
        if assigned_to is not None:
            contact.assigned_user_id = assigned_to.id
            contact.assigned_at = datetime.now(UTC)
        contacts.append(contact)
    session.add_all(contacts)
    session.flush()
    return contacts


def add_texter(
    session: Session, campaign: Campaign, user: User, *, max_initials: int | None = None
) -> CampaignTexter:
    """Make ``user`` a member of ``campaign`` (as joining would)."""
    member = CampaignTexter(campaign_id=campaign.id, user_id=user.id, max_initials=max_initials)
    session.add(member)
    session.flush()
    return member


def make_launched_campaign(
    session: Session,
    org: Organization | int,
    n_contacts: int = 10,
    *,
    timezones: Sequence[str | None] | None = None,
    texters: Iterable[User] = (),
    **settings: Any,
) -> Campaign:
    """A launched campaign with ``n_contacts`` needs_message contacts and ``texters`` as members."""
    campaign = make_campaign(session, org, status="launched", **settings)
    if n_contacts:
        add_contacts(session, campaign, n_contacts, timezones=timezones)
    for user in texters:
        add_texter(session, campaign, user)
    return campaign


def race_desk(
    db_url: str, n_contacts: int, threads: int, *, name: str | None = None, sent_at: datetime | None = None
) -> tuple[Database, User, Campaign, list[Contact]]:
    """For a race of ``threads`` threads: a texter holding ``n_contacts`` contacts of a launched campaign
    with a script (their initials sent at ``sent_at`` when given), set up on a connection of its own, and
    a Database whose pool has a connection for each racing thread."""
    setup = Database(db_url)
    with setup.session() as s:
        org = default_organization(s)
        tess = make_texter(s, org, name)
        campaign = make_launched_campaign(s, org, 0, texters=[tess])
        make_script(s, campaign)
        contacts = add_contacts(s, campaign, n_contacts, assigned_to=tess)
        if sent_at is not None:
            for contact in contacts:
                send_initial(s, tess, contact.id, now=sent_at)
    setup.dispose()
    db = Database(db_url) if db_url.startswith("sqlite") else Database(db_url, pool_size=threads)
    return db, tess, campaign, contacts


def make_script(
    session: Session,
    campaign: Campaign,
    initial: str = "Hi {firstName}, this is {texterName}. Can we count on your vote?",
    question: str = "Will they vote?",
    answers: dict[str, str] | None = None,
) -> InteractionStep:
    """A root step (initial + question) with one child per answer option; returns the root."""
    root = InteractionStep(campaign_id=campaign.id, parent_id=None, script=initial, question=question)
    session.add(root)
    session.flush()
    answers = answers if answers is not None else {"Yes": "Great, thank you!", "No": "Thanks for your time."}
    for position, (option, response) in enumerate(answers.items()):
        session.add(
            InteractionStep(
                campaign_id=campaign.id,
                parent_id=root.id,
                answer_option=option,
                script=response,
                question="",
                position=position,
            )
        )
    session.flush()
    return root


def make_tag(
    session: Session,
    org: Organization | int,
    name: str | None = None,
    *,
    is_escalation: bool = False,
    team: Team | None = None,
) -> Tag:
    org_id = org if isinstance(org, int) else org.id
    tag = Tag(
        organization_id=org_id,
        name=name or f"tag {next(_serial)}",
        is_escalation=is_escalation,
        team_id=team.id if team else None,
    )
    session.add(tag)
    session.flush()
    return tag

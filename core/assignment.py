"""Assignment: who may claim which contacts, and the claims themselves (seed 002 and 003).

A claim is one ``UPDATE contacts ... WHERE id IN (SELECT ... LIMIT n) RETURNING id`` statement. On
PostgreSQL the inner select is ``FOR UPDATE SKIP LOCKED``, so concurrent texters walk past each other's
rows instead of queueing on them; on SQLite the statement runs inside the ``BEGIN IMMEDIATE`` write
transaction ``Database.session()`` opens, which serializes writers. Either way no contact is ever given
to two texters.

The per-texter maximum counts the contacts *currently* assigned to the texter in the campaign, in any
status (as Spoke does): contacts the texter has messaged stay on their account and count; contacts
released by Done for the Day, an admin or the Release Unhandled Replies job make room again. The check
and the claim cannot race: on PostgreSQL the texter's ``campaign_texters`` row is locked FOR UPDATE
first, so two clicks of the same texter run one after the other; SQLite serializes all writers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import Update

from core.errors import Forbidden, NotFound, Refused
from core.hours import Window, format_hhmm, zone, zones_open_now
from core.notices import add_notice
from core.numbers import check_whole_number
from core.orgs import Texter, require_admin
from storage.models import Campaign, CampaignTexter, Contact, OptOut, User
from storage.types import utcnow

KINDS = ("initials", "replies")


@dataclass(frozen=True)
class Availability:
    """Can this texter request more now? ``reason`` is a sentence adapters show as-is when not."""

    can_request: bool
    reason: str | None = None
    # not_launched | not_member | dynamic_off | replies_first | at_maximum | nothing_left | outside_hours
    code: str | None = None
    # outside_hours only: when the earliest window among the remaining contacts' zones opens (aware UTC).
    opens_at: datetime | None = None


@dataclass(frozen=True)
class ClaimResult:
    """The contacts a request claimed (oldest first); when none, why not."""

    contact_ids: list[int]
    reason: str | None = None
    code: str | None = None

    @property
    def count(self) -> int:
        return len(self.contact_ids)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def window(campaign: Campaign) -> Window:
    return Window(campaign.hours_start, campaign.hours_end)


def contact_zone_column(campaign: Campaign) -> ColumnElement[str]:
    """A contact's zone in SQL: its own, else the campaign's."""
    return func.coalesce(Contact.timezone, campaign.timezone)


@lru_cache(maxsize=1)
def _all_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=256)
def _open_zones_at(start: int, end: int, minute: datetime) -> tuple[str, ...]:
    return tuple(zones_open_now(_all_zones(), Window(start, end), minute))


def open_zones(campaign: Campaign, now: datetime) -> list[str]:
    """Every zone (of all IANA zones, plus the campaign's) where the campaign's window is open now.

    Filtering contacts against the open zones of the whole world gives the same answer as against the
    campaign's distinct zones, without a DISTINCT scan of a million-row campaign on every click. The
    window has minute resolution, so the list is cached per minute.
    """
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    zones = list(_open_zones_at(campaign.hours_start, campaign.hours_end, minute))
    if campaign.timezone not in _all_zones() and zones_open_now([campaign.timezone], window(campaign), now):
        zones.append(campaign.timezone)
    return zones


def not_opted_out_anywhere(campaign: Campaign) -> ColumnElement[bool]:
    """Not flagged, and not on the organization's list either (an import may predate the opt-out)."""
    listed = exists().where(OptOut.organization_id == campaign.organization_id, OptOut.cell == Contact.cell)
    return and_(Contact.opted_out == false(), ~listed)


def pool_condition(campaign: Campaign, kind: str) -> ColumnElement[bool]:
    """The unassigned contacts of ``campaign`` a request of ``kind`` may claim (hours aside; ``_pick``
    is the same with bound parameters)."""
    status = "needs_message" if kind == "initials" else "needs_response"
    return and_(
        Contact.campaign_id == campaign.id,
        Contact.status == status,
        Contact.assigned_user_id.is_(None),
        Contact.escalated == false(),
        not_opted_out_anywhere(campaign),
    )


def _lock_membership(session: Session, campaign: Campaign, user: User) -> CampaignTexter | None:
    """The texter's membership row, locked on PostgreSQL, where the same round trip also sets
    ``synchronous_commit`` off for the transaction: a claim lost in a crash is harmless (the contacts stay
    unassigned, and a send for a contact not assigned to you is refused), so its commit need not wait for
    the WAL flush."""
    if not is_postgres(session):
        return membership(session, campaign, user)
    row = session.execute(
        select(CampaignTexter, func.set_config("synchronous_commit", "off", True), _CUSTOM_PLANS)
        .where(CampaignTexter.campaign_id == campaign.id, CampaignTexter.user_id == user.id)
        .with_for_update(of=CampaignTexter)
    ).first()
    return None if row is None else row[0]


# The pick (claims and the pool's existence checks) must be planned with its parameters. psycopg prepares
# a statement on its fifth run on a connection, and PostgreSQL then switches to a generic plan when that
# looks no dearer than the custom ones: right after an import, with no statistics on the new contacts, the
# generic plan of the pick estimated one row and read every unassigned contact of every campaign through
# another index, then sorted them (250-300 ms a check on 100,000 contacts, where the custom plan reads a
# few entries of ix_contacts_unassigned_pool in 0.1 ms). Set for the transaction by the statement that
# reads the texter's membership before any pick, so it costs no round trip of its own.
_CUSTOM_PLANS = func.set_config("plan_cache_mode", "force_custom_plan", True)


def _custom_plans(session: Session) -> None:
    """Plan this transaction's picks with their parameters (PostgreSQL), where no membership read does."""
    if is_postgres(session):
        session.execute(select(_CUSTOM_PLANS))


def _member_before_pick(session: Session, campaign: Campaign, user: User) -> CampaignTexter | None:
    """The texter's membership row (unlocked), read with ``_CUSTOM_PLANS`` set on PostgreSQL."""
    if not is_postgres(session):
        return membership(session, campaign, user)
    row = session.execute(
        select(CampaignTexter, _CUSTOM_PLANS).where(
            CampaignTexter.campaign_id == campaign.id, CampaignTexter.user_id == user.id
        )
    ).first()
    return None if row is None else row[0]


def membership(
    session: Session, campaign: Campaign, user: User, *, lock: bool = False
) -> CampaignTexter | None:
    query = select(CampaignTexter).where(
        CampaignTexter.campaign_id == campaign.id, CampaignTexter.user_id == user.id
    )
    if lock and is_postgres(session):
        query = query.with_for_update()
    return session.scalars(query).first()


def effective_max(campaign: Campaign, member: CampaignTexter | None) -> int | None:
    """The texter's own cap, else the campaign's, else None (no cap)."""
    if member is not None and member.max_initials is not None:
        return member.max_initials
    return campaign.max_initials_per_texter


def assigned_count(
    session: Session, campaign: Campaign, user: User | Texter, status: str | None = None
) -> int:
    """Contacts currently assigned to ``user`` in ``campaign`` (in ``status`` when given)."""
    query = select(func.count()).where(
        Contact.campaign_id == campaign.id, Contact.assigned_user_id == user.id
    )
    if status is not None:
        query = query.where(Contact.status == status)
    return int(session.scalar(query) or 0)


def _same_org(campaign: Campaign, user: User) -> None:
    if user.organization_id != campaign.organization_id:
        raise Forbidden(f"{user.name} belongs to another organization than the campaign {campaign.title!r}")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise Refused(f"unknown assignment kind {kind!r}: use initials or replies")


def _no(code: str, reason: str, opens_at: datetime | None = None) -> Availability:
    return Availability(False, reason, code, opens_at)


def _gate(
    session: Session, campaign: Campaign, user: User | Texter, kind: str, member: CampaignTexter | None
) -> tuple[Availability | None, int | None]:
    """The checks that do not look at the pool. Returns (refusal or None, room left under the max)."""
    if campaign.status != "launched":
        if campaign.status == "archived":
            return _no(
                "not_launched", f"the campaign {campaign.title!r} is archived: it sends no more texts"
            ), None
        return _no(
            "not_launched",
            f"the campaign {campaign.title!r} has not launched yet: "
            "an admin launches it, then you can request texts",
        ), None
    if member is None:
        return _no(
            "not_member",
            f"you are not a texter in {campaign.title!r}: click its join message, or ask an admin to add you",
        ), None
    if kind == "replies":
        if not campaign.dynamic_replies:
            return _no(
                "dynamic_off",
                "dynamic assignment for replies is turned off for this campaign "
                "(an admin turns it on in the campaign's settings)",
            ), None
        return None, None
    if not campaign.dynamic_initials:
        return _no(
            "dynamic_off",
            "dynamic assignment for initials is turned off for this campaign: an admin assigns your texts "
            "(or turns dynamic assignment on in the campaign's settings)",
        ), None
    if campaign.replies_before_initials:
        pending = assigned_count(session, campaign, user, "needs_response")
        if pending:
            plural = "reply" if pending == 1 else "replies"
            return _no(
                "replies_first",
                f"answer your {pending} unhandled {plural} first: this campaign asks texters to finish "
                "replies before requesting more initials",
            ), None
    cap = effective_max(campaign, member)
    if cap is None:
        return None, None
    room = cap - assigned_count(session, campaign, user)
    if room <= 0:
        return _no(
            "at_maximum",
            f"you are at your maximum of {cap} contacts in this campaign: send what you have, "
            "or ask an admin to raise your maximum",
        ), 0
    return None, room


def next_window_opening(win: Window, tz_name: str, now: datetime) -> datetime:
    """When the window next opens in ``tz_name`` (aware UTC); ``now`` is outside it."""
    local = now.astimezone(zone(tz_name))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    opening = midnight + timedelta(minutes=win.start)
    if opening <= local.replace(tzinfo=None):
        opening += timedelta(days=1)
    return opening.replace(tzinfo=zone(tz_name)).astimezone(UTC)


@lru_cache(maxsize=8)
def _pick(postgres: bool, zoned: bool, after: bool) -> Select[Any]:
    """The pool's contacts in claim order, built once per shape; every value is a bound parameter
    (``_pick_params``). Building it per claim cost ~0.8 ms of Python of a ~6 ms claim.

    ``zoned``: only contacts whose zone is open now; ``after``: only ids past ``claim_after``.
    """
    campaign_id: ColumnElement[bool]
    order: tuple[InstrumentedAttribute[int], ...]
    if postgres:
        # The pick must read the partial index ix_contacts_unassigned_pool (campaign_id, status, id)
        # WHERE assigned_user_id IS NULL, whatever the statistics say: during a fast campaign they still
        # believe every row is unassigned, and the planner then walks the primary key past every
        # contact already claimed. ``campaign_id = ANY(ARRAY[:id])`` with ORDER BY campaign_id, id is an
        # order only that index delivers without a sort (an equality would make campaign_id constant
        # and let the primary key's id order qualify too).
        campaign_id = Contact.campaign_id == any_(bindparam("claim_campaign", type_=ARRAY(BigInteger)))
        order = (Contact.campaign_id, Contact.id)
    else:
        campaign_id = Contact.campaign_id == bindparam("claim_campaign", type_=BigInteger)
        order = (Contact.id,)
    listed = exists().where(
        OptOut.organization_id == bindparam("claim_org", type_=BigInteger), OptOut.cell == Contact.cell
    )
    query = select(Contact.id).where(  # pool_condition's, bound
        campaign_id,
        Contact.status == bindparam("claim_status", type_=String),
        Contact.assigned_user_id.is_(None),
        Contact.escalated == false(),
        Contact.opted_out == false(),
        ~listed,
    )
    if zoned:
        zone_of = func.coalesce(Contact.timezone, bindparam("claim_zone", type_=String))
        # The open zones (~600 when the whole world is in its window) go as one parameter. PostgreSQL:
        # a comma-joined string it splits (psycopg dumping a list as an array cost ~0.27 ms of client
        # CPU a claim; IANA names hold no comma). SQLite: a JSON list (an expanding IN re-rendered, and
        # SQLite re-parsed, a ~600-placeholder statement on every claim).
        if postgres:
            names = func.string_to_array(bindparam("claim_zones", type_=String), ",", type_=ARRAY(String))
            query = query.where(zone_of == any_(names))
        else:
            listed_zones = func.json_each(bindparam("claim_zones", type_=String)).table_valued("value")
            query = query.where(zone_of.in_(select(listed_zones.c.value)))
    if after:
        query = query.where(Contact.id > bindparam("claim_after", type_=BigInteger))
    return query.order_by(*order)


def _pick_params(
    postgres: bool, campaign: Campaign, kind: str, zones: list[str] | None, after: int | None = None
) -> dict[str, Any]:
    """The values of ``_pick``'s parameters."""
    params: dict[str, Any] = {
        "claim_campaign": [campaign.id] if postgres else campaign.id,
        "claim_status": "needs_message" if kind == "initials" else "needs_response",
        "claim_org": campaign.organization_id,
    }
    if zones is not None:
        params["claim_zone"] = campaign.timezone
        params["claim_zones"] = ",".join(zones) if postgres else json.dumps(zones)
    if after is not None:
        params["claim_after"] = after
    return params


def _pool_has(session: Session, campaign: Campaign, kind: str, zones: list[str] | None) -> bool:
    """Is any contact of the pool (in ``zones`` when given) left? Reads one index entry when so."""
    postgres = is_postgres(session)
    query = _pick(postgres, zones is not None, False).limit(1)
    return session.scalar(query, _pick_params(postgres, campaign, kind, zones)) is not None


def _empty_pool_reason(
    session: Session, campaign: Campaign, kind: str, now: datetime, *, open_checked: bool = False
) -> Availability | None:
    """Why nothing can be claimed: nothing left at all, or nothing inside texting hours now.

    ``open_checked``: a claim just found nothing inside texting hours, so do not look for that again
    (at the end of a campaign every such look walks the whole pool index).
    """
    open_now = open_zones(campaign, now)
    if not open_checked and _pool_has(session, campaign, kind, open_now):
        return None
    what = "initials" if kind == "initials" else "unhandled replies"
    if not _pool_has(session, campaign, kind, None):
        return _no(
            "nothing_left", f"there are no {what} left to claim in {campaign.title!r}: every one is taken"
        )
    # Only when contacts are left but none is inside its window: which zones hold them, to say when.
    zone_col = contact_zone_column(campaign)
    zones = [
        z for z in session.scalars(select(zone_col).where(pool_condition(campaign, kind)).distinct()) if z
    ]
    if set(zones) & set(open_now):
        return None  # some are inside hours after all: others hold them (locked) or just released them
    win = window(campaign)
    openings = []
    for name in zones:
        try:
            openings.append((next_window_opening(win, name, now), name))
        except Refused:
            continue  # an unknown zone never opens; the import refuses those anyway
    hours = f"{format_hhmm(win.start)}-{format_hhmm(win.end)}"
    if not openings:
        return _no("outside_hours", f"none of the {what} left is inside texting hours ({hours}) now")
    opens_at, first_zone = min(openings)
    local = opens_at.astimezone(zone(first_zone))
    return _no(
        "outside_hours",
        f"the {what} left are outside texting hours ({hours} in each contact's time zone) right now: "
        f"the next window opens at {local:%H:%M} {first_zone} ({opens_at:%Y-%m-%d %H:%M} UTC)",
        opens_at,
    )


def availability(
    session: Session, campaign: Campaign, user: User, kind: str = "initials", now: datetime | None = None
) -> Availability:
    """Can ``user`` request more ``kind`` (initials | replies) in ``campaign`` now? With the reason if not."""
    _check_kind(kind)
    _same_org(campaign, user)
    now = now or utcnow()
    refusal, _room = _gate(session, campaign, user, kind, _member_before_pick(session, campaign, user))
    if refusal is not None:
        return refusal
    return _empty_pool_reason(session, campaign, kind, now) or Availability(True)


# Where the last claim of each pool (campaign id, kind) in this process ended. The index entries of the
# contacts claimed before it stay in the pool's partial index until VACUUM, so a pick from the head walks
# past every one of them: on a million-contact campaign that grew a claim from 11 to 16 ms by its end.
_POOL_HEADS: dict[tuple[Any, int, datetime, str], int] = {}


def claim(
    session: Session,
    campaign: Campaign,
    user: User | Texter,
    kind: str,
    limit: int,
    now: datetime,
    *,
    zones: list[str] | None,
) -> list[int]:
    """Give up to ``limit`` pool contacts (in ``zones`` when given) to ``user``; returns their ids.

    The pick starts where this process's last claim of the pool ended; when that leaves it short (the end
    of the pool, or contacts released or skipped for their hours earlier on), a second pick from the head
    takes the rest, so every claimable contact is still found.
    """
    if limit <= 0:
        return []
    # The creation time tells a campaign from an earlier one that had its id (a database reset).
    key = (session.get_bind().engine.url, campaign.id, campaign.created_at, kind)
    after = _POOL_HEADS.get(key)
    ids = _claim_statement(session, campaign, user, kind, limit, now, zones, after) if after else []
    if len(ids) < limit:
        ids += _claim_statement(session, campaign, user, kind, limit - len(ids), now, zones, None)
    if ids:
        _POOL_HEADS[key] = max(ids)
    return sorted(ids)


def _claim_statement(
    session: Session,
    campaign: Campaign,
    user: User | Texter,
    kind: str,
    limit: int,
    now: datetime,
    zones: list[str] | None,
    after: int | None,
) -> list[int]:
    """The claim statement: one UPDATE of up to ``limit`` picked contacts, returning their ids."""
    postgres = is_postgres(session)
    params = _pick_params(postgres, campaign, kind, zones, after)
    params.update(claim_limit=limit, claim_user=user.id, claim_at=now)
    # On the session's connection: the ORM's UPDATE (synchronize_session="fetch") cost a claim ~1 ms more.
    # Contact objects this session holds, if any (a handful at most), are kept true to the rows by hand.
    session.flush()
    statement = _claim_update(postgres, zones is not None, after is not None)
    claimed = list(session.connection().execute(statement, params).scalars())
    taken = set(claimed)
    for held in list(session.identity_map.values()):
        if isinstance(held, Contact) and held.id in taken:
            set_committed_value(held, "assigned_user_id", user.id)
            set_committed_value(held, "assigned_at", now)
    return claimed


@lru_cache(maxsize=8)
def _claim_update(postgres: bool, zoned: bool, after: bool) -> Update:
    """The claim's UPDATE of ``_pick``'s first ``claim_limit`` contacts, built once per shape."""
    inner = _pick(postgres, zoned, after).limit(bindparam("claim_limit", type_=Integer))
    if postgres:
        # ``id = ANY(ARRAY(subquery))`` runs the pick once, as an InitPlan, then updates by primary key.
        # (A plain IN (subquery) may be rescanned per outer row, and each rescan would skip the rows
        # this statement already took and lock the next ones, claiming more than ``limit``.)
        target = Contact.id == any_(func.array(inner.with_for_update(skip_locked=True).scalar_subquery()))
    else:
        target = Contact.id.in_(inner.scalar_subquery())  # inside BEGIN IMMEDIATE: no other writer
    return (
        update(Contact)
        .where(target, Contact.assigned_user_id.is_(None))
        .values(
            assigned_user_id=bindparam("claim_user", type_=BigInteger),
            assigned_at=bindparam("claim_at", type_=Contact.__table__.c.assigned_at.type),
        )
        .returning(Contact.id)
    )


def _request(
    session: Session, campaign: Campaign, user: User, kind: str, now: datetime | None
) -> ClaimResult:
    _same_org(campaign, user)
    # Locking the membership row serializes one texter's concurrent clicks on PostgreSQL (max check).
    return _claim_for_member(session, campaign, user, kind, now, _lock_membership(session, campaign, user))


def _claim_for_member(
    session: Session,
    campaign: Campaign,
    user: User | Texter,
    kind: str,
    now: datetime | None,
    member: CampaignTexter | None,
) -> ClaimResult:
    """The claim once the texter's membership row is locked (None: not a member)."""
    now = now or utcnow()
    refusal, room = _gate(session, campaign, user, kind, member)
    if refusal is not None:
        return ClaimResult([], refusal.reason, refusal.code)
    batch = campaign.initials_batch_size if kind == "initials" else campaign.replies_batch_size
    limit = batch if room is None else min(batch, room)
    ids = claim(session, campaign, user, kind, limit, now, zones=open_zones(campaign, now))
    if ids:
        return ClaimResult(ids)
    empty = _empty_pool_reason(session, campaign, kind, now, open_checked=True)
    if empty is None:  # contacts appeared free but others took them in the meantime
        return ClaimResult(
            [], "the contacts left were just taken by other texters: try again", "nothing_left"
        )
    return ClaimResult([], empty.reason, empty.code)


def request_initials(
    session: Session, campaign: Campaign, user: User, now: datetime | None = None
) -> ClaimResult:
    """Claim up to the batch size of initials textable now, never beyond the texter's maximum."""
    return _request(session, campaign, user, "initials", now)


# Request More's first round trip: the texter's membership row locked (PostgreSQL: and synchronous_commit
# off, see _lock_membership) with the campaign read beside it.
_MEMBER_AND_CAMPAIGN = (
    select(CampaignTexter, Campaign)
    .join(Campaign, Campaign.id == CampaignTexter.campaign_id)
    .where(
        CampaignTexter.campaign_id == bindparam("campaign_id"), CampaignTexter.user_id == bindparam("user_id")
    )
)
_MEMBER_AND_CAMPAIGN_PG = _MEMBER_AND_CAMPAIGN.add_columns(
    func.set_config("synchronous_commit", "off", True), _CUSTOM_PLANS
).with_for_update(of=CampaignTexter)


@dataclass(frozen=True)
class Claimed:
    """Request More's claim and the campaign it read (None: the claim went ``request_initials``' way)."""

    result: ClaimResult
    campaign: Campaign | None


def request_initials_for(
    session: Session, texter: Texter, campaign_id: int, now: datetime | None = None
) -> Claimed:
    """Request More as the click carries it: ``request_initials`` with the campaign read in the statement
    that locks the texter's membership, so on PostgreSQL a claim is two round trips (that one and the
    claim's UPDATE). A texter who is not a member, or a campaign of another organization or missing,
    goes ``request_initials``' way, which says why (``campaign`` is then None)."""
    statement = _MEMBER_AND_CAMPAIGN_PG if is_postgres(session) else _MEMBER_AND_CAMPAIGN
    row = session.execute(statement, {"campaign_id": campaign_id, "user_id": texter.id}).first()
    if row is None or row[1].organization_id != texter.organization_id:
        campaign = session.get(Campaign, campaign_id)
        user = session.get(User, texter.id)
        if campaign is None or user is None or campaign.organization_id != texter.organization_id:
            raise NotFound(f"there is no campaign {campaign_id} in your organization")
        return Claimed(request_initials(session, campaign, user, now), None)
    member, campaign = row[0], row[1]
    return Claimed(_claim_for_member(session, campaign, texter, "initials", now, member), campaign)


def request_replies(
    session: Session, campaign: Campaign, user: User, now: datetime | None = None
) -> ClaimResult:
    """Claim up to the replies batch size of unassigned, not escalated unhandled replies textable now."""
    return _request(session, campaign, user, "replies", now)


def ensure_member(session: Session, campaign: Campaign, user: User) -> CampaignTexter:
    member = membership(session, campaign, user)
    if member is None:
        member = CampaignTexter(campaign_id=campaign.id, user_id=user.id)
        session.add(member)
        session.flush()
    return member


# What a person types for "no personal maximum" (the campaign's applies).
NO_MAXIMUM_WORDS = ("none", "no", "off", "default", "campaign", "-")


def parse_maximum(value: int | str | None) -> int | None:
    """A per-texter maximum from what an admin typed: a whole number of 0 or more, or "none" (None)."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        if value is not None:
            try:
                check_whole_number(value, "the maximum", minimum=0)
            except Refused as exc:
                raise Refused(f"{exc.reason}, or none to use the campaign's") from None
        return value
    if not isinstance(value, str):
        raise Refused(f"the maximum must be a whole number or none (got {value!r})")
    word = value.strip().lower()
    if word in NO_MAXIMUM_WORDS:
        return None
    digits = word.lstrip("-")
    if digits.isascii() and digits.isdigit() and len(digits) <= 40:  # "²" is a digit to isdigit, not to int
        return parse_maximum(int(word))
    raise Refused(f"{value.strip()!r} is not a maximum: give a whole number such as 50, or none")


@dataclass(frozen=True)
class TexterMaximum:
    """What ``set_texter_max`` set, for the admin's confirmation."""

    texter_name: str
    campaign_title: str
    # The texter's own maximum now (None: removed, the campaign's applies).
    own: int | None
    # The campaign's maximum per texter (None: no limit).
    campaign_max: int | None

    @property
    def message(self) -> str:
        if self.own is not None:
            return f"{self.texter_name}'s maximum in {self.campaign_title} is now {self.own}."
        rest = f"{self.campaign_max}" if self.campaign_max is not None else "no limit"
        return (
            f"{self.texter_name}'s own maximum in {self.campaign_title} is removed: "
            f"the campaign's applies ({rest})."
        )


def set_texter_max(
    session: Session, actor: User, campaign: Campaign, user: User, max_initials: int | str | None
) -> TexterMaximum:
    """An admin sets ``user``'s personal maximum of contacts held in ``campaign``; adds them to it.

    ``max_initials``: a whole number of 0 or more, or None / "none" to remove it (the campaign's applies).
    """
    require_admin(actor)
    _same_org(campaign, actor)
    _same_org(campaign, user)
    maximum = parse_maximum(max_initials)
    if campaign.status == "archived":
        raise Refused(f"the campaign {campaign.title!r} is archived: its texters' maximums no longer matter")
    member = ensure_member(session, campaign, user)
    member.max_initials = maximum
    session.flush()
    return TexterMaximum(user.name, campaign.title, maximum, campaign.max_initials_per_texter)


@dataclass(frozen=True)
class ManualAssignment(ClaimResult):
    """What ``assign_initials`` gave, for the admin's confirmation (``message``)."""

    texter_name: str = ""
    campaign_title: str = ""
    requested: int = 0

    @property
    def message(self) -> str:
        if not self.contact_ids:
            return f"Gave no initials to {self.texter_name}: {self.reason}."
        plural = "" if self.count == 1 else "s"
        line = f"Gave {self.count} initial{plural} to {self.texter_name} in {self.campaign_title}"
        return f"{line} ({self.reason})." if self.reason else f"{line}."


def assign_initials(
    session: Session, actor: User, campaign: Campaign, user: User, count: int, now: datetime | None = None
) -> ManualAssignment:
    """An admin gives ``user`` up to ``count`` unassigned initials (manual assignment).

    Refused while dynamic assignment for initials is on (seed 002). Texting hours are not applied here:
    an admin may assign before the window opens; the send checks the hours. The personal maximum is an
    admin's own limit, so an admin's assignment is not held to it.
    """
    require_admin(actor)
    _same_org(campaign, actor)
    _same_org(campaign, user)
    if campaign.status == "archived":
        raise Refused(f"the campaign {campaign.title!r} is archived: unarchive it before assigning texts")
    if campaign.kind != "campaign":
        raise Refused("the ad-hoc texts have no initials to assign: texters start those conversations")
    if campaign.dynamic_initials:
        raise Refused(
            f"dynamic assignment for initials is on in {campaign.title!r}, so texts cannot be assigned by "
            "hand (texters request their own): turn it off in the campaign's settings, assign, then turn it "
            "back on",
            code="dynamic_on",
        )
    check_whole_number(count, "the number of texts to assign")
    now = now or utcnow()
    ensure_member(session, campaign, user)
    _custom_plans(session)
    ids = claim(session, campaign, user, "initials", count, now, zones=None)
    done = partial(ManualAssignment, texter_name=user.name, campaign_title=campaign.title, requested=count)
    if not ids:
        return done([], f"there are no unassigned initials left in {campaign.title!r}", "nothing_left")
    add_notice(
        session,
        user_id=user.id,
        kind="assigned",
        campaign_id=campaign.id,
        payload={"campaign_title": campaign.title, "initials": len(ids), "by": actor.name},
    )
    reason = None if len(ids) == count else f"only {len(ids)} unassigned initials were left"
    return done(ids, reason)

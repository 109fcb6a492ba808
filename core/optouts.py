"""Organization-wide opt-outs: once a phone is out, no campaign of the organization texts it again.

Opt-outs are permanent: there is no way to remove one (a person who texted STOP must not be texted
because someone cleaned a list).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Select, bindparam, column, func, select, table, text, update
from sqlalchemy.orm import Session

from core.contacts_import import (
    BATCH_ROWS,
    CellNormalizer,
    Progress,
    Source,
    Stage,
    csv_rows,
    map_header,
    open_source,
)
from core.errors import Refused
from core.notices import add_finished
from core.numbers import MAX_LIST, MAX_OFFSET, check_whole_number
from core.orgs import require_org_admin
from core.phones import DEFAULT_REGION, normalize
from storage.engine import Database
from storage.models import Campaign, Contact, Message, OptOut, User
from storage.types import UTCDateTime, utcnow

OPTED_OUT_BEFORE_SEND = "not sent: the number opted out before the text went out"
SOURCES = ("texter", "keyword", "carrier", "import", "admin")
# Who acts for each source: a person (checked here for an admin, by the caller for a texter), or nobody.
_ACTED_BY_PERSON = ("texter", "admin")


def is_opted_out(session: Session, organization_id: int, cell: str) -> bool:
    return (
        session.scalar(
            select(OptOut.id).where(OptOut.organization_id == organization_id, OptOut.cell == cell)
        )
        is not None
    )


def opt_out(
    session: Session,
    organization_id: int,
    cell: str,
    *,
    source: str,
    actor: User | None = None,
    reason: str = "",
    spare_message_ids: Collection[int] = (),
    announced: Collection[int] = (),
) -> bool:
    """Put ``cell`` (E.164) on the organization's list and close it in every campaign.

    ``actor`` is the person who did it: an admin of the organization for ``source="admin"`` (checked
    here), the texter holding the conversation for ``"texter"`` (``core.conversations.opt_out_contact``
    checks that); keyword, carrier and import opt-outs have none.
    Texts to the number still waiting in the outbox are cancelled (an opted-out number is never texted
    again), except ``spare_message_ids``: the goodbye a texter sent with the opt-out. The number's
    conversations get their chat threads closed (``notices.add_finished``), except ``announced``: contacts
    whose texter is told by another notice, which closes the thread itself.
    Returns False when it was already on the list (the contacts are closed again all the same,
    which is harmless and mends any row that slipped through).
    """
    if source not in SOURCES:
        raise Refused(f"unknown opt-out source {source!r}")
    if source in _ACTED_BY_PERSON and actor is None:
        raise Refused(f"an opt-out by a {source} names who did it: pass the acting user")
    if source == "admin":
        assert actor is not None
        require_org_admin(actor, organization_id)
    elif actor is not None and actor.organization_id != organization_id:
        raise Refused("that number belongs to another organization's list: opt it out in your own")
    user_id = actor.id if actor is not None else None
    existed = is_opted_out(session, organization_id, cell)
    if not existed:
        session.add(
            OptOut(organization_id=organization_id, cell=cell, source=source, reason=reason, user_id=user_id)
        )
    campaign_ids = select(Campaign.id).where(Campaign.organization_id == organization_id)
    session.execute(
        update(Contact)
        .where(Contact.cell == cell, Contact.campaign_id.in_(campaign_ids))
        .values(opted_out=True, status="closed")
        .execution_options(synchronize_session=False)
    )
    number = select(Contact.id).where(Contact.cell == cell, Contact.campaign_id.in_(campaign_ids))
    add_finished(session, number, announced=announced)
    if not existed:
        # Once only: what is queued to a number already on the list was queued knowingly (a confirmation).
        cancel_queued_texts(session.connection(), organization_id, [cell], spare_message_ids)
    session.flush()
    return not existed


def cancel_queued_texts(
    conn: Connection,
    organization_id: int,
    cells: Collection[str] | Select[Any],
    spare_message_ids: Collection[int] = (),
) -> int:
    """Fail the organization's queued outbound texts to ``cells`` (they opted out before the texts went).

    Rows already handed to the provider (``sending``) cannot be called back; everything still queued is.
    """
    cells_match = Message.cell.in_(cells) if isinstance(cells, Select) else Message.cell.in_(list(cells))
    statement = (
        update(Message)
        .where(
            cells_match,
            Message.direction == "out",
            Message.status == "queued",
            Message.campaign_id.in_(select(Campaign.id).where(Campaign.organization_id == organization_id)),
        )
        .values(status="failed", error_message=OPTED_OUT_BEFORE_SEND, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if spare_message_ids:
        statement = statement.where(Message.id.not_in(list(spare_message_ids)))
    return conn.execute(statement).rowcount or 0


def normalize_or_refuse(raw: str, region: str = DEFAULT_REGION) -> str:
    cell = normalize(raw, region)
    if cell is None:
        raise Refused(f"{raw!r} is not a valid phone number: give it with its area code, e.g. +12125550123")
    return cell


def add_optout(
    session: Session,
    organization_id: int,
    raw: str,
    *,
    actor: User,
    reason: str = "",
    region: str = DEFAULT_REGION,
) -> tuple[str, bool]:
    """An admin puts a number (as typed) on the list: returns its E.164 form and whether it is new."""
    require_org_admin(actor, organization_id)
    cell = normalize_or_refuse(raw, region)
    return cell, opt_out(session, organization_id, cell, source="admin", actor=actor, reason=reason.strip())


def list_optouts(
    session: Session, organization_id: int, *, actor: User, limit: int = 50, offset: int = 0
) -> list[OptOut]:
    """The organization's opt-outs, newest first (admin: numbers are whole)."""
    require_org_admin(actor, organization_id)
    check_whole_number(limit, "the limit", maximum=MAX_LIST)
    check_whole_number(offset, "the offset", minimum=0, maximum=MAX_OFFSET)
    return list(
        session.scalars(
            select(OptOut)
            .where(OptOut.organization_id == organization_id)
            .order_by(OptOut.created_at.desc(), OptOut.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def count_optouts(session: Session, organization_id: int, *, actor: User) -> int:
    require_org_admin(actor, organization_id)
    return session.execute(
        select(func.count()).select_from(OptOut).where(OptOut.organization_id == organization_id)
    ).scalar_one()


@dataclass(frozen=True)
class OptOutPage:
    """One page of the organization's opt-out list (``/textbank optout list``), newest first."""

    items: list[OptOut]
    total: int
    page: int  # 1-based
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_number(self) -> int:
        """The position of the page's first row in the whole list (1-based; 0 when the page is empty)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0


def optout_page(session: Session, actor: User, *, page: int = 1, per_page: int = 20) -> OptOutPage:
    """Page ``page`` of the acting admin's organization's opt-outs; a page past the end is refused."""
    if page < 1 or not 1 <= per_page <= 100:
        raise Refused("give a page of 1 or more and 1 to 100 opt-outs per page")
    org_id = actor.organization_id
    empty = OptOutPage(
        items=[], total=count_optouts(session, org_id, actor=actor), page=page, per_page=per_page
    )
    if page > empty.pages:
        plural = "s" if empty.pages > 1 else ""
        raise Refused(f"there is no page {page}: the opt-out list has {empty.pages} page{plural}")
    offset = (page - 1) * per_page
    return replace(empty, items=list_optouts(session, org_id, actor=actor, limit=per_page, offset=offset))


@dataclass
class OptOutImportSummary:
    added: int = 0  # numbers new to the list
    already: int = 0  # numbers that were on it before
    invalid_cell: int = 0
    duplicate_in_file: int = 0
    rows: int = 0
    contacts_closed: int = 0  # contacts of the organization's campaigns marked out by this import


def import_optouts(
    db: Database,
    organization_id: int,
    source: Source,
    region: str = DEFAULT_REGION,
    *,
    reason: str = "",
    progress: Progress | None = None,
) -> OptOutImportSummary:
    """Add every number of a CSV (a cell/phone column; other columns ignored) to the list, all or
    nothing, and close those numbers in every campaign of the organization. Importing the same file
    again adds nothing. Malformed files are refused as for contacts (``ImportRefused``, with the line).
    """
    cells = CellNormalizer(region)
    summary = OptOutImportSummary()
    with db.session() as session, open_source(source) as (stream, total):
        report = (lambda done: progress(done, total)) if progress is not None else None
        header, header_line, rows = csv_rows(stream, report)
        fields, _ = map_header(header, required=("cell",), line=header_line, allow_custom=False)
        stage = Stage(session, "tb_optout_stage", (("line", "BIGINT NOT NULL"), ("cell", "TEXT NOT NULL")))
        i_cell = fields["cell"]
        batch: list[tuple[int, str]] = []
        for line, row in rows:
            found = cells(row[i_cell].strip())
            if found is None:
                summary.invalid_cell += 1
                continue
            batch.append((line, found[0]))
            if len(batch) >= BATCH_ROWS:
                stage.write(batch)
                batch = []
        stage.write(batch)
        summary.rows = stage.count + summary.invalid_cell

        conn = session.connection()
        distinct = conn.execute(
            text(f"SELECT count(*) FROM (SELECT cell FROM {stage.name} GROUP BY cell) d")
        ).scalar_one()
        insert = text(
            f"""
            INSERT INTO opt_outs (organization_id, cell, source, reason, created_at)
            SELECT :org_id, s.cell, 'import', :reason, :now FROM {stage.name} s
            WHERE s.line IN (SELECT min(line) FROM {stage.name} GROUP BY cell)
            ORDER BY s.line
            ON CONFLICT (organization_id, cell) DO NOTHING
            """
        ).bindparams(bindparam("now", type_=UTCDateTime()))
        added = conn.execute(insert, {"org_id": organization_id, "reason": reason.strip(), "now": utcnow()})
        summary.added = added.rowcount
        summary.already = distinct - summary.added
        summary.duplicate_in_file = stage.count - distinct
        closed = conn.execute(
            update(Contact)
            .where(
                Contact.cell.in_(select(column("cell")).select_from(table(stage.name))),
                Contact.campaign_id.in_(
                    select(Campaign.id).where(Campaign.organization_id == organization_id)
                ),
                (Contact.opted_out.is_(False)) | (Contact.status != "closed"),
            )
            .values(opted_out=True, status="closed")
            .execution_options(synchronize_session=False)
        )
        summary.contacts_closed = closed.rowcount
        listed = select(Contact.id).where(
            Contact.cell.in_(select(column("cell")).select_from(table(stage.name))),
            Contact.campaign_id.in_(select(Campaign.id).where(Campaign.organization_id == organization_id)),
        )
        add_finished(session, listed)
        cancel_queued_texts(conn, organization_id, select(column("cell")).select_from(table(stage.name)))
        stage.drop()
        if progress is not None:
            progress(total, total)
    return summary

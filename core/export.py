"""A campaign's contacts as CSV: who they are, where they stand, what they answered, how they were tagged.

Written for a campaign's data director: one row per contact in id order, read in keyset batches so a
campaign of a million contacts streams through with flat memory (nothing but one batch and the texter
names is held). Only admins export; they see every number whole.

Names, custom fields, answers and tags come from imported files and from contacts' own texts, and the file
is opened in a spreadsheet: a cell that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, return) gets
a leading apostrophe so the spreadsheet shows it instead of running it (OWASP's advice on CSV injection).
Numbers, such as a ``+1 212 555 0123`` cell, are left as they are.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from core.orgs import require_admin
from storage.models import Campaign, Contact, ContactTag, InteractionStep, QuestionResponse, Tag, User

BATCH_SIZE = 2000
TAG_SEPARATOR = ";"
FIXED_COLUMNS = (
    "id",
    "first name",
    "last name",
    "cell",
    "zip",
    "external id",
    "time zone",
    "status",
    "opted out",
    "texter name",
)
LAST_COLUMN = "last message at"

_CONTACT_COLUMNS = (
    Contact.id,
    Contact.first_name,
    Contact.last_name,
    Contact.cell,
    Contact.zip,
    Contact.external_id,
    Contact.timezone,
    Contact.status,
    Contact.opted_out,
    Contact.assigned_user_id,
    Contact.custom_fields,
    Contact.last_message_at,
)


def question_steps(session: Session, campaign_id: int) -> list[tuple[int, str]]:
    """The script tree's questions as (step id, question text), in the order a conversation meets them.

    Depth first from the root, each step's answers in their position order.
    """
    steps = session.execute(
        select(InteractionStep.id, InteractionStep.parent_id, InteractionStep.question)
        .where(InteractionStep.campaign_id == campaign_id)
        .order_by(InteractionStep.position, InteractionStep.id)
    ).all()
    children: dict[int | None, list[Any]] = {}
    for step in steps:
        children.setdefault(step.parent_id, []).append(step)
    out: list[tuple[int, str]] = []
    roots = children.get(None, [])
    pending = [min(roots, key=lambda step: step.id)] if roots else []  # as core.scripts.load_tree
    while pending:
        step = pending.pop()
        if step.question.strip():
            out.append((step.id, step.question.strip()))
        pending.extend(reversed(children.get(step.id, [])))
    return out


def _unique(names: Iterable[str]) -> list[str]:
    """Header names made distinct: a repeated name gets " (2)", " (3)", ... (two branches may ask alike)."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in seen:
            n += 1
            candidate = f"{name} ({n})"
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def header(session: Session, campaign: Campaign) -> list[str]:
    """The CSV's header line for ``campaign`` (custom fields, then one column per question)."""
    fields = [str(name) for name in campaign.custom_fields or []]
    questions = [text for _, text in question_steps(session, campaign.id)]
    return _unique([*FIXED_COLUMNS, *fields, *questions, "tags", LAST_COLUMN])


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d[\d .,()-]*")


def spreadsheet_safe(value: str) -> str:
    """``value`` as a cell no spreadsheet runs as a formula (an apostrophe in front when it would)."""
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _write(writer: Any, row: Iterable[Any]) -> None:
    writer.writerow([spreadsheet_safe(value) if isinstance(value, str) else value for value in row])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _answers(session: Session, ids: Sequence[int], step_ids: Sequence[int]) -> dict[tuple[int, int], str]:
    if not step_ids:
        return {}
    response = QuestionResponse
    rows = session.execute(
        select(response.contact_id, response.interaction_step_id, response.value).where(
            response.contact_id.in_(ids), response.interaction_step_id.in_(step_ids)
        )
    )
    return {(contact_id, step_id): value for contact_id, step_id, value in rows}


def _tags(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(ContactTag.contact_id, Tag.name)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(ContactTag.contact_id.in_(ids))
        .order_by(ContactTag.contact_id, Tag.name)
    )
    out: dict[int, list[str]] = {}
    for contact_id, name in rows:
        out.setdefault(contact_id, []).append(name)
    return out


def _learn_names(session: Session, names: dict[int, str], user_ids: Iterable[int | None]) -> None:
    missing = {uid for uid in user_ids if uid is not None and uid not in names}
    if missing:
        rows = session.execute(select(User.id, User.name).where(User.id.in_(missing)))
        names.update((user_id, name) for user_id, name in rows)


def export_contacts_csv(
    session: Session, actor: User, campaign: Campaign, out: TextIO, *, batch_size: int = BATCH_SIZE
) -> int:
    """Write ``campaign``'s contacts to ``out`` as CSV (header first); returns the number of contacts.

    Columns: id, first name, last name, cell (whole), zip, external id, time zone (the contact's, else
    the campaign's), status, opted out (yes/no), texter name, each of the campaign's custom fields, one
    column per question of the script tree headed by its text and holding the recorded answer, tags
    (names joined with ";"), last message at (ISO 8601, UTC). Raises Forbidden for a non-admin or a
    campaign of another organization.
    """
    require_admin(actor)
    if campaign.organization_id != actor.organization_id:
        raise Forbidden("that campaign belongs to another organization: export one of your own")
    fields = [str(name) for name in campaign.custom_fields or []]
    step_ids = [step_id for step_id, _ in question_steps(session, campaign.id)]
    writer = csv.writer(out)
    _write(writer, header(session, campaign))
    texter_names: dict[int, str] = {}
    written, last_id = 0, 0
    while True:
        rows = session.execute(
            select(*_CONTACT_COLUMNS)
            .where(Contact.campaign_id == campaign.id, Contact.id > last_id)
            .order_by(Contact.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return written
        ids = [row.id for row in rows]
        answers = _answers(session, ids, step_ids)
        tags = _tags(session, ids)
        _learn_names(session, texter_names, (row.assigned_user_id for row in rows))
        for row in rows:
            custom = row.custom_fields or {}
            _write(
                writer,
                [
                    row.id,
                    row.first_name,
                    row.last_name,
                    row.cell,
                    row.zip,
                    row.external_id,
                    row.timezone or campaign.timezone,
                    row.status,
                    _text(row.opted_out),
                    texter_names.get(row.assigned_user_id, "") if row.assigned_user_id else "",
                    *(_text(custom.get(name)) for name in fields),
                    *(answers.get((row.id, step_id), "") for step_id in step_ids),
                    TAG_SEPARATOR.join(tags.get(row.id, [])),
                    _text(row.last_message_at),
                ],
            )
        written += len(rows)
        last_id = ids[-1]

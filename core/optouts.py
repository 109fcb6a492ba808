"""Organization-wide opt-outs: once a phone is out, no campaign of the organization texts it again."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import Refused
from core.phones import DEFAULT_REGION, normalize
from storage.models import Campaign, Contact, OptOut

SOURCES = ("texter", "keyword", "carrier", "import", "admin")


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
    reason: str = "",
    user_id: int | None = None,
) -> bool:
    """Put ``cell`` (E.164) on the organization's list and close it in every campaign.

    Returns False when it was already on the list (the contacts are closed again all the same,
    which is harmless and mends any row that slipped through).
    """
    if source not in SOURCES:
        raise Refused(f"unknown opt-out source {source!r}")
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
    session.flush()
    return not existed


def normalize_or_refuse(raw: str, region: str = DEFAULT_REGION) -> str:
    cell = normalize(raw, region)
    if cell is None:
        raise Refused(f"{raw!r} is not a valid phone number: give it with its area code, e.g. +12125550123")
    return cell

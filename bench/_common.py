"""What the benchmarks share: a throw-away database, a launched campaign with texters, contacts inserted
in bulk, percentiles and the line that says on what machine and under what load a figure was taken.

Imported by the scripts in bench/ once they have put the project's root on ``sys.path``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, insert, select, text

from storage import Database, upgrade
from storage.models import Campaign, CampaignTexter, Contact, InteractionStep, Organization, User
from storage.types import utcnow

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INITIAL = "Hi {firstName}, this is {texterName} with the campaign. Can we count on your vote on Tuesday?"
_serial = iter(range(1, 10**9))


def schema_url(url: str, schema: str) -> str:
    """``url`` with its search_path set to ``schema``."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def throwaway_database(url: str, prefix: str) -> Iterator[str]:
    """A migrated empty database for one run, dropped at the end: a schema of the PostgreSQL database
    ``url`` names, or (``sqlite://...``) a file in a temporary directory. Yields its URL."""
    if url.startswith("postgresql"):
        schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            upgrade(schema_url(url, schema))
            yield schema_url(url, schema)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    elif url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as folder:
            path = f"sqlite:///{folder}/bench.db"
            upgrade(path)
            yield path
    else:
        raise SystemExit("give --url postgresql+psycopg://... or sqlite://")


def launched_campaign(
    db: Database, texters: int, *, script: str = INITIAL, **fields: Any
) -> tuple[int, int, list[int]]:
    """A new organization with a launched campaign, its initial ``script`` and ``texters`` members:
    (organization id, campaign id, user ids). ``fields`` sets other Campaign columns."""
    n = next(_serial)
    with db.session() as session:
        org = Organization(name=f"bench {n}", optout_phrases=[])
        session.add(org)
        session.flush()
        campaign = Campaign(
            organization_id=org.id,
            title=f"bench {n}",
            status="launched",
            kind="campaign",
            custom_fields=[],
            launched_at=utcnow(),
            **fields,
        )
        users = [User(organization_id=org.id, name=f"Texter {i}", role="texter") for i in range(texters)]
        session.add_all([campaign, *users])
        session.flush()
        session.add(InteractionStep(campaign_id=campaign.id, script=script, question=""))
        session.add_all(CampaignTexter(campaign_id=campaign.id, user_id=u.id) for u in users)
        return org.id, campaign.id, [u.id for u in users]


def insert_contacts(
    db: Database, campaign_id: int, owners: Sequence[int | None], now: datetime | None = None
) -> dict[int | None, list[int]]:
    """One New York contact needing its first text per entry of ``owners`` (the texter holding it, or
    None), inserted in bulk and analyzed; returns their ids by owner, oldest first."""
    now = now or utcnow()
    rows = []
    for owner in owners:
        n = next(_serial)
        rows.append(
            {
                "campaign_id": campaign_id,
                "cell": f"+1212{2000000 + n:07d}",
                "first_name": f"First{n}",
                "last_name": f"Last{n}",
                "zip": "",
                "external_id": str(n),
                "custom_fields": {},
                "timezone": "America/New_York",
                "status": "needs_message",
                "opted_out": False,
                "escalated": False,
                "assigned_user_id": owner,
                "assigned_at": now if owner else None,
                "created_at": now,
            }
        )
    with db.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Contact.__table__), rows[start : start + 5000])
        owned = conn.execute(
            select(Contact.id, Contact.assigned_user_id)
            .where(Contact.campaign_id == campaign_id)
            .order_by(Contact.id)
        ).all()
    analyze(db)
    by_owner: dict[int | None, list[int]] = {owner: [] for owner in owners}
    for contact_id, owner in owned:
        if owner in by_owner:
            by_owner[owner].append(contact_id)
    return by_owner


def analyze(db: Database) -> None:
    """Fresh planner statistics after a bulk insert (PostgreSQL: VACUUM ANALYZE of contacts)."""
    if db.is_postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE contacts"))
            conn.execute(text("ANALYZE messages"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def pct(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def machine() -> str:
    """When, on how many cores and under what load (1, 5, 15-minute load averages) a run was made."""
    load = os.getloadavg()
    return (
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"python {sys.version.split()[0]}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )

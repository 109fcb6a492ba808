"""The pool's pick is planned with its parameters on PostgreSQL, however often a connection runs it.

psycopg prepares a statement on its fifth run on a connection; PostgreSQL may then switch the prepared
statement to a generic plan, and with no statistics on newly imported contacts the pick's generic plan read
every unassigned contact and sorted them (hundreds of ms per card at 100,000 contacts).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.assignment import assign_initials, availability, request_initials_for, request_replies
from core.orgs import Texter
from tests.core.factories import at, make_admin, make_launched_campaign, make_texter

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
PICK = "%ORDER BY contacts.campaign_id, contacts.id%"


@pytest.fixture
def pg_db(db):
    if not db.is_postgres:
        pytest.skip("plan caching is PostgreSQL's")
    return db


def _pick_plans(session) -> list[tuple[int, int]]:
    """(generic, custom) plan counts of this connection's prepared pick statements."""
    rows = session.execute(
        text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE :pick"),
        {"pick": PICK},
    )
    return [(int(generic), int(custom)) for generic, custom in rows]


def test_availability_checks_keep_custom_plans(pg_db, org_id):
    with pg_db.session() as s:
        texter = make_texter(s, org_id)
        campaign = make_launched_campaign(s, org_id, 40, texters=[texter], initials_batch_size=1)
    for _ in range(12):
        with pg_db.session() as s:
            assert availability(s, campaign, texter, now=NOON_NY).can_request
    with pg_db.session() as s:
        plans = _pick_plans(s)
    # The pool's connection pool may hand out another connection; the one that ran the checks holds them.
    assert plans and sum(custom for _, custom in plans) > 0
    assert all(generic == 0 for generic, _ in plans)


def test_claims_keep_custom_plans(pg_db, org_id):
    with pg_db.session() as s:
        texter = make_texter(s, org_id)
        admin = make_admin(s, org_id)
        campaign = make_launched_campaign(
            s, org_id, 60, texters=[texter], initials_batch_size=1, dynamic_replies=True
        )
    with pg_db.session() as s:
        for _ in range(12):
            assert request_initials_for(
                s, Texter(texter.id, org_id, texter.name), campaign.id, NOON_NY
            ).result
            request_replies(s, campaign, texter, NOON_NY)
        plans = _pick_plans(s)
    assert plans and sum(custom for _, custom in plans) > 0
    assert all(generic == 0 for generic, _ in plans)
    with pg_db.session() as s:
        s.get(type(campaign), campaign.id).dynamic_initials = False
    with pg_db.session() as s:
        campaign = s.get(type(campaign), campaign.id)
        for _ in range(12):
            assign_initials(s, s.merge(admin), campaign, s.merge(texter), 1, NOON_NY)
        plans = _pick_plans(s)
    assert all(generic == 0 for generic, _ in plans)

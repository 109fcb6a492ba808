"""Real concurrency: many threads, each with its own session, claim from one campaign at once.

Runs on SQLite and (with TEXTBANK_TEST_DATABASE_URL) PostgreSQL through the ``db_url`` fixture.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from core.assignment import request_initials, request_initials_for
from core.orgs import Texter
from storage import Database
from storage.models import Campaign, Contact, User
from tests.core.factories import add_texter, at, make_launched_campaign, make_org, make_texter

# 30 threads at once, each with its own connection: real contention on two cores, and two test runs at a
# time (plus other work) still fit in PostgreSQL's default max_connections of 100 (at 60, a second run
# failed with "too many clients").
THREADS = 30
NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")


def _database(db_url: str) -> Database:
    # One connection per thread: the pool must hold them all so the threads really run at once.
    if db_url.startswith("sqlite"):
        return Database(db_url)
    return Database(db_url, pool_size=THREADS, max_overflow=10)


def _run(
    db: Database, campaign_id: int, user_ids: list[int], until_empty: bool, by_click: bool = False
) -> list[tuple[int, list[int]]]:
    """Each thread waits at the barrier, then requests (until nothing is left when ``until_empty``)."""
    barrier = threading.Barrier(len(user_ids))

    def worker(user_id: int) -> list[tuple[int, list[int]]]:
        barrier.wait()
        got = []
        while True:
            with db.session() as s:
                if by_click:  # as the chat layer's Request More: the texter carried, the campaign read
                    user = s.get(User, user_id)
                    texter = Texter(user.id, user.organization_id, user.name)
                    result = request_initials_for(s, texter, campaign_id, now=NOON_NY).result
                else:
                    result = request_initials(
                        s, s.get(Campaign, campaign_id), s.get(User, user_id), now=NOON_NY
                    )
            got.append((user_id, result.contact_ids))
            if not until_empty or not result.contact_ids:
                return got

    with ThreadPoolExecutor(max_workers=len(user_ids)) as pool:
        return [claim for claims in pool.map(worker, user_ids) for claim in claims]


@pytest.mark.parametrize("by_click", [False, True], ids=["request_initials", "request_initials_for"])
def test_many_texters_never_share_a_contact(db_url, by_click):
    db = _database(db_url)
    try:
        with db.session() as s:
            org = make_org(s)
            campaign = make_launched_campaign(s, org, 600, initials_batch_size=7, max_initials_per_texter=40)
            users = [make_texter(s, org) for _ in range(THREADS)]
            for i, user in enumerate(users):
                add_texter(s, campaign, user, max_initials=15 if i % 3 == 0 else None)
            caps = {user.id: 15 if i % 3 == 0 else 40 for i, user in enumerate(users)}
        claims = _run(db, campaign.id, list(caps), until_empty=True, by_click=by_click)

        returned = Counter(cid for _, ids in claims for cid in ids)
        assert returned and max(returned.values()) == 1, "a contact was handed out twice"
        assert all(len(ids) <= 7 for _, ids in claims), "a request got more than the batch size"
        with db.read() as s:
            owner = dict(s.execute(select(Contact.id, Contact.assigned_user_id)).all())
        for user_id, ids in claims:
            assert all(owner[cid] == user_id for cid in ids), "a claimed contact belongs to someone else"
        per_user = Counter(owner[cid] for cid in returned)
        assert all(per_user[u] <= caps[u] for u in caps), "a texter got past their maximum"
        # Caps total 10*15 + 20*40 = 950 > 600 contacts: every contact ends up claimed, each once.
        assert len(returned) == 600 == sum(per_user.values())
    finally:
        db.dispose()


@pytest.mark.parametrize("by_click", [False, True], ids=["request_initials", "request_initials_for"])
def test_one_texter_clicking_from_many_threads_stays_under_the_maximum(db_url, by_click):
    db = _database(db_url)
    try:
        with db.session() as s:
            org = make_org(s)
            campaign = make_launched_campaign(s, org, 500, initials_batch_size=10)
            texter = make_texter(s, org)
            add_texter(s, campaign, texter, max_initials=25)
        claims = _run(db, campaign.id, [texter.id] * THREADS, until_empty=False, by_click=by_click)

        sizes = sorted(len(ids) for _, ids in claims)
        assert sizes[-1] <= 10
        returned = Counter(cid for _, ids in claims for cid in ids)
        assert max(returned.values()) == 1
        with db.read() as s:
            held = s.scalar(select(func.count()).where(Contact.assigned_user_id == texter.id))
        # 10 + 10 + 5, then every other click is refused at the maximum.
        assert held == len(returned) == 25
        assert sizes.count(0) == THREADS - 3
    finally:
        db.dispose()

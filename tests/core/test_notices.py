"""Notices: claiming for a relay, settling many at once, requeueing a dead relay's claims, recipients, the
commit hook that wakes a relay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from core import notices
from storage import Database, upgrade
from storage.models import Notice, PlatformIdentity
from storage.types import utcnow
from tests.core.factories import make_org, make_texter


@pytest.fixture
def people(db: Database) -> tuple[int, int, int]:
    """A Slack texter, a Discord texter and one with no chat account: their user ids."""
    with db.session() as s:
        org = make_org(s)
        return (
            make_texter(s, org, "Sal").id,
            make_texter(s, org, "Dee", platform="discord").id,
            make_texter(s, org, "Cli", platform=None).id,
        )


def _queue(db: Database, user_id: int, n: int, kind: str = "released") -> list[int]:
    with db.session() as s:
        return [notices.add_notice(s, user_id=user_id, kind=kind, payload={"i": i})[0].id for i in range(n)]


def test_claim_takes_the_oldest_pending_once_and_counts_the_attempt(db: Database, people) -> None:
    slack_user, discord_user, _ = people
    ids = _queue(db, slack_user, 5)
    _queue(db, discord_user, 2)
    with db.session() as s:
        assert notices.pending_exists(s, "slack")
        first = notices.claim_pending(s, "slack", 3)
        assert [n.id for n in first] == ids[:3]
        assert {n.status for n in first} == {"posting"} and {n.attempts for n in first} == {1}
        assert [n.payload for n in first] == [{"i": 0}, {"i": 1}, {"i": 2}]
    with db.session() as s:
        assert [n.id for n in notices.claim_pending(s, "slack", 10)] == ids[3:]
        assert notices.claim_pending(s, "slack", 10) == []
        assert not notices.pending_exists(s, "slack")
        assert notices.pending_exists(s, "discord")


def test_many_are_marked_posted_or_put_back_in_one_call(db: Database, people) -> None:
    slack_user = people[0]
    ids = _queue(db, slack_user, 4)
    with db.session() as s:
        notices.claim_pending(s, "slack", 4)
        assert notices.mark_posted_many(s, ids[:2]) == 2
        assert notices.mark_retry_many(s, ids[2:]) == 2
        assert notices.mark_posted_many(s, []) == 0 and notices.mark_retry_many(s, []) == 0
    with db.read() as s:
        rows = {n.id: n for n in s.scalars(select(Notice).where(Notice.id.in_(ids)))}
        assert [rows[i].status for i in ids] == ["posted", "posted", "pending", "pending"]
        assert rows[ids[0]].posted_at is not None and rows[ids[2]].posted_at is None


def test_a_notice_tried_too_often_dies(db: Database, people) -> None:
    [notice_id] = _queue(db, people[0], 1)
    for attempt in range(1, 4):
        with db.session() as s:
            [claimed] = notices.claim_pending(s, "slack", 1)
            assert claimed.attempts == attempt
            notices.mark_retry_many(s, [notice_id], give_up_after=3)
    with db.read() as s:
        assert s.get(Notice, notice_id).status == "dead"
        assert not notices.pending_exists(s, "slack")


def _age(db: Database, notice_ids: list[int], by: timedelta) -> None:
    with db.session() as s:
        s.execute(update(Notice).where(Notice.id.in_(notice_ids)).values(created_at=utcnow() - by))


def _statuses(db: Database, notice_ids: list[int]) -> list[str]:
    with db.read() as s:
        rows = {n.id: n.status for n in s.scalars(select(Notice).where(Notice.id.in_(notice_ids)))}
    return [rows[i] for i in notice_ids]


def test_an_old_notice_claimed_just_now_is_not_requeued(db: Database, people) -> None:
    # A notice an hour old (a backlog, or retried through a Slack outage) that a live relay has just
    # claimed: putting it back would let another relay claim and post it a second time.
    ids = _queue(db, people[0], 2)
    _age(db, ids, timedelta(hours=1))
    with db.session() as s:
        claimed = notices.claim_pending(s, "slack", 2)
        assert all(
            n.claimed_at is not None and utcnow() - n.claimed_at < timedelta(minutes=1) for n in claimed
        )
    with db.session() as s:
        assert notices.requeue_stuck(s, "slack", timedelta(minutes=5)) == 0
    assert _statuses(db, ids) == ["posting", "posting"]
    with db.session() as s:
        assert notices.claim_pending(s, "slack", 10) == []


def test_a_notice_claimed_long_ago_is_requeued_however_new(db: Database, people) -> None:
    slack_user, discord_user, _ = people
    [stuck, fresh] = _queue(db, slack_user, 2)
    [other_platform] = _queue(db, discord_user, 1)
    with db.session() as s:
        notices.claim_pending(s, "slack", 1, now=utcnow() - timedelta(minutes=6))
        notices.claim_pending(s, "slack", 1)
        notices.claim_pending(s, "discord", 1, now=utcnow() - timedelta(minutes=6))
    with db.session() as s:
        assert notices.requeue_stuck(s, "slack", timedelta(minutes=5)) == 1
    assert _statuses(db, [stuck, fresh, other_platform]) == ["pending", "posting", "posting"]
    with db.session() as s:  # a second claim stamps it anew
        [again] = notices.claim_pending(s, "slack", 10)
        assert again.id == stuck and again.attempts == 2
    with db.session() as s:
        assert notices.requeue_stuck(s, "slack", timedelta(minutes=5)) == 0


def test_a_claim_without_claimed_at_is_judged_by_the_notices_age(db: Database, people) -> None:
    # Rows a relay claimed before the column existed have no claimed_at.
    old, new = _queue(db, people[0], 2)
    _age(db, [old], timedelta(minutes=6))
    with db.session() as s:
        notices.claim_pending(s, "slack", 2)
        s.execute(update(Notice).where(Notice.id.in_([old, new])).values(claimed_at=None))
    with db.session() as s:
        assert notices.requeue_stuck(s, "slack", timedelta(minutes=5)) == 1
    assert _statuses(db, [old, new]) == ["pending", "posting"]


def test_a_claim_from_before_the_migration_is_requeued_after_it(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0008_early_status_callbacks")
    db = Database(url)
    try:
        columns = [c for c in Notice.__table__.c if c.name != "claimed_at"]
        with db.session() as s:  # written by the schema that had no claimed_at
            s.execute(
                insert(Notice.__table__).values(
                    platform="slack",
                    kind="released",
                    payload={},
                    status="posting",
                    attempts=1,
                    created_at=utcnow() - timedelta(minutes=6),
                ),
            )
            assert s.execute(select(*columns)).one().status == "posting"
        upgrade(url)
        with db.session() as s:
            assert s.scalar(select(Notice.claimed_at)) is None
            assert notices.requeue_stuck(s, "slack", timedelta(minutes=5)) == 1
            assert s.scalar(select(Notice.status)) == "pending"
    finally:
        db.dispose()


def test_recipients_are_found_for_a_whole_batch(db: Database, people) -> None:
    slack_user, discord_user, cli_user = people
    with db.session() as s:
        slack_id = s.scalar(
            select(PlatformIdentity.platform_user_id).where(PlatformIdentity.user_id == slack_user)
        )
        found = notices.recipients(s, "slack", [slack_user, discord_user, cli_user])
        assert found == {slack_user: slack_id}
        assert notices.recipients(s, "slack", []) == {}


def test_commit_listeners_hear_of_committed_notices_only(db: Database, people) -> None:
    slack_user, discord_user, cli_user = people
    heard: list[frozenset[str]] = []
    remove = notices.on_commit(heard.append)
    try:
        _queue(db, slack_user, 2)
        assert heard == [frozenset({"slack"})]
        with pytest.raises(RuntimeError), db.session() as s:
            notices.add_notice(s, user_id=discord_user, kind="released")
            raise RuntimeError("rolled back")
        with db.session() as s:  # a transaction without notices says nothing
            s.execute(select(Notice.id))
        assert heard == [frozenset({"slack"})]
        with db.session() as s:
            notices.add_notice(s, user_id=discord_user, kind="released")
            notices.add_notice(s, user_id=cli_user, kind="released")
        assert heard[-1] == frozenset({"discord", "cli"})
    finally:
        remove()
    _queue(db, slack_user, 1)
    assert len(heard) == 2


def test_a_failing_listener_does_not_fail_the_commit(db: Database, people) -> None:
    def broken(_platforms: frozenset[str]) -> None:
        raise ValueError("listener bug")

    remove = notices.on_commit(broken)
    try:
        [notice_id] = _queue(db, people[0], 1)
    finally:
        remove()
    with db.read() as s:
        assert s.get(Notice, notice_id).status == "pending"

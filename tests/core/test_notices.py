"""Notices: claiming for a relay, settling many at once, recipients, the commit hook that wakes a relay."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import notices
from storage import Database
from storage.models import Notice, PlatformIdentity
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

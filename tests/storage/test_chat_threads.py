"""Conversation threads for every platform: today's slack_threads rows carried over, and the lease that
keeps one process at a time posting into a thread."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import create_engine, text

from storage import Database, chat_threads, upgrade
from storage.migrate import alembic_config
from storage.types import utcnow
from tests.core.factories import add_contacts, make_campaign, make_org, make_texter


def test_the_migration_carries_slack_threads_over_with_their_platform(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        org = make_org(s)
        tess = make_texter(s, org, "Tess")
        first, second = add_contacts(s, make_campaign(s, org), 2, assigned_to=tess)
        ids = (tess.id, first.id, second.id)
    db.dispose()
    command.downgrade(alembic_config(url), "0011_corefeat")
    engine = create_engine(url)
    with engine.begin() as conn:  # rows as the Slack adapter left them before the chat layer
        conn.execute(
            text(
                "INSERT INTO slack_threads (id, contact_id, user_id, channel_id, thread_ts, control_ts, "
                "last_message_id, created_at) VALUES (7, :a, :u, 'D1', '1700.1', '1700.9', 42, "
                "'2026-01-01 00:00:00'), (8, :b, :u, 'D1', '1700.2', NULL, 0, '2026-01-01 00:00:00')"
            ),
            {"u": ids[0], "a": ids[1], "b": ids[2]},
        )
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, platform, contact_id, user_id, channel_id, thread_id, control_id, "
                "last_message_id, lease_owner FROM chat_threads ORDER BY id"
            )
        ).all()
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        (7, "slack", ids[1], ids[0], "D1", "1700.1", "1700.9", 42, None),
        (8, "slack", ids[2], ids[0], "D1", "1700.2", None, 0, None),
    ]
    assert "slack_threads" not in tables


def test_one_owner_at_a_time_holds_a_thread_until_it_lets_go_or_the_lease_runs_out(db: Database) -> None:
    with db.session() as s:
        org = make_org(s)
        tess = make_texter(s, org, "Tess")
        [contact] = add_contacts(s, make_campaign(s, org), 1, assigned_to=tess)
        user_id, contact_id = tess.id, contact.id
    with db.session() as s:
        ref, created = chat_threads.claim(s, "slack", contact_id, user_id, "D1", "proc-a")
        assert created and ref is not None
        chat_threads.record(s, ref.id, "c1", seen_control=None, started=("D1", "t1"))  # still a's lease
    with db.session() as s:
        busy, created = chat_threads.claim(s, "slack", contact_id, user_id, "D1", "proc-b")
        assert busy is None and not created
        again, _ = chat_threads.claim(s, "slack", contact_id, user_id, "D1", "proc-a")  # the owner renews
        assert again is not None and again.thread_id == "t1" and again.control_id == "c1"
        chat_threads.let_go(s, again.id, "proc-a")
    with db.session() as s:
        taken, _ = chat_threads.claim(s, "slack", contact_id, user_id, "D1", "proc-b")
        assert taken is not None
    later = utcnow() + chat_threads.LEASE + timedelta(seconds=1)
    with db.session() as s:  # proc-b died holding it: once the lease runs out, another process takes over
        assert chat_threads.claim(s, "slack", contact_id, user_id, "D1", "proc-a")[0] is None
        assert chat_threads.claim(s, "slack", contact_id, user_id, "D1", "proc-a", now=later)[0] is not None
    with db.session() as s:  # the same conversation on another platform is a thread of its own
        other, created = chat_threads.claim(s, "discord", contact_id, user_id, "G1", "proc-b")
        assert created and other is not None and other.id != taken.id

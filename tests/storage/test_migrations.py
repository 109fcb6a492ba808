from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from storage import Database, upgrade
from storage.migrate import alembic_config, current_revision
from storage.models import Base, Organization


def test_upgrade_creates_every_table_and_is_idempotent(db_url: str) -> None:
    upgrade(db_url)  # already at head: a second run changes nothing
    db = Database(db_url)
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert current_revision(db_url) is not None
    db.dispose()


def test_datetimes_come_back_aware_utc(db: Database) -> None:
    with db.session() as session:
        org = Organization(name="x", optout_phrases=[])
        session.add(org)
        session.flush()
        org_id = org.id
    with db.read() as session:
        created = session.get(Organization, org_id).created_at
    assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0


def test_sqlite_pragmas(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    db.dispose()


def test_the_migrations_form_one_line() -> None:
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


def test_the_migrations_build_the_models_schema(db_url: str) -> None:
    """A column or index added to a model needs a migration (and the other way round)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.dispose()


def _fresh_database(tmp_path: Path, engine: str) -> tuple[str, Callable[[], None]]:
    """An empty database of ``engine`` (a new PostgreSQL schema): its URL, and how to drop it."""
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}", lambda: None
    pg = os.environ.get("TEXTBANK_TEST_DATABASE_URL", "")
    if not pg:
        pytest.skip("PostgreSQL tests need TEXTBANK_TEST_DATABASE_URL")
    schema = f"tb_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}", drop


OLD_ROWS = (
    "INSERT INTO organizations (id, name, optout_phrases, created_at) "
    "VALUES (1, 'o', '[]', CURRENT_TIMESTAMP)",
    "INSERT INTO workspace_links (organization_id, platform, workspace_id, thread_channel_id, created_at) "
    "VALUES (1, 'discord', 'G1', 'C1', CURRENT_TIMESTAMP)",
)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_0014_keeps_the_servers_thread_channel_and_goes_back_cleanly(tmp_path: Path, engine: str) -> None:
    """From 0013 with a server's channel chosen to 0014 (campaign channels, closed threads) and back."""
    url, drop = _fresh_database(tmp_path, engine)
    db: Database | None = None
    try:
        upgrade(url, "0013_discord2")
        db = Database(url)
        with db.engine.begin() as conn:
            for statement in OLD_ROWS:
                conn.execute(text(statement))
        upgrade(url, "0014_dthreads")
        assert current_revision(url) == "0014_dthreads"
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT thread_channel_id FROM workspace_links")).scalar() == "C1"
            assert conn.execute(text("SELECT count(*) FROM campaign_thread_channels")).scalar() == 0
        closed = next(c for c in inspect(db.engine).get_columns("chat_threads") if c["name"] == "closed")
        assert closed["nullable"] is False and closed["default"] is not None  # existing threads: open
        command.downgrade(alembic_config(url), "0013_discord2")
        assert current_revision(url) == "0013_discord2"
        assert "campaign_thread_channels" not in inspect(db.engine).get_table_names()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT thread_channel_id FROM workspace_links")).scalar() == "C1"
    finally:
        if db is not None:
            db.dispose()
        drop()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_0015_leaves_known_identities_unchecked_and_goes_back_cleanly(tmp_path: Path, engine: str) -> None:
    """From 0014 with a Slack identity to 0015 (when its profile was last read: never) and back."""
    url, drop = _fresh_database(tmp_path, engine)
    db: Database | None = None
    try:
        upgrade(url, "0014_dthreads")
        db = Database(url)
        with db.engine.begin() as conn:
            conn.execute(text(OLD_ROWS[0]))
            conn.execute(
                text(
                    "INSERT INTO users (organization_id, name, role, created_at) "
                    "VALUES (1, 'Tess', 'texter', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO platform_identities (user_id, platform, workspace_id, platform_user_id) "
                    "VALUES (1, 'slack', 'T1', 'U1')"
                )
            )
        upgrade(url, "0015_idle")
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT profile_checked_at FROM platform_identities")).all() == [(None,)]
        command.downgrade(alembic_config(url), "0014_dthreads")
        columns = {c["name"] for c in inspect(db.engine).get_columns("platform_identities")}
        assert "profile_checked_at" not in columns and "dm_channel_id" in columns
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT platform_user_id FROM platform_identities")).scalar() == "U1"
    finally:
        if db is not None:
            db.dispose()
        drop()

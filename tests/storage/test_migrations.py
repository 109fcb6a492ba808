from __future__ import annotations

from sqlalchemy import inspect

from storage import Database, upgrade
from storage.migrate import current_revision
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

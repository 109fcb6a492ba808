"""Fixtures shared by every test: a migrated database per test, on SQLite and (when configured) PostgreSQL.

``TEXTBANK_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) turns on the
PostgreSQL half of every ``db`` test. Each pytest run migrates into its own schema there, and each test
starts from empty tables, so runs and tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from storage import Database, upgrade
from storage.models import Base

PG_URL = os.environ.get("TEXTBANK_TEST_DATABASE_URL", "")

for _name in ("TWILIO_REGION", "TWILIO_EDGE"):
    os.environ.pop(_name, None)

# ``TEXTBANK_TEST_CLOCK=2026-07-15T03:00:00Z`` runs the whole suite as if started at that moment (the clock
# still ticks), to show that no test depends on the hour or the season it happens to run at.
_TEST_CLOCK = os.environ.get("TEXTBANK_TEST_CLOCK", "")
_traveller = None


def pytest_configure(config: pytest.Config) -> None:
    global _traveller
    if _TEST_CLOCK:
        import time_machine

        _traveller = time_machine.travel(_TEST_CLOCK, tick=True)
        _traveller.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _traveller is not None:
        _traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"clock set to {_TEST_CLOCK} (TEXTBANK_TEST_CLOCK)" if _TEST_CLOCK else None


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip(
            "PostgreSQL tests need TEXTBANK_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    schema = f"tb_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server: say so instead of erroring every test
        admin.dispose()
        pytest.skip(f"PostgreSQL at TEXTBANK_TEST_DATABASE_URL is unreachable: {exc.__class__.__name__}")
    url = _with_search_path(PG_URL, schema)
    upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _truncate_pg(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A freshly migrated, empty database URL on each engine."""
    if request.param == "sqlite":
        path = tmp_path / "textbank.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
        probe = Database(url)
        _truncate_pg(probe)
        probe.dispose()
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def org_id(db: Database) -> int:
    from core.orgs import default_organization

    with db.session() as session:
        return default_organization(session).id

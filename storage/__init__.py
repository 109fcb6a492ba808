"""Storage: SQLAlchemy 2 tables, engine set-up, Alembic migrations."""

from storage.engine import Database, make_engine
from storage.migrate import upgrade

__all__ = ["Database", "make_engine", "upgrade"]

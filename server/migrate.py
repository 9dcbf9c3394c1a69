"""Bring a database schema up to date with Alembic, programmatically (Postgres or SQLite)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.core.config import get_settings
from server.core.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number: concurrent `torchyard up`/`migrate` runs on one Postgres take turns on it.
PG_MIGRATION_LOCK = 7_461_922


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at database_url (default: the settings' one) to `revision`."""
    url = database_url or get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def current_revision(database_url: str | None = None) -> str | None:
    """The revision the database is at (None for an empty one)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(database_url or get_settings().database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()

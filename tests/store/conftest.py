"""The store tests' database: migrated with Alembic, reached through a plain sessionmaker."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from server.core.db import make_engine
from server.migrate import upgrade


@contextmanager
def migrated_sessions(url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(url)
    engine = make_engine(url)
    try:
        yield sessionmaker(bind=engine, expire_on_commit=False)
    finally:
        engine.dispose()

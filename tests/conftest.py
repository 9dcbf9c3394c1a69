"""Shared fixtures: a fresh Postgres database per test session, a Redis db index, a data dir."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

if TYPE_CHECKING:
    from tests.stack import Stack

PG_ADMIN_DSN = os.environ.get("TORCHYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TORCHYARD_TEST_REDIS", "redis://127.0.0.1:6379")


def _create_pg_database() -> tuple[str, str]:
    name = f"torchyard_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, f"{base}/{name}"


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of an empty Postgres database that lives for the test session."""
    name, url = _create_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty Postgres database for one test."""
    name, url = _create_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL on a db index of its own, so parallel sessions and stale keys do not collide."""
    return f"{REDIS_URL}/{1 + uuid.uuid4().int % 14}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    d = Path(os.environ.get("TORCHYARD_ARTIFACTS", "test-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator["Stack"]:
    """A real API process and one worker process on Postgres + Redis, shared by the e2e tests.

    It gets a database and a queue of its own, so its housekeeping never touches other tests' jobs.
    """
    from tests.stack import Stack

    name, url = _create_pg_database()
    tag = uuid.uuid4().hex[:8]
    running = Stack(database_url=url, broker_url=redis_url, data_dir=tmp_path_factory.mktemp("stack-data"),
                    queue=f"torchyard-test-{tag}", log_dir=artifacts_dir / f"stack-{tag}")
    try:
        yield running.start()
    finally:
        running.stop()
        _drop_pg_database(name)

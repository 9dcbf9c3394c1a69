"""Worker tests run the platform code in-process against a migrated Postgres and a real Redis broker."""

import uuid
from collections.abc import Iterator

import pytest

from server.core import config, db
from server.migrate import upgrade
from server.store import events
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.rows import make_job  # noqa: F401 (re-exported to the worker tests)
from worker.app import app, celery_config


def _reset_cached_settings() -> None:
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    for cached in (config.get_settings, db.get_engine, db.get_sessionmaker, events._redis):
        cached.cache_clear()
    app.conf.update(celery_config(config.get_settings()))


@pytest.fixture(scope="module")
def platform(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[config.Settings]:
    """Settings of a private platform: own database, own queue, fast heartbeats."""
    name, url = _create_pg_database()
    upgrade(url)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"DATABASE_URL": url, "BROKER_URL": redis_url, "HEARTBEAT_INTERVAL_S": "0.3",
                           "DATA_DIR": str(tmp_path_factory.mktemp("worker-data")),
                           "QUEUE": f"torchyard-test-{uuid.uuid4().hex[:8]}"}.items():
            mp.setenv(f"TORCHYARD_{key}", value)
        _reset_cached_settings()
        try:
            yield config.get_settings()
        finally:
            db.get_engine().dispose()
    _reset_cached_settings()
    _drop_pg_database(name)

"""Worker tests run the platform code in-process against a migrated Postgres and a real Redis broker."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from server.core import config, db
from server.migrate import upgrade
from server.store import events
from server.store.models import Dataset, Job, ModelRecord, User
from tests.conftest import _create_pg_database, _drop_pg_database
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


def make_job(session: Session, *, spec: dict[str, Any] | None = None, builtin: str = "iris",
             config_: dict[str, Any] | None = None, **fields: Any) -> Job:
    """A queued job with its own user, builtin dataset and spec model."""
    user = User(name=f"u-{uuid.uuid4().hex[:8]}", token_hash=uuid.uuid4().hex)
    session.add(user)
    session.flush()
    dataset = Dataset(owner_id=user.id, name=builtin, format="builtin", builtin_name=builtin,
                      num_samples=0, input_shape=[], target={}, sha256="0" * 64)
    model = ModelRecord(owner_id=user.id, name="m", kind="spec",
                        spec=spec or {"layers": [{"type": "Linear", "out_features": 3}]})
    session.add_all([dataset, model])
    session.flush()
    job = Job(owner_id=user.id, name="j", model_id=model.id, dataset_id=dataset.id,
              config=config_ or {}, **fields)
    session.add(job)
    session.commit()
    return job


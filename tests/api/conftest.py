"""An in-process API (TestClient) on real Postgres and, as a second run of every test, on SQLite.

The broker is the real Redis on a queue of this session's own; no worker consumes it here, so a
submitted job stays queued.
"""

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.core import config, db
from server.migrate import upgrade
from server.store import events

ADMIN_TOKEN = f"admin-{uuid.uuid4().hex}"
SMALL_UPLOAD_LIMIT = 256 * 1024
Headers = dict[str, str]


@dataclass
class Api:
    client: TestClient
    admin: Headers
    queue: str
    redis_url: str
    database_url: str

    def session(self) -> Session:
        return db.get_sessionmaker()()

    def new_user(self, name: str | None = None) -> Headers:
        body = {"name": name or f"u{uuid.uuid4().hex[:12]}"}
        response = self.client.post("/api/v1/users", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


def _reset_caches() -> None:
    for cached in (config.get_settings, db.get_engine, db.get_sessionmaker, events._redis):
        cached.cache_clear()


@pytest.fixture(scope="session", params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'api.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def api(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    queue = f"torchyard-api-test-{uuid.uuid4().hex[:8]}"
    patch = pytest.MonkeyPatch()
    for key, value in {"DATABASE_URL": database_url, "BROKER_URL": redis_url, "QUEUE": queue,
                       "DATA_DIR": str(tmp_path_factory.mktemp("data")), "ADMIN_TOKEN": ADMIN_TOKEN,
                       "MAX_UPLOAD_BYTES": str(SMALL_UPLOAD_LIMIT), "ALLOW_CODE": "true"}.items():
        patch.setenv(f"TORCHYARD_{key}", value)
    _reset_caches()
    from server.main import create_app

    try:
        with TestClient(create_app()) as client:
            yield Api(client, {"Authorization": f"Bearer {ADMIN_TOKEN}"}, queue, redis_url, database_url)
    finally:
        db.get_engine().dispose()
        redis.Redis.from_url(redis_url).delete(queue)
        patch.undo()
        _reset_caches()


@pytest.fixture
def client(api: Api) -> TestClient:
    return api.client


@pytest.fixture
def alice(api: Api) -> Headers:
    return api.new_user()


@pytest.fixture
def bob(api: Api) -> Headers:
    return api.new_user()


def csv_bytes(rows: int = 40) -> bytes:
    """Two features and an integer class: x1 + x2 > 1 -> class 1."""
    lines = ["x1,x2,label"]
    for i in range(rows):
        a, b = (i % 7) / 6, (i % 5) / 4
        lines.append(f"{a:.3f},{b:.3f},{int(a + b > 1)}")
    return ("\n".join(lines) + "\n").encode()


def upload(client: TestClient, headers: Headers, data: bytes, filename: str = "points.csv",
           **form: str) -> Any:
    return client.post("/api/v1/datasets", headers=headers, data={"name": "points", **form},
                       files={"file": (filename, io.BytesIO(data), "application/octet-stream")})


MLP = {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                  {"type": "Linear", "out_features": 2}]}


def make_job(client: TestClient, headers: Headers, config: dict[str, Any] | None = None,
             spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A queued job: the two-feature CSV dataset and a small MLP (or `spec`)."""
    dataset = upload(client, headers, csv_bytes()).json()
    model = client.post("/api/v1/models", headers=headers, json={"name": "mlp", "spec": spec or MLP}).json()
    response = client.post("/api/v1/jobs", headers=headers, json={
        "model_id": model["id"], "dataset_id": dataset["id"], "config": config or {"epochs": 1}})
    assert response.status_code == 201, response.text
    return dict(response.json())


def path_of(tmp: Path, name: str, data: bytes) -> Path:
    target = tmp / name
    target.write_bytes(data)
    return target

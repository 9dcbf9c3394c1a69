"""GET /health names the part that is down."""

import pytest
from fastapi.testclient import TestClient

from server.api.routes import health
from server.core.config import get_settings
from server.core.db import make_engine


def test_health_broker_down_is_503_naming_it(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["database"] == "ok" and body["broker"].startswith("error")


def test_health_database_down_is_503_naming_it(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    monkeypatch.setattr(health, "get_engine", lambda: dead)
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["database"].startswith("error") and response.json()["broker"] == "ok"


def test_health_embedded_broker_ok_when_its_file_is_reachable(client: TestClient, tmp_path: object,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "broker_url", f"sqla+sqlite:///{tmp_path}/broker.db")
    assert client.get("/api/v1/health").json()["broker"] == "ok"
    monkeypatch.setattr(get_settings(), "broker_url", "sqla+sqlite:////nonexistent/dir/broker.db")
    assert client.get("/api/v1/health").status_code == 503

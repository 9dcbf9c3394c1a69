"""Tokens: 401 without or with a wrong one, 404 for other users' objects, admin-only user creation."""

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from server.core.security import hash_token
from server.main import ensure_admin
from server.store.models import User
from tests.api.conftest import ADMIN_TOKEN, Api, Headers, csv_bytes, make_job, upload

PUBLIC = {("GET", "/api/v1/health")}
CONTRACT = {  # every route of API.md but health
    ("POST", "/users"), ("GET", "/me"), ("POST", "/datasets"), ("POST", "/datasets/builtin"),
    ("GET", "/datasets"), ("GET", "/datasets/{dataset_id}"), ("DELETE", "/datasets/{dataset_id}"),
    ("POST", "/models"), ("GET", "/models"), ("GET", "/models/{model_id}"), ("POST", "/jobs"),
    ("GET", "/jobs"), ("GET", "/jobs/{job_id}"), ("GET", "/jobs/{job_id}/model"),
    ("POST", "/jobs/{job_id}/cancel"), ("GET", "/jobs/{job_id}/metrics"),
    ("GET", "/jobs/{job_id}/metrics/{name}"), ("GET", "/jobs/{job_id}/events"), ("GET", "/events"),
    ("GET", "/jobs/{job_id}/logs"), ("GET", "/jobs/{job_id}/checkpoints"),
    ("GET", "/jobs/{job_id}/checkpoints/{step}"), ("GET", "/jobs/{job_id}/tensorboard"),
    ("DELETE", "/models/{model_id}"),  # beyond API.md (additive), authenticated like the rest
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_but_health_refuses_missing_and_wrong_tokens(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    checked = set()
    for path, operations in paths.items():
        for method in operations:
            url = _concrete(path) + ("?job=1" if path.endswith("/events") and "{" not in path else "")
            if (method.upper(), path) in PUBLIC:
                continue
            for headers in ({}, {"Authorization": "Bearer not-a-real-token"}):
                response = client.request(method.upper(), url, headers=headers)
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
            checked.add((method.upper(), path.removeprefix("/api/v1")))
    assert checked == CONTRACT


def test_health_needs_no_token(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_me_returns_the_token_owner(api: Api) -> None:
    headers = api.new_user("carol-" + api.queue[-8:])
    me = api.client.get("/api/v1/me", headers=headers).json()
    assert me["name"] == "carol-" + api.queue[-8:] and me["admin"] is False


def test_create_user_rejects_non_admin_and_duplicate(api: Api, alice: Headers) -> None:
    assert api.client.post("/api/v1/users", json={"name": "x1"}, headers=alice).status_code == 403
    body = {"name": f"dup-{api.queue[-8:]}"}
    assert api.client.post("/api/v1/users", json=body, headers=api.admin).status_code == 201
    assert api.client.post("/api/v1/users", json=body, headers=api.admin).status_code == 409


def test_create_user_token_works_and_is_stored_hashed(api: Api) -> None:
    response = api.client.post("/api/v1/users", json={"name": f"h-{api.queue[-8:]}", "admin": True},
                               headers=api.admin)
    token = response.json()["token"]
    assert len(token) >= 32
    with api.session() as session:
        stored = session.scalars(select(User.token_hash).where(User.name == f"h-{api.queue[-8:]}")).one()
    assert stored == hash_token(token) and token not in stored
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["admin"] is True


def test_other_users_objects_are_404(client: TestClient, alice: Headers, bob: Headers) -> None:
    job = make_job(client, alice)
    dataset_id, model_id, job_id = job["dataset_id"], job["model_id"], job["id"]
    for url in (f"/api/v1/datasets/{dataset_id}", f"/api/v1/models/{model_id}", f"/api/v1/jobs/{job_id}",
                f"/api/v1/jobs/{job_id}/metrics", f"/api/v1/jobs/{job_id}/logs",
                f"/api/v1/jobs/{job_id}/checkpoints", f"/api/v1/jobs/{job_id}/events"):
        response = client.get(url, headers=bob)
        assert response.status_code == 404, url
        assert "not found" in response.json()["detail"]
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=bob).status_code == 404
    assert client.delete(f"/api/v1/datasets/{dataset_id}", headers=bob).status_code == 404
    assert client.get("/api/v1/jobs", headers=bob).json()["count"] == 0
    assert client.get("/api/v1/jobs", headers=alice).json()["count"] == 1


def test_other_users_dataset_cannot_be_used_in_a_job(client: TestClient, alice: Headers,
                                                     bob: Headers) -> None:
    dataset = upload(client, alice, csv_bytes()).json()
    model = client.post("/api/v1/models", headers=bob, json={"name": "m", "spec": {"layers": [
        {"type": "Linear", "out_features": 2}]}}).json()
    response = client.post("/api/v1/jobs", headers=bob, json={"model_id": model["id"],
                                                             "dataset_id": dataset["id"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dataset_id"]


def test_event_routes_take_the_token_as_query_parameter(client: TestClient, alice: Headers) -> None:
    job = make_job(client, alice)
    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)  # the stream then ends
    token = alice["Authorization"].removeprefix("Bearer ")
    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events?after=0&access_token={token}") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "event: status" in "".join(stream.iter_text())
    assert client.get(f"/api/v1/jobs/{job['id']}/logs?access_token={token}").status_code == 401


def test_admin_bootstrap_is_idempotent(api: Api) -> None:
    ensure_admin(ADMIN_TOKEN)
    ensure_admin(ADMIN_TOKEN)
    with api.session() as session:
        admins = session.scalars(select(User).where(User.name == "admin")).all()
    assert len(admins) == 1 and admins[0].admin and admins[0].token_hash == hash_token(ADMIN_TOKEN)

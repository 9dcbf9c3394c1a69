"""Nothing a client sends makes a 5xx: every route gets hostile paths, queries and bodies."""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Headers, make_job

HOSTILE_IDS = ["0", "-1", "99999999999999999999", "1e3", "abc", "%00", "1.5", "９"]
HOSTILE_BODIES: list[Any] = [
    None, [], "text", 10**40, {"name": None}, {"name": "x" * 10_000}, {"model_id": 2**63, "dataset_id": -1},
    {"name": "m", "spec": {"layers": [{"type": "Linear", "out_features": 10**30}]}},
    {"name": "m", "spec": {"layers": "nope"}}, {"name": "m", "spec": {"generator": {}, "latent_dim": -1}},
    {"model_id": 1, "dataset_id": 1, "config": {"epochs": 10**40, "optimizer": {"type": "__class__"}}},
    {"name": "\u0000\ud7ff", "admin": "yes"}, {"name": "a\u0000b", "spec": {"layers": []}},
]
RAW_BODIES = [b"", b"{", b"\xff\xfe", b'{"a": NaN}', b"[" * 5000 + b"]" * 5000,
              b'{"name": "m", "spec": {"layers": [{"type": "Dropout", "p": NaN}]}}']


def _routes(client: TestClient) -> list[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


def _check(response: Any, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])


@pytest.fixture
def job(client: TestClient, alice: Headers) -> dict[str, Any]:
    return make_job(client, alice)


def test_hostile_path_ids_are_4xx(client: TestClient, alice: Headers, job: dict[str, Any]) -> None:
    for method, path in _routes(client):
        for bad in HOSTILE_IDS:
            url = re.sub(r"\{[^}]+\}", bad, path)
            if url == path:
                continue
            _check(client.request(method, url, headers=alice, params={"job": bad}), (method, url))


def test_hostile_json_bodies_are_4xx(client: TestClient, alice: Headers, job: dict[str, Any]) -> None:
    for method, path in _routes(client):
        if method not in ("POST", "DELETE"):
            continue
        url = re.sub(r"\{[^}]+\}", str(job["id"]), path)
        for body in HOSTILE_BODIES:
            _check(client.request(method, url, headers=alice, json=body), (url, body))
        for raw in RAW_BODIES:
            headers = {**alice, "Content-Type": "application/json"}
            _check(client.request(method, url, headers=headers, content=raw), (url, raw[:20]))


def test_hostile_queries_are_4xx(client: TestClient, alice: Headers, job: dict[str, Any]) -> None:
    queries: list[dict[str, Any]] = [
        {"limit": "-5"}, {"offset": "1e99"}, {"status": "x" * 500}, {"max_points": "0"},
        {"since_step": "99999999999999999999999"}, {"after": "1:2:3"}, {"after": "-1"}, {"format": "exe"},
    ]
    for method, path in _routes(client):
        if method != "GET" or path.endswith("/events"):
            continue
        url = re.sub(r"\{[^}]+\}", str(job["id"]), path).replace("/checkpoints/" + str(job["id"]),
                                                                  "/checkpoints/1")
        for query in queries:
            _check(client.get(url, headers=alice, params=query), (url, query))
    for name in ("%00", "a%00b", "x" * 300, "%FF"):
        _check(client.get(f"/api/v1/jobs/{job['id']}/metrics/{name}", headers=alice), name)


def test_hostile_multipart_is_4xx(client: TestClient, alice: Headers) -> None:
    cases: list[dict[str, Any]] = [
        {"files": {"file": ("a.csv", b"")}}, {"files": {"file": ("a.npz", b"PK\x03\x04junk")}},
        {"files": {"file": ("a.csv", b"a,b\n1,x\n2,y\n")}, "data": {"target": "missing"}},
        {"files": {"file": ("a.csv", "é,ü\n1,2\n".encode("latin-1"))}},
        {"files": {"other": ("a.csv", b"a,b\n1,2\n")}}, {"data": {"name": "only"}},
        {"files": {"file": ("net.py", b"\xff\xfe")}},
        {"files": {"file": ("a.csv", b"a,b\n1,2\n3,4\n")}, "data": {"target": "b\x00"}},
        {"files": {"file": ("net.py", b"x = 1\n")}, "data": {"name": "nul\x00name"}},
        {"files": {"file": ("a.csv", b"a,b\n1,2\n3,4\n")}, "data": {"name": "nul\x00name"}},
    ]
    for url in ("/api/v1/datasets", "/api/v1/models"):
        for case in cases:
            _check(client.post(url, headers=alice, **case), (url, case))

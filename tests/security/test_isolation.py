"""A user never sees another's objects: every route with an id, walked with a second user's token, is
404 (while the owner gets the data), and no listing shows them."""

import io
import re
import tarfile
import time
from typing import Any

import torch
from fastapi.testclient import TestClient

from dl.checkpoint import to_bytes
from server.store import blobs, events, jobs, metrics
from tests.api.conftest import Api, Headers, make_job

OTHER = "not found"


def finished_job_with_everything(api: Api, headers: Headers) -> dict[str, Any]:
    """A succeeded job with a metric, a log line, a checkpoint at step 1 and a TensorBoard archive."""
    job = make_job(api.client, headers)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("events.out"), io.BytesIO(b""))
    weights = to_bytes({"w": torch.ones(2)})
    with api.session() as session:
        attempt = jobs.claim(session, job["id"], lease_timeout_s=30)
        assert attempt == 1
        metrics.write_points(session, job["id"], attempt, [("train_loss", 1, 0.5, time.time())])
        events.append_event(session, job["id"], "log", {"job_id": job["id"], "line": "secret line"})
        ckpt = jobs.CheckpointBlobs(step=1, epoch=1, state=weights, weights=weights)
        assert jobs.save_checkpoint(session, job["id"], attempt, ckpt, keep=3)
        sha, _ = blobs.put_bytes(session, archive.getvalue())
        jobs.set_fields(session, job["id"], attempt, tensorboard_sha256=sha)
        assert jobs.finish(session, job["id"], attempt, "succeeded")
        session.commit()
    return job


def owned_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every API route that takes an object id, from the schema FastAPI builds out of
    app.routes (its routers nest them), so a new route joins the walk by itself."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops
            if "{" in path or path == "/api/v1/events"]


def concrete(path: str, job: dict[str, Any]) -> str:
    ids = {"job_id": job["id"], "dataset_id": job["dataset_id"], "model_id": job["model_id"], "step": 1,
           "name": "train_loss"}
    url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
    return url + (f"?job={job['id']}" if path.endswith("/events") and "{" not in path else "")


def test_every_owned_route_is_404_for_another_user(api: Api, alice: Headers, bob: Headers) -> None:
    job = finished_job_with_everything(api, alice)
    walked = set()
    for method, path in owned_routes(api.client):
        if method == "DELETE":
            continue  # checked last: a successful delete by the owner would end the walk
        url = concrete(path, job)
        theirs = api.client.request(method, url, headers=bob)
        assert theirs.status_code == 404, (method, url, theirs.status_code, theirs.text[:200])
        assert OTHER in theirs.json()["detail"] and "secret line" not in theirs.text
        mine = api.client.request(method, url, headers=alice)
        assert mine.status_code in (200, 202, 409), (method, url, mine.status_code, mine.text[:200])
        walked.add((method, path))
    for method, path in owned_routes(api.client):
        if method == "DELETE":
            url = concrete(path, job)
            assert api.client.delete(url, headers=bob).status_code == 404, url
            assert api.client.get(url, headers=alice).status_code == 200, f"bob deleted {url}"
            walked.add((method, path))
    assert ("DELETE", "/api/v1/models/{model_id}") in walked
    assert ("GET", "/api/v1/jobs/{job_id}/checkpoints/{step}") in walked and len(walked) >= 12


def test_listings_never_show_another_users_objects(api: Api, alice: Headers, bob: Headers) -> None:
    job = finished_job_with_everything(api, alice)
    for path in ("/api/v1/jobs", "/api/v1/datasets", "/api/v1/models"):
        assert api.client.get(path, headers=alice).json()["count"] >= 1
        listed = api.client.get(path, headers=bob, params={"limit": 1000}).json()
        assert listed["count"] == len(listed["data"]) == 0, (path, listed)
    assert job["id"] in [j["id"] for j in api.client.get("/api/v1/jobs", headers=alice).json()["data"]]


def test_another_users_model_cannot_be_trained(api: Api, alice: Headers, bob: Headers) -> None:
    job = make_job(api.client, alice)
    own = make_job(api.client, bob)
    response = api.client.post("/api/v1/jobs", headers=bob, json={"model_id": job["model_id"],
                                                                "dataset_id": own["dataset_id"]})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "model_id"]
    assert str(job["model_id"]) in response.json()["detail"][0]["msg"]

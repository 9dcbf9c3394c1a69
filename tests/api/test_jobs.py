"""Jobs: submit validates config and shapes before queueing, cancel, list filters, model summary."""

import base64
import json
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.core.config import get_settings
from server.store.models import Event
from tests.api.conftest import MLP, Api, Headers, csv_bytes, make_job, upload


def _inputs(client: TestClient, headers: Headers, spec: dict[str, Any] | None = None) -> dict[str, int]:
    dataset = upload(client, headers, csv_bytes()).json()
    model = client.post("/api/v1/models", headers=headers, json={"name": "m", "spec": spec or MLP}).json()
    return {"model_id": model["id"], "dataset_id": dataset["id"]}


def _queued_ids(api: Api) -> list[int]:
    """Job ids of the Celery messages waiting in this session's Redis queue."""
    ids = []
    for raw in redis.Redis.from_url(api.redis_url).lrange(api.queue, 0, -1):
        args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids.append(args[0])
    return ids


def test_create_job_is_queued_with_a_status_event_and_a_message(api: Api, alice: Headers) -> None:
    job = make_job(api.client, alice, config={"epochs": 2, "optimizer": {"type": "SGD", "lr": 0.1}})
    assert job["status"] == "queued" and job["attempts"] == 0
    assert job["config"] == {"epochs": 2, "optimizer": {"type": "SGD", "lr": 0.1}}
    assert job["progress"]["step"] == 0 and job["name"] == "mlp on points"
    with api.session() as session:
        events = session.scalars(select(Event).where(Event.job_id == job["id"])).all()
    assert [(e.kind, e.data["status"]) for e in events] == [("status", "queued")]
    assert job["id"] in _queued_ids(api)


@pytest.mark.parametrize(("config", "loc"), [
    ({"epochs": "ten"}, ["body", "config", "epochs"]),
    ({"bogus": 1}, ["body", "config", "bogus"]),
    ({"optimizer": {"type": "Adam", "lr": -1}}, ["body", "config", "optimizer", "lr"]),
    ({"optimizer": {"type": "Foo"}}, ["body", "config", "optimizer", "type"]),
])
def test_create_job_config_error_is_422_before_queueing(api: Api, alice: Headers, config: dict[str, Any],
                                                        loc: list[Any]) -> None:
    before = api.client.get("/api/v1/jobs", headers=alice).json()["count"]
    response = api.client.post("/api/v1/jobs", headers=alice,
                               json={**_inputs(api.client, alice), "config": config})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert api.client.get("/api/v1/jobs", headers=alice).json()["count"] == before


def test_create_job_shape_mismatch_names_layer_and_both_shapes(client: TestClient, alice: Headers) -> None:
    spec = {"layers": [{"type": "Linear", "out_features": 8},
                       {"type": "Linear", "in_features": 5, "out_features": 2}]}
    response = client.post("/api/v1/jobs", headers=alice, json=_inputs(client, alice, spec))
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "model_id", "layers", 1]
    assert "layers.1" in error["msg"] and "[8]" in error["msg"] and "5" in error["msg"]


def test_create_job_output_not_fitting_the_task_is_422(client: TestClient, alice: Headers) -> None:
    spec = {"layers": [{"type": "Linear", "out_features": 3}]}
    response = client.post("/api/v1/jobs", headers=alice, json=_inputs(client, alice, spec))
    assert response.status_code == 422
    assert "[3]" in response.json()["detail"][0]["msg"] and "[2]" in response.json()["detail"][0]["msg"]


def test_create_job_over_max_parameters_is_422(api: Api, alice: Headers,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from server.core.config import get_settings

    monkeypatch.setattr(get_settings(), "max_parameters", 10)
    response = api.client.post("/api/v1/jobs", headers=alice, json=_inputs(api.client, alice))
    assert response.status_code == 422
    assert "42" in response.json()["detail"][0]["msg"]  # (2*8 + 8) + (8*2 + 2) parameters


@pytest.mark.parametrize("body", [
    {"model_id": 10**30, "dataset_id": 1},
    {"model_id": "one", "dataset_id": 1},
    {"model_id": 1, "dataset_id": 1, "config": [1]},
    {"model_id": 1, "dataset_id": 1, "surprise": True},
])
def test_create_job_wrong_types_are_422(client: TestClient, alice: Headers, body: dict[str, Any]) -> None:
    assert client.post("/api/v1/jobs", headers=alice, json=body).status_code == 422


def test_create_job_malformed_json_or_unknown_ids_are_4xx(client: TestClient, alice: Headers) -> None:
    broken = client.post("/api/v1/jobs", headers={**alice, "Content-Type": "application/json"},
                         content=b'{"model_id": ')
    assert broken.status_code in (400, 422)
    unknown = client.post("/api/v1/jobs", headers=alice, json={"model_id": 999999, "dataset_id": 1})
    assert unknown.status_code == 422 and "999999" in unknown.json()["detail"][0]["msg"]
    assert client.get("/api/v1/jobs/99999999999999", headers=alice).status_code == 422


def test_create_job_init_from_not_startable_is_422_before_queueing(api: Api, alice: Headers,
                                                                   bob: Headers) -> None:
    inputs = _inputs(api.client, alice)
    mine, theirs = make_job(api.client, alice), make_job(api.client, bob)
    api.client.post(f"/api/v1/jobs/{mine['id']}/cancel", headers=alice)  # cancelled while queued: no weights

    def submit(init_from: dict[str, int]) -> Any:
        config = {"init_from": init_from}
        return api.client.post("/api/v1/jobs", headers=alice, json={**inputs, "config": config})

    for source in (theirs["id"], 99999, 2**40, mine["id"]):
        answer = submit({"job_id": source})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "config", "init_from", "job_id"]
        assert str(source) in answer.json()["detail"][0]["msg"]
    with_step = submit({"job_id": mine["id"], "step": 5})
    assert with_step.status_code == 422 and "at step 5" in with_step.json()["detail"][0]["msg"]
    assert with_step.json()["detail"][0]["loc"] == ["body", "config", "init_from", "step"]
    # the refused submits wrote no job: alice still has only the cancelled one
    assert api.client.get("/api/v1/jobs", headers=alice).json()["count"] == 1
    still_training = make_job(api.client, alice)  # a queued source may still write its checkpoint
    assert submit({"job_id": still_training["id"]}).status_code == 201


def test_cancel_queued_job_is_immediate_and_finished_job_is_409(api: Api, alice: Headers) -> None:
    job = make_job(api.client, alice)
    response = api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled" and response.json()["finished_at"] is not None
    with api.session() as session:
        kinds = [(e.kind, e.data["status"]) for e in session.scalars(
            select(Event).where(Event.job_id == job["id"]).order_by(Event.id))]
    assert kinds == [("status", "queued"), ("status", "cancelled")]
    again = api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_cancel_running_job_asks_the_worker(api: Api, alice: Headers) -> None:
    from server.store.jobs import claim
    from server.store.models import Job

    job = make_job(api.client, alice)
    with api.session() as session:
        assert claim(session, job["id"], lease_timeout_s=30) == 1
        session.commit()
    response = api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    assert response.status_code == 202 and response.json()["status"] == "running"
    with api.session() as session:
        assert session.get(Job, job["id"]).cancel_requested is True  # type: ignore[union-attr]


def test_list_jobs_filters_by_status(client: TestClient, bob: Headers) -> None:
    first, second = make_job(client, bob), make_job(client, bob)
    client.post(f"/api/v1/jobs/{first['id']}/cancel", headers=bob)
    cancelled = client.get("/api/v1/jobs?status=cancelled", headers=bob).json()
    queued = client.get("/api/v1/jobs?status=queued", headers=bob).json()
    assert [j["id"] for j in cancelled["data"]] == [first["id"]] and cancelled["count"] == 1
    assert [j["id"] for j in queued["data"]] == [second["id"]]
    assert client.get("/api/v1/jobs?status=bogus", headers=bob).status_code == 422


def test_job_model_summary_from_the_spec(client: TestClient, alice: Headers) -> None:
    job = make_job(client, alice)
    body = client.get(f"/api/v1/jobs/{job['id']}/model", headers=alice).json()
    assert body["parameters"] == 2 * 8 + 8 + 8 * 2 + 2
    linear = [row for row in body["summary"] if row["type"] == "Linear"]
    assert [row["output_shape"] for row in linear] == [[8], [2]]
    assert body["graph"]["nodes"] and "edges" in body["graph"]


def test_create_job_with_python_model_without_allow_code_is_403_and_queues_nothing(
        api: Api, alice: Headers, monkeypatch: pytest.MonkeyPatch) -> None:
    code = b"import torch\ndef build_model(input_shape, num_outputs):\n    return torch.nn.Linear(2, 2)\n"
    model = api.client.post("/api/v1/models", headers=alice, data={"name": "py"},
                            files={"file": ("model.py", code, "text/x-python")}).json()
    inputs = {**_inputs(api.client, alice), "model_id": model["id"]}
    queued = _queued_ids(api)
    monkeypatch.setattr(get_settings(), "allow_code", False)
    response = api.client.post("/api/v1/jobs", headers=alice, json={**inputs, "config": {"epochs": 1}})
    assert response.status_code == 403
    assert response.json()["detail"] == ("Python model files are disabled on this server "
                                         "(TORCHYARD_ALLOW_CODE)")
    assert api.client.get("/api/v1/jobs", headers=alice).json()["count"] == 0
    assert _queued_ids(api) == queued
    monkeypatch.setattr(get_settings(), "allow_code", True)
    allowed = api.client.post("/api/v1/jobs", headers=alice, json={**inputs, "config": {"epochs": 1}})
    assert allowed.status_code == 201, allowed.text

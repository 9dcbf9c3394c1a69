"""POST /jobs refuses bad optimizer/loss/scheduler argument values with 422 naming them, before
anything is queued (these used to be a 500, or a 201 that failed later on a worker)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import MLP, Headers, csv_bytes, upload


@pytest.mark.parametrize(("config", "loc"), [
    ({"optimizer": {"type": "Adam", "betas": [0.9]}}, ["body", "config", "optimizer", "betas"]),
    ({"optimizer": {"type": "Rprop", "etas": {}}}, ["body", "config", "optimizer", "etas"]),
    ({"scheduler": {"type": "OneCycleLR", "max_lr": 0.1, "div_factor": 0}}, ["body", "config", "scheduler"]),
    ({"scheduler": {"type": "StepLR", "step_size": "x"}}, ["body", "config", "scheduler", "step_size"]),
    ({"loss": {"type": "CrossEntropyLoss", "weight": [1, 2, 3]}}, ["body", "config", "loss"]),
    ({"gpus": 10**20}, ["body", "config", "gpus"]),
])
def test_submit_bad_argument_value_is_422_and_queues_nothing(client: TestClient, alice: Headers,
                                                             config: dict[str, Any], loc: list[Any]) -> None:
    dataset = upload(client, alice, csv_bytes()).json()
    model = client.post("/api/v1/models", headers=alice, json={"name": "mlp", "spec": MLP}).json()
    before = client.get("/api/v1/jobs", headers=alice).json()["count"]
    response = client.post("/api/v1/jobs", headers=alice,
                           json={"model_id": model["id"], "dataset_id": dataset["id"], "config": config})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc
    assert client.get("/api/v1/jobs", headers=alice).json()["count"] == before

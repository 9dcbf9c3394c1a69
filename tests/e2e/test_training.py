"""End to end on real processes (API + Celery worker + Postgres + Redis): jobs reach the expected result."""

import io
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine

from dl.data import apply_normalization, load_builtin, split_indices
from dl.spec import build_model
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

MLP = {"layers": [{"type": "Linear", "out_features": 64}, {"type": "ReLU"},
                  {"type": "Linear", "out_features": 10}]}
CNN = {"layers": [
    {"type": "Reshape", "shape": [1, 8, 8]},
    {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d"}, {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Flatten"}, {"type": "Linear", "out_features": 10},
]}
FAST = {"epochs": 8, "batch_size": 32, "optimizer": {"type": "Adam", "lr": 0.005}}


def builtin(stack: Stack, name: str) -> int:
    return int(stack.post("/datasets/builtin", json={"name": name})["id"])


def model(stack: Stack, spec: dict[str, Any]) -> int:
    return int(stack.post("/models", json={"name": "m", "spec": spec})["id"])


def series(stack: Stack, job_id: int, name: str) -> dict[str, Any]:
    response = stack.client.get(f"/jobs/{job_id}/metrics/{name}")
    response.raise_for_status()
    return dict(response.json())


@pytest.fixture(scope="module")
def digits_job(stack: Stack) -> dict[str, Any]:
    job_id = stack.submit(model(stack, MLP), builtin(stack, "digits"), FAST, name="digits-mlp")
    return stack.wait_job(job_id, {"succeeded"})


def test_train_digits_mlp_succeeds(stack: Stack, digits_job: dict[str, Any]) -> None:
    assert digits_job["summary"]["val_accuracy"] >= 0.9
    assert digits_job["attempts"] == 1 and digits_job["error"] is None
    steps_per_epoch = -(-1438 // 32)  # 1797 samples, 20 % held out
    assert digits_job["progress"]["step"] == digits_job["progress"]["total_steps"] == 8 * steps_per_epoch
    loss = series(stack, digits_job["id"], "train_loss")
    assert loss["total_points"] == 8 * steps_per_epoch and loss["steps"][0] == 1


def test_download_checkpoint_reproduces_val_accuracy(stack: Stack, digits_job: dict[str, Any]) -> None:
    ckpts = stack.client.get(f"/jobs/{digits_job['id']}/checkpoints").json()["data"]
    last = max(c["step"] for c in ckpts)
    assert last == digits_job["progress"]["step"]
    blob = stack.client.get(f"/jobs/{digits_job['id']}/checkpoints/{last}")
    blob.raise_for_status()
    net = build_model(MLP, [64])
    net.load_state_dict(torch.load(io.BytesIO(blob.content), weights_only=True))
    net.eval()
    data = load_builtin("digits")
    assert data.y is not None
    _, val = split_indices(len(data.x), 0.2, 0)
    x = apply_normalization(data.x[val], digits_job["summary"]["normalization"], [64])
    with torch.no_grad():
        accuracy = (net(x).argmax(1) == data.y[val]).float().mean().item()
    assert accuracy == pytest.approx(digits_job["summary"]["val_accuracy"], abs=1e-6)


def test_train_digits_cnn_succeeds(stack: Stack) -> None:
    job_id = stack.submit(model(stack, CNN), builtin(stack, "digits"), {**FAST, "epochs": 3})
    job = stack.wait_job(job_id, {"succeeded"})
    assert job["summary"]["val_accuracy"] >= 0.8
    info = stack.client.get(f"/jobs/{job_id}/model").json()
    types = [row["type"] for row in info["summary"]]
    assert types.index("Reshape") < types.index("Conv2d") < types.index("BatchNorm2d")


def test_train_with_dataloader_worker_processes_in_a_celery_worker(stack: Stack) -> None:
    config = {**FAST, "epochs": 2, "num_workers": 2, "pin_memory": False}
    job_id = stack.submit(model(stack, MLP), builtin(stack, "digits"), config)
    job = stack.wait_job(job_id, {"succeeded", "failed"})
    assert job["status"] == "succeeded", job["error"]
    assert job["summary"]["val_accuracy"] >= 0.8


def test_train_wine_csv_with_string_classes(stack: Stack) -> None:
    wine = load_wine()
    names = np.array(["barolo", "grignolino", "barbera"])[wine.target]
    header = ",".join([*wine.feature_names, "cultivar"])
    rows = [",".join([*map(str, features), label]) for features, label in zip(wine.data, names, strict=True)]
    csv = "\n".join([header, *rows]).encode()
    dataset = stack.post("/datasets", files={"file": ("wine.csv", csv, "text/csv")},
                         data={"name": "wine", "target": "cultivar"})
    assert dataset["target"]["kind"] == "classes" and dataset["input_shape"] == [13]
    spec = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 3}]}
    job_id = stack.submit(model(stack, spec), int(dataset["id"]), {**FAST, "epochs": 30, "batch_size": 16})
    assert stack.wait_job(job_id, {"succeeded"})["summary"]["val_accuracy"] >= 0.9


def test_train_diabetes_regression_val_loss_falls(stack: Stack) -> None:
    spec = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 1}]}
    config = {"epochs": 15, "batch_size": 32, "loss": {"type": "MSELoss"},
              "optimizer": {"type": "Adam", "lr": 0.01}}
    job_id = stack.submit(model(stack, spec), builtin(stack, "diabetes"), config)
    stack.wait_job(job_id, {"succeeded"})
    val_loss = series(stack, job_id, "val_loss")["values"]
    assert len(val_loss) == 15
    assert val_loss[-1] < 0.5 * val_loss[0]
    assert "val_mae" in stack.client.get(f"/jobs/{job_id}/metrics").json()["names"]


def test_cancel_running_job_keeps_checkpoint(stack: Stack) -> None:
    config = {**FAST, "epochs": 500, "checkpoint_every_epochs": 1000}
    job_id = stack.submit(model(stack, MLP), builtin(stack, "digits"), config)
    wait_until(lambda: stack.job(job_id)["progress"]["step"] >= 5, 120, "the job to train a few steps")
    assert stack.client.post(f"/jobs/{job_id}/cancel").status_code == 202
    job = stack.wait_job(job_id, {"cancelled"}, timeout_s=30)
    ckpts = stack.client.get(f"/jobs/{job_id}/checkpoints").json()["data"]
    assert [c["step"] for c in ckpts] == [job["progress"]["step"]]
    assert job["progress"]["step"] < job["progress"]["total_steps"]
    assert stack.client.post(f"/jobs/{job_id}/cancel").status_code == 409

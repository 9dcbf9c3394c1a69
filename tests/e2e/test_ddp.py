"""gpus: 2 jobs end to end: a worker started with `--gpus 0,1` (on this CPU host: two gloo processes)
trains them data-parallel; rank 0 alone reports, the curve is the one-process curve of the same global
batch, a failing rank ends the job with one sentence, and a cancel stops every rank."""

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from dl.config import parse_config
from dl.data import load_builtin
from dl.spec import build_model
from dl.train import train
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.dl.toys import Recorder
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

MLP = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                  {"type": "Linear", "out_features": 3}]}
# iris: 120 training samples in global batches of 16 (the last one 8): 8 steps an epoch
CONFIG: dict[str, Any] = {"gpus": 2, "epochs": 3, "batch_size": 16, "optimizer": {"type": "Adam", "lr": 0.01}}


@pytest.fixture(scope="module")
def gpu_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory,
              artifacts_dir: Path) -> Iterator[Stack]:
    """A stack whose only worker says it has GPUs 0 and 1, so it consumes the gpus: 2 queue."""
    name, url = _create_pg_database()
    tag = uuid.uuid4().hex[:8]
    stack = Stack(database_url=url, broker_url=redis_url, data_dir=tmp_path_factory.mktemp("ddp-data"),
                  queue=f"torchyard-ddp-{tag}", log_dir=artifacts_dir / f"stack-ddp-{tag}", workers=0)
    try:
        stack.start()
        stack.start_worker(gpus="0,1")
        yield stack
    finally:
        stack.stop()
        _drop_pg_database(name)


def _ids(stack: Stack, dataset: str) -> tuple[int, int]:
    model_id = stack.post("/models", json={"name": "mlp", "spec": MLP})["id"]
    return int(model_id), int(stack.post("/datasets/builtin", json={"name": dataset})["id"])


def _series(stack: Stack, job_id: int, name: str) -> dict[str, Any]:
    response = stack.client.get(f"/jobs/{job_id}/metrics/{name}")
    response.raise_for_status()
    return dict(response.json())


def _one_process() -> tuple[Recorder, torch.nn.Module]:
    """The same job trained in this process, as the runner builds it (seeded before the model)."""
    torch.manual_seed(0)
    net, rec = build_model(MLP, [4]), Recorder()
    config = parse_config({k: v for k, v in CONFIG.items() if k != "gpus"})
    train(net, load_builtin("iris"), config, callbacks=rec)
    return rec, net


def test_ddp_job_matches_one_process_and_reports_once(gpu_stack: Stack) -> None:
    job_id = gpu_stack.submit(*_ids(gpu_stack, "iris"), CONFIG, name="ddp")
    job = gpu_stack.wait_job(job_id, {"succeeded"}, timeout_s=120)
    assert job["progress"]["step"] == job["progress"]["total_steps"] == 24 and job["attempts"] == 1
    rec, net = _one_process()
    loss = _series(gpu_stack, job_id, "train_loss")
    assert loss["steps"] == list(range(1, 25)) and loss["total_points"] == 24
    assert loss["values"] == pytest.approx([v for _, v in rec.series("train_loss")], rel=1e-4)
    assert _series(gpu_stack, job_id, "val_loss")["steps"] == [8, 16, 24]
    logs = gpu_stack.client.get(f"/jobs/{job_id}/logs").text
    assert "training data-parallel on 2 processes (gloo, cpu)" in logs
    blob = gpu_stack.client.get(f"/jobs/{job_id}/checkpoints/24")
    blob.raise_for_status()
    weights = torch.load(io.BytesIO(blob.content), weights_only=True)
    assert list(weights) == list(net.state_dict())  # the spec model's keys, no DDP "module." prefix
    for key, value in net.state_dict().items():
        torch.testing.assert_close(weights[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_ddp_job_failing_on_every_rank_reports_one_sentence(gpu_stack: Stack) -> None:
    config = {**CONFIG, "normalize": False, "optimizer": {"type": "SGD", "lr": 1e12}}
    job_id = gpu_stack.submit(*_ids(gpu_stack, "iris"), config, name="ddp-nan")
    job = gpu_stack.wait_job(job_id, {"failed"}, timeout_s=120)
    assert job["error"].startswith("the loss became"), job["error"]
    assert "peer" not in job["error"] and "\n" not in job["error"]


def test_ddp_job_cancel_stops_every_rank_with_a_checkpoint(gpu_stack: Stack) -> None:
    config = {**CONFIG, "epochs": 10_000, "checkpoint_every_epochs": None}
    job_id = gpu_stack.submit(*_ids(gpu_stack, "iris"), config, name="ddp-cancel")
    wait_until(lambda: gpu_stack.job(job_id)["progress"]["step"] >= 20, 90, "the DDP job to train 20 steps")
    assert gpu_stack.client.post(f"/jobs/{job_id}/cancel").status_code == 202
    job = gpu_stack.wait_job(job_id, {"cancelled"}, timeout_s=60)
    checkpoints = gpu_stack.client.get(f"/jobs/{job_id}/checkpoints").json()["data"]
    assert [c["step"] for c in checkpoints] == [job["progress"]["step"]]

"""One-machine defaults (SQLite + embedded broker) via `torchyard api`/`worker` and via `torchyard up`."""

import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.stack import CLI, FINISHED, Stack, free_port, wait_until

pytestmark = pytest.mark.e2e

SPEC = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                   {"type": "Linear", "out_features": 3}]}


@pytest.fixture
def embedded_stack(tmp_path: Path, artifacts_dir: Path) -> Iterator[Stack]:
    # Empty URLs select the embedded defaults under the data dir.
    stack = Stack(database_url="", broker_url="", data_dir=tmp_path / "data", queue="torchyard",
                  log_dir=artifacts_dir / f"embedded-{uuid.uuid4().hex[:8]}")
    try:
        yield stack.start()
    finally:
        stack.stop()


def test_embedded_defaults_train_job_to_success(embedded_stack: Stack, tmp_path: Path) -> None:
    dataset = embedded_stack.post("/datasets/builtin", json={"name": "iris"})["id"]
    model = embedded_stack.post("/models", json={"name": "iris", "spec": SPEC})["id"]
    config = {"epochs": 20, "batch_size": 16, "checkpoint_every_epochs": 5,
              "optimizer": {"type": "Adam", "lr": 0.01}}
    job_id = embedded_stack.submit(model, dataset, config)
    job = embedded_stack.wait_job(job_id, {"succeeded"})
    assert job["summary"]["val_accuracy"] >= 0.8
    assert (tmp_path / "data" / "torchyard.db").is_file()
    ckpts = embedded_stack.client.get(f"/jobs/{job_id}/checkpoints").json()
    assert ckpts["count"] >= 1
    assert embedded_stack.client.get(f"/jobs/{job_id}/tensorboard").content[:2] == b"\x1f\x8b"


def read_startup(proc: subprocess.Popen[str]) -> tuple[str, int]:
    """The admin token and the demo job id from `torchyard up --demo`; then keep draining its output."""
    assert proc.stdout is not None
    token = None
    for line in proc.stdout:
        if match := re.fullmatch(r"Admin token: (\S+)\n", line):
            token = match.group(1)
        if (match := re.fullmatch(r"Demo job: \S+/jobs/(\d+)\n", line)) and token:
            # The children share this pipe: an unread pipe would block them once full.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return token, int(match.group(1))
    raise AssertionError(f"`torchyard up` exited ({proc.wait()}) without printing the token and demo job")


def test_up_runs_submitted_and_demo_jobs(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHYARD_")}
    env.update(TORCHYARD_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*CLI, "up", "--port", str(port), "--workers", "1", "--demo"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        token, demo_id = read_startup(proc)
        assert (tmp_path / "data" / "admin_token").stat().st_mode & 0o777 == 0o600
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30,
                            headers={"Authorization": f"Bearer {token}"})
        dataset = http.post("/datasets/builtin", json={"name": "iris"}).json()["id"]
        model = http.post("/models", json={"name": "iris", "spec": SPEC}).json()["id"]
        job = http.post("/jobs", json={"model_id": model, "dataset_id": dataset,
                                       "config": {"epochs": 3}}).json()
        for job_id in (job["id"], demo_id):
            def finished(j: int = job_id) -> bool:
                return http.get(f"/jobs/{j}").json()["status"] in FINISHED

            wait_until(finished, 240, f"job {job_id} to finish")
            assert http.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0

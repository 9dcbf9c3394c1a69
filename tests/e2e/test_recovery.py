"""A worker killed mid-job (with its pool children, as if its host died): the job resumes elsewhere."""

import signal

import pytest

from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

EPOCHS = 20  # ~8 s of training: the kill lands well before the job could finish on its own
SPEC = {"layers": [{"type": "Linear", "out_features": 64}, {"type": "ReLU"},
                   {"type": "Linear", "out_features": 10}]}


def test_killed_worker_job_resumes_from_checkpoint(stack: Stack) -> None:
    dataset = stack.post("/datasets/builtin", json={"name": "digits"})["id"]
    model = stack.post("/models", json={"name": "recovery", "spec": SPEC})["id"]
    job_id = stack.submit(model, dataset, {"epochs": EPOCHS, "batch_size": 32})

    def checkpointed() -> bool:
        return stack.client.get(f"/jobs/{job_id}/checkpoints").json()["count"] >= 1

    wait_until(checkpointed, 120, "the first checkpoint")
    for i, proc in enumerate(stack.workers):
        if proc is not None:
            stack.stop_worker(i, signal.SIGKILL)
    stack.start_worker()
    # Lease (8 s here) + a housekeeping round + the new worker's start: well within two minutes.
    resumed = wait_until(lambda: (j := stack.job(job_id))["attempts"] == 2 and j, 120,
                         "the job to be claimed again")
    assert resumed["status"] in ("running", "succeeded")
    job = stack.wait_job(job_id, {"succeeded"}, timeout_s=240)
    assert job["attempts"] == 2
    loss = stack.client.get(f"/jobs/{job_id}/metrics/train_loss").json()
    total = job["progress"]["total_steps"]
    assert loss["total_points"] == total == EPOCHS * -(-1438 // 32)
    assert len(stack.client.get(f"/jobs/{job_id}/metrics/val_loss").json()["steps"]) == EPOCHS

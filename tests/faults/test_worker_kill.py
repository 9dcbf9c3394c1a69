"""SIGKILL a worker mid-epoch: the reaper requeues the job, it resumes from its newest checkpoint and
ends with exactly the weights of an uninterrupted run, with no metric step stored twice or lost."""

import io
import signal

import pytest
import torch

from tests.faults.harness import MLP, builtin, series_steps, spec_model
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EPOCHS, BATCH = 20, 16  # ~2 s an epoch on this machine: a wide window to kill in, well past a checkpoint
STEPS_PER_EPOCH = -(-1438 // BATCH)  # digits: 1797 samples, 20 % held out
# Step checkpoints only (every 100 steps, epochs of 90): most of them fall mid-epoch.
CONFIG = {"epochs": EPOCHS, "batch_size": BATCH, "seed": 7, "checkpoint_every_epochs": None,
          "checkpoint_every_steps": 100, "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9}}


def final_weights(stack: Stack, job_id: int) -> dict[str, torch.Tensor]:
    steps = [c["step"] for c in stack.client.get(f"/jobs/{job_id}/checkpoints").json()["data"]]
    response = stack.client.get(f"/jobs/{job_id}/checkpoints/{max(steps)}")
    response.raise_for_status()
    return dict(torch.load(io.BytesIO(response.content), weights_only=True))


def _past_a_checkpoint(stack: Stack, job_id: int) -> int | None:
    """The newest checkpoint's step, once it is mid-epoch and training has gone past it (the kill loses
    work and the resume restores a data position inside an epoch)."""
    ckpts = stack.client.get(f"/jobs/{job_id}/checkpoints").json()["data"]
    if not ckpts:
        return None
    newest = max(c["step"] for c in ckpts)
    mid_epoch = newest % STEPS_PER_EPOCH != 0
    return newest if mid_epoch and stack.job(job_id)["progress"]["step"] > newest + 5 else None


def test_kill_worker_mid_epoch_resumes_to_identical_weights(fault_stack: Stack) -> None:
    stack = fault_stack
    dataset, model = builtin(stack, "digits"), spec_model(stack, MLP)
    killed = stack.submit(model, dataset, CONFIG, name="killed")
    checkpoint_step = wait_until(lambda: _past_a_checkpoint(stack, killed), 120, "training past a checkpoint")
    for i, proc in enumerate(stack.workers):
        if proc is not None:
            stack.stop_worker(i, signal.SIGKILL)
    lost_at = stack.job(killed)["progress"]["step"]
    assert stack.job(killed)["status"] == "running"  # nobody told the database: the reaper must notice
    stack.start_worker()
    job = stack.wait_job(killed, {"succeeded"}, timeout_s=240)
    assert job["attempts"] == 2 and job["error"] is None
    total = EPOCHS * STEPS_PER_EPOCH
    assert job["progress"]["step"] == total and checkpoint_step < lost_at < total
    # The primary key (job, name, step) stores a step once; a lost or skipped step would show here.
    assert series_steps(stack, killed, "train_loss") == list(range(1, total + 1))
    assert series_steps(stack, killed, "val_loss") == [STEPS_PER_EPOCH * e for e in range(1, EPOCHS + 1)]

    clean = stack.submit(model, dataset, CONFIG, name="uninterrupted")
    assert stack.wait_job(clean, {"succeeded"}, timeout_s=240)["attempts"] == 1
    resumed, reference = final_weights(stack, killed), final_weights(stack, clean)
    assert resumed.keys() == reference.keys() and resumed
    for name, tensor in reference.items():
        assert torch.equal(resumed[name], tensor), f"{name} differs after the resume"

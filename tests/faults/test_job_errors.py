"""A job that raises ends failed with one sentence naming the cause, and the same worker process then
runs the next job."""

import re
from typing import Any

import pytest

from tests.faults.harness import IRIS_MLP, builtin, db_rows, python_model, series_steps, spec_model
from tests.stack import Stack

pytestmark = pytest.mark.e2e

FAILS_AT_STEP_10 = """
import torch

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x):
        # Count only training batches: not the summary's meta dry run nor TensorBoard's graph trace.
        if self.training and x.device.type != "meta" and not torch.jit.is_tracing():
            self.calls += 1
            if self.calls == 10:
                raise ValueError("the gearbox jammed on purpose")
        return self.fc(x)
"""
HUGE_TENSOR = """
import torch

def build_model(input_shape, num_outputs):
    class Greedy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(input_shape[0], num_outputs)

        def forward(self, x):
            scratch = torch.empty(10**13)  # 40 TB of float32
            return self.fc(x) + scratch[0]

    return Greedy()
"""
SMALL = {"epochs": 1, "batch_size": 8, "max_steps": 15}


def worker_of(stack: Stack, job_id: int) -> str:
    database_url = stack.env["TORCHYARD_DATABASE_URL"]
    ((worker,),) = db_rows(database_url, "SELECT worker FROM jobs WHERE id = %s", job_id)
    return str(worker)


def run_failing_then_healthy(stack: Stack, model_id: int, config: dict[str, Any]) -> dict[str, Any]:
    """Submit the failing job and a healthy one behind it; the healthy one must run on the same process."""
    iris = builtin(stack, "iris")
    failing = stack.submit(model_id, iris, config, name="failing")
    healthy = stack.submit(spec_model(stack, IRIS_MLP), iris, SMALL, name="healthy")
    job = stack.wait_job(failing, {"failed"}, timeout_s=120)
    assert stack.wait_job(healthy, {"succeeded"}, timeout_s=120)["attempts"] == 1
    assert worker_of(stack, healthy) == worker_of(stack, failing)
    error = str(job["error"])
    assert "\n" not in error and "Traceback" not in error and len(error) < 300, error
    assert job["attempts"] == 1 and job["finished_at"] is not None
    return job


def test_fail_on_nan_loss_names_the_step(fault_stack: Stack) -> None:
    config = {**SMALL, "optimizer": {"type": "SGD", "lr": 1e30}, "normalize": False}
    job = run_failing_then_healthy(fault_stack, spec_model(fault_stack, IRIS_MLP), config)
    error = str(job["error"])
    assert re.search(r"(?i)(nan|inf|finite)", error) and re.search(r"step \d+", error), error
    logs = fault_stack.client.get(f"/jobs/{job['id']}/logs").text
    assert "Traceback" in logs  # the full story goes to the job's log, not its error sentence


def test_fail_in_python_model_at_step_10_names_exception_and_step(fault_stack: Stack) -> None:
    job = run_failing_then_healthy(fault_stack, python_model(fault_stack, FAILS_AT_STEP_10), SMALL)
    assert "the gearbox jammed on purpose" in str(job["error"])
    assert "step 10" in str(job["error"]) and "[8, 4]" in str(job["error"])
    # Nine optimizer steps finished before the tenth raised: their points and progress are kept.
    assert job["progress"]["step"] == 9
    assert series_steps(fault_stack, int(job["id"]), "train_loss") == list(range(1, 10))


def test_fail_on_huge_allocation_names_memory_and_size(fault_stack: Stack) -> None:
    job = run_failing_then_healthy(fault_stack, python_model(fault_stack, HUGE_TENSOR), SMALL)
    error = str(job["error"])
    assert "memory" in error and "40000000000000 bytes" in error and "step 1" in error, error

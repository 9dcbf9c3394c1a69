"""User Python code runs only in worker processes: a model file with a side effect at import leaves no
trace after POST /models, POST /jobs and GET /jobs/{id}/model, and its file appears once a worker runs it."""

import os
from pathlib import Path

import pytest

from tests.faults.harness import builtin, private_stack, python_model

pytestmark = pytest.mark.e2e

SIDE_EFFECT = """
import os
import torch

with open({marker!r}, "w") as fh:
    fh.write(str(os.getpid()))

def build_model(input_shape, num_outputs):
    return torch.nn.Linear(input_shape[0], num_outputs)
"""


def test_python_model_runs_only_in_a_worker(redis_url: str, tmp_path: Path, artifacts_dir: Path) -> None:
    marker = tmp_path / "imported-by"
    with private_stack(tmp_path, artifacts_dir, broker_url=redis_url, workers=0) as stack:
        model = python_model(stack, SIDE_EFFECT.format(marker=str(marker)))
        job_id = stack.submit(model, builtin(stack, "iris"), {"epochs": 1, "max_steps": 3})
        assert stack.client.get(f"/jobs/{job_id}/model").status_code < 500
        assert stack.job(job_id)["status"] == "queued"
        assert not marker.exists(), "the API process ran user code"
        stack.start_worker()
        stack.wait_job(job_id, {"succeeded"}, timeout_s=120)
        assert marker.exists(), "the worker should have imported the model file"
        assert stack.api_proc is not None
        ran_in = int(marker.read_text())
        assert ran_in != stack.api_proc.pid and ran_in != os.getpid()

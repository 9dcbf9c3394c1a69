"""Cancel in every state on real processes, then check the database tells one consistent story."""

from typing import Any

import pytest

from tests.faults.harness import IRIS_MLP, MLP, builtin, db_rows, spec_model
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

SMALL = {"epochs": 1, "batch_size": 16, "max_steps": 5}


def assert_consistent(stack: Stack, job_id: int) -> dict[str, Any]:
    """Final status matches the last status event; nothing was recorded past the job's last step."""
    url = stack.env["TORCHYARD_DATABASE_URL"]
    ((status, progress, heartbeat, finished, cancel),) = db_rows(
        url, "SELECT status, progress, heartbeat_at, finished_at, cancel_requested FROM jobs WHERE id = %s",
        job_id)
    events = db_rows(url, "SELECT data FROM events WHERE job_id = %s AND kind = 'status' ORDER BY id", job_id)
    assert events[-1][0]["status"] == status
    assert finished is not None and heartbeat is None, "a finished job must hold no lease"
    step = (progress or {}).get("step", 0)
    ((max_metric,),) = db_rows(url, "SELECT max(step) FROM metric_points WHERE job_id = %s", job_id)
    ckpts = [r[0] for r in db_rows(url, "SELECT step FROM checkpoints WHERE job_id = %s", job_id)]
    assert (max_metric or 0) <= step and all(s <= step for s in ckpts)
    return {"status": status, "step": step, "checkpoints": ckpts, "cancel_requested": cancel,
            "events": [e[0]["status"] for e in events]}


def test_cancel_queued_running_and_finished_jobs(fault_stack: Stack) -> None:
    stack = fault_stack
    digits, iris = builtin(stack, "digits"), builtin(stack, "iris")
    long_job = stack.submit(spec_model(stack, MLP), digits, {"epochs": 500, "batch_size": 16})
    wait_until(lambda: stack.job(long_job)["progress"]["step"] >= 5, 120, "the long job to train")
    small = spec_model(stack, IRIS_MLP)
    queued, after = (stack.submit(small, iris, SMALL, name=n) for n in ("queued", "after"))

    response = stack.client.post(f"/jobs/{queued}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    assert stack.client.post(f"/jobs/{long_job}/cancel").status_code == 202
    running = stack.wait_job(long_job, {"cancelled"}, timeout_s=60)
    # The queue is FIFO: once `after` has run, the cancelled job's message was delivered and skipped.
    finished = stack.wait_job(after, {"succeeded"}, timeout_s=120)

    state = assert_consistent(stack, queued)
    assert state["events"] == ["queued", "cancelled"] and state["step"] == 0 and not state["checkpoints"]
    assert stack.job(queued)["attempts"] == 0 and stack.job(queued)["started_at"] is None

    state = assert_consistent(stack, long_job)
    assert state["events"] == ["queued", "running", "cancelled"]
    assert max(state["checkpoints"]) == state["step"] == running["progress"]["step"]
    assert state["step"] < running["progress"]["total_steps"]

    response = stack.client.post(f"/jobs/{after}/cancel")
    assert response.status_code == 409 and "succeeded" in response.json()["detail"]
    assert stack.job(after) == finished, "refusing the cancel must leave the job untouched"
    assert assert_consistent(stack, after)["cancel_requested"] is False

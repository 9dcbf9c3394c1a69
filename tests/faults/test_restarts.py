"""Services restarted under load: Redis (private server), Postgres (private cluster), the API (while a
client follows a job). No job, metric point or checkpoint may be lost."""

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from client.client import Client
from tests.faults.harness import (
    IRIS_MLP,
    MLP,
    PostgresCluster,
    RedisServer,
    builtin,
    private_stack,
    series_steps,
    spec_model,
)
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DIGITS_STEPS_PER_EPOCH = -(-1438 // 16)
LONG = {"epochs": 8, "batch_size": 16}
SMALL = {"epochs": 1, "batch_size": 16, "max_steps": 5}


def health(stack: Stack) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(f"{stack.url}/api/v1/health", timeout=10)
    except httpx.HTTPError:
        return 0, {}
    return response.status_code, response.json()


def running_with_progress(stack: Stack, job_id: int) -> bool:
    job = stack.job(job_id)
    return job["status"] == "running" and job["progress"]["step"] > 0


def assert_complete(stack: Stack, job_id: int, epochs: int) -> None:
    total = epochs * DIGITS_STEPS_PER_EPOCH
    assert series_steps(stack, job_id, "train_loss") == list(range(1, total + 1))
    checkpoints = stack.client.get(f"/jobs/{job_id}/checkpoints").json()["data"]
    assert max(c["step"] for c in checkpoints) == total


def test_restart_redis_queued_jobs_run_and_running_job_finishes(tmp_path: Path, artifacts_dir: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        with private_stack(tmp_path, artifacts_dir, broker_url=server.url) as stack:
            digits, iris = builtin(stack, "digits"), builtin(stack, "iris")
            running = stack.submit(spec_model(stack, MLP), digits, LONG, name="running")
            wait_until(lambda: running_with_progress(stack, running), 120, "the long job to train")
            small = spec_model(stack, IRIS_MLP)
            queued = [stack.submit(small, iris, SMALL, name=f"queued-{i}") for i in range(3)]
            queue = stack.env["TORCHYARD_QUEUE"]
            assert redis.Redis.from_url(server.url).llen(queue) == 3  # waiting behind the running job
            server.stop()
            wait_until(lambda: health(stack)[0] == 503, 30, "/health to report the broker down")
            assert health(stack)[1]["broker"].startswith("error") and health(stack)[1]["database"] == "ok"
            assert stack.job(running)["status"] == "running"
            server.start()
            wait_until(lambda: health(stack)[0] == 200, 60, "/health to recover")
            for job_id in [running, *queued]:
                job = stack.wait_job(job_id, {"succeeded"}, timeout_s=180)
                assert job["attempts"] == 1, job
            assert_complete(stack, running, LONG["epochs"])
    finally:
        server.stop()


def _worker_saw_outage(stack: Stack) -> bool:
    logs = [p.read_text(errors="replace") for p in stack.log_dir.glob("*worker*.log")]
    return any("database unreachable, retrying" in text for text in logs)


def test_restart_postgres_job_finishes_and_health_recovers(tmp_path: Path, artifacts_dir: Path,
                                                           redis_url: str) -> None:
    cluster = PostgresCluster()
    try:
        cluster.init()
        with private_stack(tmp_path, artifacts_dir, broker_url=redis_url, database_url=cluster.url) as stack:
            job_id = stack.submit(spec_model(stack, MLP), builtin(stack, "digits"), LONG)
            wait_until(lambda: running_with_progress(stack, job_id), 120, "the job to train")
            cluster.stop()
            status, body = wait_until(lambda: (h := health(stack))[0] == 503 and h, 30, "/health to fail")
            assert body["database"].startswith("error") and body["broker"] == "ok"
            wait_until(lambda: _worker_saw_outage(stack), 60, "the worker to hit the outage")
            cluster.start()
            wait_until(lambda: health(stack)[0] == 200, 60, "/health to recover without an API restart")
            job = stack.wait_job(job_id, {"succeeded"}, timeout_s=240)
            assert job["error"] is None and job["attempts"] == 1  # retried writes, not a requeue
            assert_complete(stack, job_id, LONG["epochs"])
    finally:
        cluster.destroy()


def _follow(client: Client, job_id: int, sink: list[Any]) -> None:
    sink.extend(client.events(job_id, reconnect_timeout_s=90))


def test_restart_api_while_following_misses_no_point(fault_stack: Stack) -> None:
    stack = fault_stack
    job_id = stack.submit(spec_model(stack, MLP), builtin(stack, "digits"), LONG)
    received: list[Any] = []
    with Client(stack.url, stack.admin_token) as client:
        follower = threading.Thread(target=_follow, args=(client, job_id, received), daemon=True)
        follower.start()
        wait_until(lambda: any(e.event == "metric" for e in received), 120, "the first metric event")
        seen_before_restart = max(p["step"] for e in list(received) if e.event == "metric" for p in e.data)
        stack.restart_api()
        follower.join(timeout=240)
    assert not follower.is_alive(), "the follower did not see the job end"
    assert received[-1].event == "status" and received[-1].data["status"] == "succeeded"
    total = LONG["epochs"] * DIGITS_STEPS_PER_EPOCH
    assert seen_before_restart < total  # the restart happened mid-run
    ids = [int(e.id) for e in received]
    assert ids == sorted(set(ids)), "an event was repeated or came out of order"
    streamed = sorted(p["step"] for e in received if e.event == "metric" for p in e.data
                      if p["name"] == "train_loss")
    assert streamed == series_steps(stack, job_id, "train_loss")
    assert streamed == list(range(1, total + 1))

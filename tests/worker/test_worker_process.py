"""A real `torchyard worker` process (Celery prefork) takes a job from the Redis queue and runs it."""

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core.config import Settings
from server.core.db import session_scope
from server.store.models import Job
from tests.stack import CLI, wait_until
from tests.worker.conftest import make_job
from worker.enqueue import send_job


@pytest.fixture
def worker_process(platform: Settings, artifacts_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "TORCHYARD_DATABASE_URL": platform.database_url,
           "TORCHYARD_BROKER_URL": platform.broker_url, "TORCHYARD_QUEUE": platform.queue,
           "TORCHYARD_DATA_DIR": str(platform.data_dir)}
    with open(artifacts_dir / "worker-process.log", "wb") as log:
        proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def status(job_id: int) -> str:
    with session_scope() as session:
        return session.get_one(Job, job_id).status


def test_worker_process_runs_sent_job(platform: Settings, worker_process: subprocess.Popen[bytes]) -> None:
    with session_scope() as session:
        job = make_job(session, config={"epochs": 1})
    send_job(job.id)
    send_job(job.id)  # a duplicate message must not run the job twice
    wait_until(lambda: status(job.id) == "succeeded", 120, f"job {job.id} to succeed")
    with session_scope() as session:
        assert session.get_one(Job, job.id).attempts == 1
    assert worker_process.poll() is None

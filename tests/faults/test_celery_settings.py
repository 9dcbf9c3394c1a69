"""Celery settings for long jobs, and a redelivery inside a job's run that must not run it twice."""

import subprocess
import sys
from pathlib import Path

import pytest

from server.core.config import Settings
from tests.faults.harness import MLP, builtin, private_stack, series_steps, spec_model
from tests.stack import Stack, wait_until
from worker.app import VISIBILITY_TIMEOUT_S, app, celery_config

# A worker whose broker hands an unacknowledged message out again after 2 s, sweeping every second.
SHORT_WINDOW_WORKER = (
    "import worker.app as w; "
    "w.app.conf.broker_transport_options = {'visibility_timeout': 2, 'unacked_restore_interval': 1, "
    "'unacked_restore_throttle': 1}; "
    "from cli.main import app; app()"
)


def test_celery_conf_suits_long_jobs() -> None:
    conf = app.conf
    assert conf.task_acks_late is True  # a message is acknowledged only after the job ran
    assert conf.task_reject_on_worker_lost is True  # a killed pool child's message is not acked
    assert conf.worker_prefetch_multiplier == 1  # an idle worker does not hoard queued jobs
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"  # no pickle on the wire
    redis_conf = celery_config(Settings(broker_url="redis://127.0.0.1:6379/0"))
    # Longer than any job: Redis never hands a healthy long job's message to a second worker.
    assert redis_conf["broker_transport_options"]["visibility_timeout"] == VISIBILITY_TIMEOUT_S >= 7 * 86400


class ShortWindowStack(Stack):
    def start_worker(self) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"short-window-worker{len(self.workers)}.log", "wb")  # noqa: SIM115
        command = [sys.executable, "-c", SHORT_WINDOW_WORKER, "worker"]
        self.workers.append(subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True))
        return len(self.workers) - 1


def _redelivered(stack: Stack, job_id: int) -> bool:
    logs = [p.read_text(errors="replace") for p in stack.log_dir.glob("short-window-*.log")]
    return any(f"job {job_id}: not claimable" in text for text in logs)


@pytest.mark.e2e
@pytest.mark.slow
def test_job_longer_than_visibility_window_runs_once(redis_url: str, tmp_path: Path,
                                                     artifacts_dir: Path) -> None:
    with private_stack(tmp_path, artifacts_dir, broker_url=redis_url, workers=2,
                       stack_class=ShortWindowStack) as stack:
        epochs = 40  # well past the 2 s window even on a fast idle machine (6 epochs once took 2.5 s)
        job_id = stack.submit(spec_model(stack, MLP), builtin(stack, "digits"), {"epochs": epochs,
                                                                                 "batch_size": 16})
        # The idle second worker receives the message again while the first still trains.
        wait_until(lambda: _redelivered(stack, job_id), 120, "the broker to redeliver the running job")
        job = stack.wait_job(job_id, {"succeeded"}, timeout_s=300)
        assert job["attempts"] == 1 and job["progress"]["step"] == epochs * -(-1438 // 16)
        assert series_steps(stack, job_id, "train_loss") == list(range(1, job["progress"]["step"] + 1))

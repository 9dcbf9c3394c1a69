"""The Celery task. It carries only the job id and re-fetches everything from the database."""

import logging
import multiprocessing
import os
import socket
from typing import Any

from celery.signals import worker_process_init

from server.core.db import get_engine
from worker import runner
from worker.app import app
from worker.enqueue import TASK_NAME

log = logging.getLogger(__name__)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked child must not share the parent's pooled database connections.
    get_engine().dispose(close=False)
    _share_cores(int(os.environ.get("TORCHYARD_WORKER_CONCURRENCY", "1")))
    _allow_loader_workers()


def _allow_loader_workers() -> None:
    """Prefork children are daemonic, and multiprocessing refuses children to a daemonic process, so a
    job with num_workers > 0 would fail at its first batch. DataLoader workers are daemonic themselves
    and exit with their parent (torch's watchdog), so lifting the flag here orphans nothing."""
    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]


def _share_cores(concurrency: int) -> None:
    """A lone job uses every core; N pool children split them instead of oversubscribing."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, concurrency)))


@app.task(name=TASK_NAME, ignore_result=True)
def run_job(job_id: int) -> str | None:
    if not isinstance(job_id, int) or isinstance(job_id, bool):
        log.error("run_job got %r instead of a job id; dropping the message", job_id)
        return None
    return runner.run(job_id, worker_name=f"{socket.gethostname()}:{os.getpid()}")

"""send_job: what the API and housekeeping call to queue a job. Never imports torch."""

from functools import lru_cache

from celery import Celery

from server.core.config import get_settings
from worker.app import gpu_queue, make_app

TASK_NAME = "worker.tasks.run_job"


@lru_cache
def _sender(broker_url: str) -> Celery:
    # One producer app per broker URL: a process whose settings change (tests) never sends to a stale one.
    return make_app(get_settings())


def send_job(job_id: int, gpus: int = 0) -> None:
    """Queue a job's message (only its id); `gpus` > 1 routes it to workers with that many GPUs."""
    settings = get_settings()
    _sender(settings.broker_url).send_task(TASK_NAME, args=[job_id], queue=gpu_queue(settings.queue, gpus))

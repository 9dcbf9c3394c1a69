"""send_job: what the API and housekeeping call to queue a job. Never imports torch."""

from server.core.config import get_settings
from worker.app import app, gpu_queue

TASK_NAME = "worker.tasks.run_job"


def send_job(job_id: int, gpus: int = 0) -> None:
    """Queue a job's message (only its id); `gpus` > 1 routes it to workers with that many GPUs."""
    app.send_task(TASK_NAME, args=[job_id], queue=gpu_queue(get_settings().queue, gpus))

"""The Celery app: JSON messages carrying only a job id, settings for long training tasks.

Importing this module never imports torch, so the API can enqueue through it.
"""

from typing import Any

from celery import Celery

from server.core.config import Settings, get_settings

# Far longer than any job: recovering a dead worker's job is the reaper's work, not the broker's.
VISIBILITY_TIMEOUT_S = 30 * 24 * 3600


def gpu_queue(base: str, gpus: int) -> str:
    """Jobs that need several GPUs go to a queue only workers with that many GPUs consume."""
    return base if gpus <= 1 else f"{base}.gpus{gpus}"


def _transport_options(broker_url: str) -> dict[str, Any]:
    # Only Redis-like transports know visibility_timeout; kombu's SQLAlchemy one hands options to
    # create_engine, which refuses unknown keys.
    if broker_url.startswith(("redis://", "rediss://", "sqs://")):
        return {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    return {}


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.queue,
        "task_create_missing_queues": True,
        "broker_transport_options": _transport_options(settings.broker_url),
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "imports": ["worker.tasks"],
    }


def make_app(settings: Settings | None = None) -> Celery:
    celery = Celery("torchyard")
    celery.conf.update(celery_config(settings or get_settings()))
    return celery


app = make_app()

"""Housekeeping against real Postgres and Redis: requeued and unclaimed jobs get their messages re-sent."""

import base64
import json
from datetime import timedelta

import redis
from sqlalchemy import update

from server.core.config import Settings
from server.core.db import session_scope
from server.store.models import Job, utcnow
from tests.worker.conftest import make_job
from worker import housekeeping
from worker.enqueue import TASK_NAME, send_job


def queued_job_ids(settings: Settings, queue: str | None = None) -> list[int]:
    """The job ids of the task messages waiting in a Redis queue (kombu keeps a list per queue)."""
    client = redis.Redis.from_url(settings.broker_url)
    ids = []
    for raw in client.lrange(queue or settings.queue, 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == TASK_NAME
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return sorted(ids)


def drain(settings: Settings, *queues: str) -> None:
    redis.Redis.from_url(settings.broker_url).delete(settings.queue, *queues)


def test_send_job_routes_multi_gpu_jobs_to_their_queue(platform: Settings) -> None:
    drain(platform, f"{platform.queue}.gpus2")
    send_job(101)
    send_job(102, gpus=2)
    assert queued_job_ids(platform) == [101]
    assert queued_job_ids(platform, f"{platform.queue}.gpus2") == [102]
    drain(platform, f"{platform.queue}.gpus2")


def test_run_once_requeues_dead_workers_job_and_resends_it(platform: Settings) -> None:
    drain(platform)
    with session_scope() as session:
        job = make_job(session, status="running", attempts=1,
                       heartbeat_at=utcnow() - timedelta(seconds=platform.lease_timeout_s + 5))
    assert job.id in housekeeping.run_once(platform)
    with session_scope() as session:
        row = session.get_one(Job, job.id)
        assert (row.status, row.restarts) == ("queued", 1)
    assert job.id in queued_job_ids(platform)
    drain(platform)


def test_run_once_resends_unclaimed_queued_job_once(platform: Settings) -> None:
    drain(platform)
    with session_scope() as session:
        job = make_job(session, enqueued_at=utcnow() - timedelta(seconds=platform.requeue_after_s + 5))
        fresh = make_job(session, enqueued_at=utcnow())
    first = housekeeping.run_once(platform)
    second = housekeeping.run_once(platform)
    assert job.id in first and fresh.id not in first
    assert job.id not in second
    assert queued_job_ids(platform).count(job.id) == 1
    drain(platform)


def test_run_once_leaves_live_job_alone(platform: Settings) -> None:
    with session_scope() as session:
        job = make_job(session, status="running", attempts=1, heartbeat_at=utcnow())
    assert job.id not in housekeeping.run_once(platform)
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job.id).values(status="succeeded"))

"""Housekeeping that runs as a thread inside the api and worker processes (no extra process).

The reaper requeues running jobs whose worker went silent (or fails them past max_restarts); the
reconciler re-sends messages of queued jobs nobody claimed. Both transitions are conditional UPDATEs,
so several processes running housekeeping at once never requeue a job twice.
"""

import logging
import threading

from sqlalchemy import select

from server.core.config import Settings, get_settings
from server.core.db import session_scope
from server.store import events, jobs
from server.store.models import Job
from worker.enqueue import send_job

log = logging.getLogger(__name__)


def run_once(settings: Settings) -> list[int]:
    """One round; returns the ids whose messages were (re-)sent."""
    with session_scope() as session:
        requeued = jobs.requeue_stale(session, settings.lease_timeout_s)
        unclaimed = jobs.unclaimed_queued(session, settings.requeue_after_s)
    ids = sorted(set(requeued) | set(unclaimed))
    if not ids:
        return []
    with session_scope() as session:
        rows = session.execute(select(Job.id, Job.gpus).where(Job.id.in_(ids))).all()
        gpus = {job_id: n for job_id, n in rows}
    for job_id in ids:
        events.publish(job_id)
        send_job(job_id, gpus.get(job_id, 0))
    if requeued:
        log.warning("requeued jobs of silent workers: %s", requeued)
    if unclaimed:
        log.info("re-sent unclaimed queued jobs: %s", unclaimed)
    return ids


def _loop(settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.housekeeping_interval_s):
        try:
            run_once(settings)
        except Exception:  # the database or broker may be restarting; try again next round
            log.exception("housekeeping round failed")


def start(settings: Settings | None = None) -> threading.Event:
    """Start the housekeeping thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=_loop, args=(settings or get_settings(), stop),
                              name="torchyard-housekeeping", daemon=True)
    thread.start()
    return stop

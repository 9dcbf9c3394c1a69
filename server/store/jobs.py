"""The job state machine shared by the worker and housekeeping.

Every write a worker makes is fenced by (job_id, attempt): a worker that lost its lease (its job was
requeued and claimed again) changes nothing. Transitions are single conditional UPDATEs, so two
processes racing for the same job (duplicate delivery, two reapers) cannot both win.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from server.schemas import JobPublic, Progress
from server.store import blobs, events
from server.store.models import Checkpoint, Job, utcnow

DEFAULT_MAX_RESTARTS = 3


@dataclass
class CheckpointBlobs:
    """A checkpoint already serialised by the worker (server.store never imports torch)."""

    step: int
    epoch: int
    state: bytes  # full resume state (dl.checkpoint.to_bytes)
    weights: bytes  # the model's state_dict (dl.checkpoint.to_bytes)
    metrics: dict[str, Any] = field(default_factory=dict)


def job_object(job: Job) -> JobPublic:
    """The job object of the contract: REST answers and `status` events both come from here."""
    progress = {"epoch": 0, "step": 0, "total_steps": None, **(job.progress or {})}
    return JobPublic(
        id=job.id, name=job.name, status=job.status, model_id=job.model_id, dataset_id=job.dataset_id,
        config=job.config, error=job.error, progress=Progress.model_validate(progress),
        summary=job.summary or {}, attempts=job.attempts, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at)


def job_public(job: Job) -> dict[str, Any]:
    """The job object as JSON data (a `status` event's), serialised exactly as the REST routes do."""
    return job_object(job).model_dump(mode="json")


def _status_event(session: Session, job_id: int) -> None:
    job = session.get(Job, job_id, populate_existing=True)
    if job is not None:
        events.append_event(session, job_id, "status", job_public(job))


def _fenced(job_id: int, attempt: int) -> Any:
    return and_(Job.id == job_id, Job.attempts == attempt, Job.status == "running")


def claim(session: Session, job_id: int, lease_timeout_s: float, worker: str | None = None) -> int | None:
    """Take a queued job (or a running one whose worker went silent); returns the new attempt number."""
    now = utcnow()
    stale = and_(Job.status == "running", Job.heartbeat_at < now - timedelta(seconds=lease_timeout_s))
    stmt = (
        update(Job)
        .where(Job.id == job_id, or_(Job.status == "queued", stale), Job.cancel_requested.is_(False))
        .values(status="running", attempts=Job.attempts + 1, heartbeat_at=now, worker=worker,
                started_at=func.coalesce(Job.started_at, now), finished_at=None, error=None)
        .returning(Job.attempts)
        .execution_options(synchronize_session=False)
    )
    attempt = session.execute(stmt).scalar_one_or_none()
    if attempt is not None:
        _status_event(session, job_id)
    return attempt


def heartbeat(session: Session, job_id: int, attempt: int) -> bool:
    """Renew the lease. False when the lease is lost or a cancel was requested: the worker should stop."""
    stmt = (
        update(Job).where(_fenced(job_id, attempt)).values(heartbeat_at=utcnow())
        .returning(Job.cancel_requested).execution_options(synchronize_session=False)
    )
    cancel = session.execute(stmt).scalar_one_or_none()
    return cancel is False


def should_continue(session: Session, job_id: int, attempt: int) -> bool:
    """A read-only version of heartbeat(), cheap enough to poll every second for a quick cancel."""
    row = session.execute(
        select(Job.cancel_requested).where(_fenced(job_id, attempt))
    ).scalar_one_or_none()
    return row is False


def owns(session: Session, job_id: int, attempt: int) -> bool:
    """Whether this attempt still holds the job (a cancel request does not end ownership)."""
    return session.execute(select(Job.id).where(_fenced(job_id, attempt))).first() is not None


def set_progress(session: Session, job_id: int, attempt: int, progress: dict[str, Any]) -> bool:
    stmt = update(Job).where(_fenced(job_id, attempt)).values(progress=progress)
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount == 1  # type: ignore[attr-defined]


def set_fields(session: Session, job_id: int, attempt: int, **values: Any) -> bool:
    """Fenced update of worker-owned columns (model_info, tensorboard_sha256)."""
    stmt = update(Job).where(_fenced(job_id, attempt)).values(**values)
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount == 1  # type: ignore[attr-defined]


def finish(session: Session, job_id: int, attempt: int, status: str, error: str | None = None,
           summary: dict[str, Any] | None = None) -> bool:
    """End the attempt (succeeded | failed | cancelled) and append the final `status` event."""
    if status not in ("succeeded", "failed", "cancelled"):
        raise ValueError(f"finish: status must be succeeded, failed or cancelled, not {status!r}")
    current = session.execute(select(Job.summary).where(_fenced(job_id, attempt))).scalar_one_or_none()
    merged = {**(current or {}), **(summary or {})}
    stmt = (
        update(Job).where(_fenced(job_id, attempt))
        .values(status=status, error=error, summary=merged, finished_at=utcnow(), heartbeat_at=None)
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        return False
    _status_event(session, job_id)
    return True


def save_checkpoint(session: Session, job_id: int, attempt: int, ckpt: CheckpointBlobs, keep: int) -> bool:
    """Store a checkpoint's blobs and record, keeping only the `keep` newest of the job."""
    owned = session.execute(
        select(Job.id).where(_fenced(job_id, attempt)).with_for_update()
    ).scalar_one_or_none()
    if owned is None:
        return False
    state_sha, state_size = blobs.put_bytes(session, ckpt.state)
    weights_sha, weights_size = blobs.put_bytes(session, ckpt.weights)
    # A resumed attempt may reach a step the previous attempt had saved: the newer one wins.
    session.execute(delete(Checkpoint).where(Checkpoint.job_id == job_id, Checkpoint.step == ckpt.step))
    session.add(Checkpoint(job_id=job_id, step=ckpt.step, epoch=ckpt.epoch, attempt=attempt,
                           metrics=ckpt.metrics, state_sha256=state_sha, weights_sha256=weights_sha,
                           size_bytes=state_size + weights_size))
    session.flush()
    _prune_checkpoints(session, job_id, max(1, keep))
    return True


def _prune_checkpoints(session: Session, job_id: int, keep: int) -> None:
    old = session.execute(
        select(Checkpoint).where(Checkpoint.job_id == job_id)
        .order_by(Checkpoint.step.desc()).offset(keep)
    ).scalars().all()
    for ckpt in old:
        session.delete(ckpt)
    session.flush()


def newest_checkpoint(session: Session, job_id: int, step: int | None = None) -> Checkpoint | None:
    query = select(Checkpoint).where(Checkpoint.job_id == job_id)
    if step is not None:
        query = query.where(Checkpoint.step == step)
    return session.execute(query.order_by(Checkpoint.step.desc()).limit(1)).scalar_one_or_none()


def _max_restarts(job: Job) -> int:
    value = (job.config or {}).get("max_restarts", DEFAULT_MAX_RESTARTS)
    return value if isinstance(value, int) else DEFAULT_MAX_RESTARTS


def requeue_stale(session: Session, lease_timeout_s: float) -> list[int]:
    """Reaper: requeue running jobs whose worker went silent; fail those past max_restarts.

    Returns the ids requeued (the caller re-sends their messages after committing).
    """
    cutoff = utcnow() - timedelta(seconds=lease_timeout_s)
    stale_rows = session.execute(
        select(Job).where(Job.status == "running", Job.heartbeat_at < cutoff)
    ).scalars().all()
    requeued: list[int] = []
    for job in stale_rows:
        if _requeue_one(session, job, cutoff):
            requeued.append(job.id)
    return requeued


def _requeue_one(session: Session, job: Job, cutoff: datetime) -> bool:
    # The same staleness condition again: a second reaper racing on this row updates nothing.
    still_stale = and_(Job.id == job.id, Job.status == "running", Job.attempts == job.attempts,
                       Job.heartbeat_at < cutoff)
    limit = _max_restarts(job)
    if job.cancel_requested:
        values: dict[str, Any] = {"status": "cancelled", "finished_at": utcnow()}
    elif job.restarts >= limit:
        step = (job.progress or {}).get("step", 0)
        values = {"status": "failed", "finished_at": utcnow(), "error": (
            f"the worker running this job stopped responding at step {step} and the job was already "
            f"restarted {job.restarts} times (max_restarts={limit}); check the worker's logs for "
            f"crashes or out-of-memory kills, or raise max_restarts")}
    else:
        values = {"status": "queued", "restarts": Job.restarts + 1, "enqueued_at": utcnow()}
    stmt = update(Job).where(still_stale).values(heartbeat_at=None, **values)
    if session.execute(stmt.execution_options(synchronize_session=False)).rowcount != 1:  # type: ignore[attr-defined]
        return False
    _status_event(session, job.id)
    return values["status"] == "queued"


def unclaimed_queued(session: Session, older_than_s: float) -> list[int]:
    """Reconciler: queued jobs nobody claimed for a while; marks them re-sent now and returns their ids."""
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    stmt = (
        update(Job)
        .where(Job.status == "queued", Job.cancel_requested.is_(False),
               func.coalesce(Job.enqueued_at, Job.created_at) < cutoff)
        .values(enqueued_at=now)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.execute(stmt).scalars().all())


def active_job_using(session: Session, column: Any, object_id: int) -> int | None:
    """A queued or running job whose `column` (Job.dataset_id, Job.model_id) is object_id, if any."""
    return session.scalars(select(Job.id).where(column == object_id, Job.status.in_(("queued", "running")))
                           .limit(1)).first()


class InUse(Exception):
    """A dataset or model a queued or running job still uses cannot be deleted (HTTP 409)."""

    def __init__(self, kind: str, object_id: int, job_id: int) -> None:
        super().__init__(f"{kind} {object_id} is used by job {job_id}, which is queued or running")


def hide_unless_in_use(session: Session, obj: Any, column: Any, kind: str) -> None:
    """Soft-delete a dataset or model (finished jobs keep referring to it) and commit; InUse while a
    queued or running job uses it."""
    active = active_job_using(session, column, obj.id)
    if active is not None:
        raise InUse(kind, obj.id, active)
    obj.deleted = True
    session.commit()

"""The job state machine against real Postgres: claims, fencing, checkpoints, reaper, reconciler."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.store import jobs
from server.store.models import Checkpoint, Event, Job, utcnow
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.rows import make_job
from tests.store.conftest import migrated_sessions


@pytest.fixture(scope="module")
def db() -> Iterator[sessionmaker[Session]]:
    name, url = _create_pg_database()
    try:
        with migrated_sessions(url) as sessions:
            yield sessions
    finally:
        _drop_pg_database(name)


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as s:
        yield s


def fresh(session: Session, job_id: int) -> Job:
    session.expire_all()
    return session.get_one(Job, job_id)


def age_heartbeat(session: Session, job_id: int, seconds: float) -> None:
    session.execute(update(Job).where(Job.id == job_id)
                    .values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))
    session.commit()


def status_events(session: Session, job_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(Event).where(Event.job_id == job_id, Event.kind == "status")
                           .order_by(Event.id)).scalars().all()
    return [e.data for e in rows]


def test_claim_queued_job_starts_attempt_one(session: Session) -> None:
    job = make_job(session)
    assert jobs.claim(session, job.id, 30, worker="w1") == 1
    session.commit()
    row = fresh(session, job.id)
    assert (row.status, row.attempts, row.worker) == ("running", 1, "w1")
    assert row.started_at is not None and row.heartbeat_at is not None
    assert [e["status"] for e in status_events(session, job.id)] == ["running"]


def test_claim_duplicate_delivery_is_noop(session: Session) -> None:
    job = make_job(session)
    assert jobs.claim(session, job.id, 30) == 1
    session.commit()
    assert jobs.claim(session, job.id, 30) is None
    assert fresh(session, job.id).attempts == 1


def test_claim_cancel_requested_job_is_noop(session: Session) -> None:
    job = make_job(session, cancel_requested=True)
    assert jobs.claim(session, job.id, 30) is None
    assert fresh(session, job.id).status == "queued"


def test_claim_stale_running_job_fences_out_old_attempt(session: Session) -> None:
    job = make_job(session)
    assert jobs.claim(session, job.id, 30) == 1
    session.commit()
    age_heartbeat(session, job.id, 60)
    assert jobs.claim(session, job.id, 30) == 2
    session.commit()
    assert jobs.heartbeat(session, job.id, 1) is False
    assert jobs.finish(session, job.id, 1, "succeeded") is False
    assert jobs.heartbeat(session, job.id, 2) is True
    assert fresh(session, job.id).status == "running"


def test_heartbeat_reports_cancel_request(session: Session) -> None:
    job = make_job(session)
    jobs.claim(session, job.id, 30)
    session.commit()
    assert jobs.heartbeat(session, job.id, 1) is True
    assert jobs.should_continue(session, job.id, 1) is True
    session.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
    assert jobs.heartbeat(session, job.id, 1) is False
    assert jobs.should_continue(session, job.id, 1) is False
    assert jobs.owns(session, job.id, 1) is True


def test_finish_merges_summary_and_appends_final_status(session: Session) -> None:
    job = make_job(session, summary={"train_loss": 0.5})
    jobs.claim(session, job.id, 30)
    assert jobs.finish(session, job.id, 1, "succeeded", summary={"val_loss": 0.25}) is True
    session.commit()
    row = fresh(session, job.id)
    assert row.status == "succeeded" and row.finished_at is not None
    assert row.summary == {"train_loss": 0.5, "val_loss": 0.25}
    final = status_events(session, job.id)[-1]
    assert final["status"] == "succeeded" and final["summary"]["val_loss"] == 0.25
    assert set(final) >= {"id", "progress", "attempts", "created_at", "started_at", "finished_at"}


def test_finish_rejects_unknown_status(session: Session) -> None:
    job = make_job(session)
    jobs.claim(session, job.id, 30)
    with pytest.raises(ValueError, match="status must be"):
        jobs.finish(session, job.id, 1, "done")


def ckpt(step: int, payload: bytes = b"") -> jobs.CheckpointBlobs:
    return jobs.CheckpointBlobs(step=step, epoch=step, metrics={"val_loss": 1.0 / step},
                                state=b"state-%d" % step + payload, weights=b"weights-%d" % step)


def test_save_checkpoint_keeps_newest(session: Session) -> None:
    job = make_job(session)
    jobs.claim(session, job.id, 30)
    for step in (10, 20, 30):
        assert jobs.save_checkpoint(session, job.id, 1, ckpt(step), keep=2) is True
    session.commit()
    steps = session.execute(select(Checkpoint.step).where(Checkpoint.job_id == job.id)
                            .order_by(Checkpoint.step)).scalars().all()
    assert steps == [20, 30]
    newest = jobs.newest_checkpoint(session, job.id)
    assert newest is not None and newest.step == 30 and newest.size_bytes == len(b"state-30weights-30")


def test_save_checkpoint_same_step_replaces_record(session: Session) -> None:
    job = make_job(session)
    jobs.claim(session, job.id, 30)
    jobs.save_checkpoint(session, job.id, 1, ckpt(5), keep=3)
    jobs.save_checkpoint(session, job.id, 1, ckpt(5, b"-again"), keep=3)
    session.commit()
    rows = session.execute(select(Checkpoint).where(Checkpoint.job_id == job.id)).scalars().all()
    assert [r.size_bytes for r in rows] == [len(b"state-5-againweights-5")]


def test_save_checkpoint_fenced_by_attempt(session: Session) -> None:
    job = make_job(session)
    jobs.claim(session, job.id, 30)
    assert jobs.save_checkpoint(session, job.id, 7, ckpt(1), keep=3) is False
    assert jobs.newest_checkpoint(session, job.id) is None


def test_requeue_stale_requeues_once(session: Session) -> None:
    job = make_job(session)
    jobs.claim(session, job.id, 30)
    session.commit()
    age_heartbeat(session, job.id, 60)
    assert job.id in jobs.requeue_stale(session, 30)
    session.commit()
    assert job.id not in jobs.requeue_stale(session, 30)
    row = fresh(session, job.id)
    assert (row.status, row.restarts, row.attempts) == ("queued", 1, 1)
    assert status_events(session, job.id)[-1]["status"] == "queued"


def test_requeue_stale_ignores_live_heartbeat(session: Session) -> None:
    job = make_job(session)
    jobs.claim(session, job.id, 30)
    session.commit()
    assert job.id not in jobs.requeue_stale(session, 30)
    assert fresh(session, job.id).status == "running"


def test_requeue_stale_fails_past_max_restarts(session: Session) -> None:
    job = make_job(session, config={"max_restarts": 1}, restarts=1, progress={"step": 42})
    jobs.claim(session, job.id, 30)
    session.commit()
    age_heartbeat(session, job.id, 60)
    assert job.id not in jobs.requeue_stale(session, 30)
    session.commit()
    row = fresh(session, job.id)
    assert row.status == "failed" and row.finished_at is not None
    assert row.error is not None and "step 42" in row.error and "max_restarts=1" in row.error


def test_unclaimed_queued_resends_once(session: Session) -> None:
    old = make_job(session, enqueued_at=utcnow() - timedelta(seconds=120))
    new = make_job(session, enqueued_at=utcnow())
    first = jobs.unclaimed_queued(session, 60)
    session.commit()
    assert old.id in first and new.id not in first
    assert old.id not in jobs.unclaimed_queued(session, 60)

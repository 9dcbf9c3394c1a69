"""DBReporter against real Postgres: batched metric writes, cancel within a second, fencing, checkpoints."""

import io
import time
from collections.abc import Iterator

import pytest
import torch
from sqlalchemy import func, select, update

from dl.callbacks import Checkpoint, MetricPoint
from dl.checkpoint import to_bytes
from server.core.config import Settings
from server.core.db import session_scope
from server.store import blobs, jobs
from server.store.models import Event, Job
from server.store.models import MetricPoint as MetricRow
from tests.stack import wait_until
from tests.worker.conftest import make_job
from worker.reporter import DBReporter


@pytest.fixture
def claimed(platform: Settings) -> Iterator[tuple[int, DBReporter]]:
    with session_scope() as session:
        job = make_job(session, config={"keep_checkpoints": 2})
        attempt = jobs.claim(session, job.id, 30)
    assert attempt == 1
    reporter = DBReporter(job.id, attempt, keep_checkpoints=2, heartbeat_interval_s=0.3)
    reporter.start()
    yield job.id, reporter
    reporter.close()


def count(job_id: int, kind: str) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Event)
                                  .where(Event.job_id == job_id, Event.kind == kind)) or 0)


def test_on_metrics_writes_points_in_batches(claimed: tuple[int, DBReporter]) -> None:
    job_id, reporter = claimed
    reporter.on_train_start({"total_steps": 500})
    now = time.time()
    for step in range(1, 501):
        reporter.on_metrics([MetricPoint("train_loss", step, 1.0 / step, now)])
        reporter.on_progress(1, step, 500)
    reporter.on_train_end(None)
    with session_scope() as session:
        stored = session.scalar(select(func.count()).select_from(MetricRow).where(MetricRow.job_id == job_id))
        job = session.get_one(Job, job_id)
    assert stored == 500
    assert job.progress == {"epoch": 1, "step": 500, "total_steps": 500}
    assert job.summary["train_loss"] == pytest.approx(1.0 / 500)
    # The first point goes out at once for live viewers, the rest in a few batches: never one per point.
    assert 2 <= count(job_id, "metric") <= 20


def test_on_log_lines_become_log_events(claimed: tuple[int, DBReporter]) -> None:
    job_id, reporter = claimed
    reporter.on_log("epoch 1 done")
    reporter.on_log("epoch 2 done")
    reporter.flush()
    with session_scope() as session:
        rows = session.scalars(select(Event.data).where(Event.job_id == job_id, Event.kind == "log")
                               .order_by(Event.id)).all()
    assert [r["line"] for r in rows] == ["epoch 1 done", "epoch 2 done"]


def test_should_stop_follows_cancel_request_within_seconds(claimed: tuple[int, DBReporter]) -> None:
    job_id, reporter = claimed
    assert reporter.should_stop() is False
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    wait_until(reporter.should_stop, 3, "should_stop() to see the cancel request")
    assert reporter.lease_lost is False


def test_lost_lease_stops_and_writes_nothing(claimed: tuple[int, DBReporter]) -> None:
    job_id, reporter = claimed
    with session_scope() as session:  # another worker took the job over
        session.execute(update(Job).where(Job.id == job_id).values(attempts=2))
    reporter.on_metrics([MetricPoint("train_loss", 1, 0.5, time.time())])
    reporter.flush()
    assert reporter.should_stop() and reporter.lease_lost
    assert count(job_id, "metric") == 0


def test_on_checkpoint_stores_loadable_weights_and_prunes(claimed: tuple[int, DBReporter]) -> None:
    job_id, reporter = claimed
    model = torch.nn.Linear(4, 3)
    for step in (10, 20, 30):
        weights = {k: v + step for k, v in model.state_dict().items()}
        reporter.on_checkpoint(Checkpoint(step=step, epoch=step // 10, metrics={"val_loss": 0.1},
                                          state={"model": weights, "step": step}, weights=weights))
    with session_scope() as session:
        newest = jobs.newest_checkpoint(session, job_id)
        assert newest is not None and newest.step == 30
        loaded = torch.load(io.BytesIO(blobs.get_bytes(session, newest.weights_sha256)), weights_only=True)
        kept = session.scalar(select(func.count()).select_from(jobs.Checkpoint)
                              .where(jobs.Checkpoint.job_id == job_id))
    assert kept == 2
    assert torch.equal(loaded["bias"], model.state_dict()["bias"] + 30)
    assert to_bytes(loaded)  # still a plain state_dict

"""The runner in-process against real Postgres: a job trains to a final state; errors read as one sentence."""

import io
import logging
import tarfile
from datetime import timedelta

import pytest
import torch
from sqlalchemy import select, update

from dl.errors import ShapeError, mark_where
from server.core.config import Settings
from server.core.db import session_scope
from server.store import blobs, jobs
from server.store.models import Event, Job, ModelRecord, utcnow
from server.store.models import MetricPoint as MetricRow
from tests.worker.conftest import make_job
from worker.runner import error_sentence, run

SPE = 8  # iris: 150 samples, 120 in training, batch 16


def test_error_sentence_names_out_of_memory_step_and_batch_size() -> None:
    exc = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    expected = "ran out of memory at step 12 with batch_size 512; lower batch_size"
    assert error_sentence(exc, 12, 512) == expected


def test_error_sentence_says_where_outside_a_step_an_error_struck() -> None:
    exc = RuntimeError("disk full")
    mark_where(exc, "at the end of epoch 2, after step 16")
    assert error_sentence(exc, 17, 64) == "RuntimeError: disk full at the end of epoch 2, after step 16"


def test_error_sentence_keeps_engine_errors_verbatim() -> None:
    exc = ShapeError("layers.2", [64], "4 input features")
    assert error_sentence(exc, 1, 64) == str(exc)


def test_error_sentence_other_exception_has_type_message_and_step_only() -> None:
    exc = ValueError("math domain error\nTraceback (most recent call last): ...")
    assert error_sentence(exc, 7, 64) == "ValueError: math domain error at step 7"
    assert error_sentence(KeyError(), None, 64) == "KeyError before training started"


def steps_of(job_id: int, name: str) -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(MetricRow.step).where(MetricRow.job_id == job_id,
                                                                 MetricRow.name == name)
                                    .order_by(MetricRow.step)))


def test_run_trains_iris_to_success_with_artifacts(platform: Settings) -> None:
    with session_scope() as session:
        job = make_job(session, config={"epochs": 2, "batch_size": 16})
    assert run(job.id, "test") == "succeeded"
    assert run(job.id, "test") is None  # a duplicate delivery does nothing
    with session_scope() as session:
        row = session.get_one(Job, job.id)
        ckpt = jobs.newest_checkpoint(session, job.id)
        archive = blobs.get_bytes(session, str(row.tensorboard_sha256))
        final = session.scalars(select(Event).where(Event.job_id == job.id, Event.kind == "status")
                                .order_by(Event.id.desc()).limit(1)).one()
    assert (row.status, row.attempts, row.error) == ("succeeded", 1, None)
    assert row.progress["step"] == 2 * SPE and ckpt is not None and ckpt.step == 2 * SPE
    assert row.model_info is not None and row.model_info["parameters"] == 4 * 3 + 3
    assert set(row.summary) >= {"train_loss", "val_loss", "val_accuracy", "normalization"}
    assert final.data["status"] == "succeeded" and final.data["finished_at"] is not None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert any("events.out.tfevents" in name for name in tar.getnames())
    assert steps_of(job.id, "train_loss") == list(range(1, 2 * SPE + 1))


def test_run_resumes_from_newest_checkpoint_after_worker_loss(platform: Settings) -> None:
    with session_scope() as session:
        job = make_job(session, config={"epochs": 2, "batch_size": 16})
    assert run(job.id, "first") == "succeeded"
    with session_scope() as session:  # as if the first worker died after epoch 2 of a 4-epoch job
        session.execute(update(Job).where(Job.id == job.id).values(
            status="running", config={"epochs": 4, "batch_size": 16}, finished_at=None,
            heartbeat_at=utcnow() - timedelta(seconds=platform.lease_timeout_s + 1)))
    assert run(job.id, "second") == "succeeded"
    with session_scope() as session:
        row = session.get_one(Job, job.id)
    assert (row.attempts, row.progress["step"]) == (2, 4 * SPE)
    assert steps_of(job.id, "train_loss") == list(range(1, 4 * SPE + 1))
    assert len(steps_of(job.id, "val_loss")) == 4


def test_run_bad_spec_fails_with_one_sentence(platform: Settings) -> None:
    spec = {"layers": [{"type": "Linear", "in_features": 5, "out_features": 3}]}
    with session_scope() as session:
        job = make_job(session, spec=spec, config={"epochs": 1})
    assert run(job.id, "test") == "failed"
    with session_scope() as session:
        row = session.get_one(Job, job.id)
        logs = session.scalars(select(Event.data).where(Event.job_id == job.id, Event.kind == "log")).all()
    assert row.error is not None and "layers.0" in row.error and "\n" not in row.error
    assert any("Traceback" in entry["line"] for entry in logs)


PYTHON_MODEL = """
import torch

def build_model(input_shape, num_outputs):
    return torch.nn.Sequential(torch.nn.Linear(input_shape[0], 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, num_outputs))
"""


def test_run_python_model_file_trains(platform: Settings) -> None:
    with session_scope() as session:
        job = make_job(session, config={"epochs": 1, "batch_size": 16})
        model = session.get_one(ModelRecord, job.model_id)
        model.kind, model.spec, model.code = "python", None, PYTHON_MODEL
    assert run(job.id, "test") == "succeeded"
    with session_scope() as session:
        info = session.get_one(Job, job.id).model_info
    assert info is not None and info["parameters"] == (4 * 8 + 8) + (8 * 3 + 3)


def test_run_compiles_every_job_in_a_long_lived_worker(platform: Settings, caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # A job takes three dynamo cache entries (train, short last batch, no-grad validation): a limit of 4
    # makes the second job overflow the shared forward's cache unless each job starts afresh.
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 4)
    config = {"epochs": 1, "batch_size": 32, "compile": True}
    for hidden in (4, 6):
        spec = {"layers": [{"type": "Linear", "out_features": hidden}, {"type": "ReLU"},
                           {"type": "Linear", "out_features": 3}]}
        with session_scope() as session:
            job = make_job(session, spec=spec, config=config)
        with caplog.at_level(logging.WARNING, logger="torch._dynamo"):
            assert run(job.id, "test") == "succeeded"
    assert not [r for r in caplog.records if "recompile_limit" in r.getMessage()]

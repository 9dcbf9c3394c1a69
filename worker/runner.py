"""Run one job: claim it, materialise its dataset, build its model, train with the DB reporter, finish."""

import io
import logging
import re
import tarfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl.callbacks import CallbackList, TensorBoardCallback
from dl.checkpoint import from_bytes
from dl.config import TrainConfig, parse_config
from dl.data import ArrayData, load_builtin, load_file
from dl.errors import ConfigError, DLError, where_marked
from dl.plan import plan_job
from dl.pymodel import load_python_model
from dl.spec import build_model
from dl.summary import describe
from dl.train import TrainResult, train
from server.core.config import get_settings
from server.core.db import session_scope
from server.store import blobs, events, jobs
from server.store.models import Dataset, Job, ModelRecord
from worker.reporter import DBReporter

log = logging.getLogger(__name__)
TENSORBOARD_ARCHIVE_EVERY_S = 30.0


@dataclass
class JobInputs:
    job: Job
    model: ModelRecord
    dataset: Dataset


@dataclass
class Outcome:
    status: str  # succeeded | cancelled | failed
    error: str | None = None
    summary: dict[str, Any] | None = None
    cause: BaseException | None = None


def run(job_id: int, worker_name: str) -> str | None:
    """Run the job if this delivery wins the claim; returns the final status (None: not ours)."""
    settings = get_settings()
    with session_scope() as session:
        attempt = jobs.claim(session, job_id, settings.lease_timeout_s, worker=worker_name)
    if attempt is None:
        log.info("job %s: not claimable (finished, cancelled or running elsewhere); skipping", job_id)
        return None
    events.publish(job_id)
    inputs = _load_inputs(job_id)
    if inputs.job.gpus > 1:
        from worker.ddp import launch  # data-parallel: one process per rank, rank 0 runs execute()

        outcome = launch(inputs, attempt)
    else:
        outcome = execute(inputs, attempt)
    if outcome is None:
        return None
    return _end(job_id, attempt, outcome.status, error=outcome.error, summary=outcome.summary,
                logdir=settings.tensorboard_dir / str(job_id))


def execute(inputs: JobInputs, attempt: int) -> Outcome | None:
    """Train the claimed job, reporting to the database; None when the lease was lost."""
    settings, job_id = get_settings(), inputs.job.id
    logdir = settings.tensorboard_dir / str(job_id)
    reporter = DBReporter(job_id, attempt, keep_checkpoints=int(inputs.job.config.get("keep_checkpoints", 3)),
                          heartbeat_interval_s=settings.heartbeat_interval_s,
                          after_checkpoint=lambda: _checkpoint_tensorboard(reporter, logdir))
    reporter.tensorboard = TensorBoardCallback(logdir)
    reporter.start()
    try:
        config = parse_config(inputs.job.config)
        result = _train(inputs, config, attempt, reporter, logdir)
    except Exception as exc:  # any failure of user code or data ends the job with one sentence
        reporter.log_line(traceback.format_exc().rstrip())
        reporter.close()
        batch_size = int(inputs.job.config.get("batch_size", 64))
        sentence = error_sentence(exc, reporter.step + 1 if reporter.started else None, batch_size)
        return Outcome("failed", error=sentence, cause=exc)
    reporter.close()
    if reporter.lease_lost:
        return None
    status = "succeeded" if result.status == "succeeded" else "cancelled"
    return Outcome(status, summary=_summary(result))


def _load_inputs(job_id: int) -> JobInputs:
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        return JobInputs(job=job, model=session.get_one(ModelRecord, job.model_id),
                         dataset=session.get_one(Dataset, job.dataset_id))


def _train(inputs: JobInputs, config: TrainConfig, attempt: int, reporter: DBReporter,
           logdir: Path) -> TrainResult:
    job = inputs.job
    data = materialise(inputs.dataset)
    if config.compile:
        # Spec models share one forward code object, and this process outlives jobs: without a reset,
        # dynamo's per-function cache fills after a few architectures and later jobs silently run eager.
        torch._dynamo.reset()
    torch.manual_seed(config.seed)  # one seed fixes the initial weights too
    model = _build(inputs.model, data, config)
    init_weights = _init_weights(config.init_from, job.owner_id) if config.init_from else None
    resume = _resume_state(job.id) if attempt > 1 else None
    with session_scope() as session:
        jobs.set_fields(session, job.id, attempt, model_info=describe(model, data.info.input_shape))
    callbacks = CallbackList([reporter.tensorboard, reporter])
    # dl.train loads init_weights and applies config.freeze (skipped on resume: the state has both).
    return train(model, data, config, callbacks=callbacks, resume=resume, init_weights=init_weights)


def materialise(dataset: Dataset) -> ArrayData:
    """Tensors of a dataset; an uploaded file is fetched into the worker's cache once per sha256."""
    if dataset.format == "builtin":
        return load_builtin(str(dataset.builtin_name))
    sha = str(dataset.blob_sha256)
    path = get_settings().cache_dir / f"{sha}.{dataset.format}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with session_scope() as session:
            blobs.blob_to_file(session, sha, path)
    return load_file(path, dataset.format, dataset.target_column)


def _build(record: ModelRecord, data: ArrayData, config: TrainConfig) -> torch.nn.Module:
    shape = list(data.info.input_shape)
    if record.kind == "python":
        if not get_settings().allow_code:
            raise DLError("this platform does not run Python model files (TORCHYARD_ALLOW_CODE=false); "
                          "use a JSON model spec")
        plan = plan_job(None, data.info, config)
        return load_python_model(str(record.code), shape, plan.num_outputs)
    return build_model(dict(record.spec or {}), shape)


def _init_weights(init_from: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """The weights of an earlier checkpoint of the same user's job (`init_from`)."""
    source_id, step = init_from.get("job_id"), init_from.get("step")
    with session_scope() as session:
        source = session.get(Job, source_id) if isinstance(source_id, int) else None
        ckpt = jobs.newest_checkpoint(session, source.id, step) if source and source.owner_id == owner_id \
            else None
        if ckpt is None:
            where = f" at step {step}" if step is not None else ""
            raise ConfigError(("init_from", "job_id"), f"job {source_id} has no checkpoint{where} of yours")
        return from_bytes(blobs.get_bytes(session, ckpt.weights_sha256))


def _resume_state(job_id: int) -> dict[str, Any] | None:
    with session_scope() as session:
        ckpt = jobs.newest_checkpoint(session, job_id)
        if ckpt is None:
            return None
        return from_bytes(blobs.get_bytes(session, ckpt.state_sha256))


def _summary(result: TrainResult) -> dict[str, Any]:
    summary: dict[str, Any] = dict(result.metrics)
    if result.normalization:
        summary["normalization"] = result.normalization
    return summary


def _end(job_id: int, attempt: int, status: str, *, logdir: Path, error: str | None = None,
         summary: dict[str, Any] | None = None) -> str | None:
    _upload_tensorboard(job_id, attempt, logdir)
    with session_scope() as session:
        done = jobs.finish(session, job_id, attempt, status, error=error, summary=summary)
    events.publish(job_id)
    return status if done else None


def _checkpoint_tensorboard(reporter: DBReporter, logdir: Path) -> None:
    # Archiving at every checkpoint would dominate short epochs; the final archive is always made.
    if time.monotonic() - reporter.tensorboard_archived < TENSORBOARD_ARCHIVE_EVERY_S:
        return
    if reporter.tensorboard is not None:
        reporter.tensorboard.writer.flush()  # the archive should hold every point written so far
    _upload_tensorboard(reporter.job_id, reporter.attempt, logdir)
    reporter.tensorboard_archived = time.monotonic()


def _upload_tensorboard(job_id: int, attempt: int, logdir: Path) -> None:
    """Copy the job's TensorBoard folder into the blob store, so any API host can serve it."""
    if not logdir.is_dir():
        return
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(logdir, arcname=str(job_id))
    with session_scope() as session:
        sha, _ = blobs.put_bytes(session, buffer.getvalue())
        jobs.set_fields(session, job_id, attempt, tensorboard_sha256=sha)


OOM_WORDS = ("out of memory", "can't allocate memory")  # CUDA's and the CPU allocator's wording
_REQUESTED = re.compile(r"tried to allocate (\d+) bytes", re.IGNORECASE)


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError | MemoryError) or any(w in text for w in OOM_WORDS)


def error_sentence(exc: BaseException, step: int | None, batch_size: int) -> str:
    """One sentence a user can act on; the traceback goes to the job's log instead."""
    where = where_marked(exc) or (f"at step {step}" if step is not None else "before training started")
    if is_out_of_memory(exc):
        asked = _REQUESTED.search(str(exc))
        if asked:  # a single absurd allocation is the model's doing more than the batch's
            return (f"ran out of memory {where} trying to allocate {asked.group(1)} bytes with batch_size "
                    f"{batch_size}; lower batch_size or what the model allocates")
        return f"ran out of memory {where} with batch_size {batch_size}; lower batch_size"
    if isinstance(exc, DLError):
        return str(exc)
    lines = str(exc).strip().splitlines()
    message = f": {lines[0]}" if lines else ""
    return f"{type(exc).__name__}{message} {where}"

"""Jobs: submit (validated and dry-run on the meta device before queueing), list, get, model, cancel."""

import json
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dl.config import parse_config
from dl.data import DatasetInfo
from dl.errors import ConfigError, DLError
from dl.plan import plan_job
from server.api.deps import (
    MAX_ID,
    CurrentUser,
    OwnedJob,
    PagingDep,
    SessionDep,
    find_dataset,
    find_job,
    find_model,
)
from server.api.errors import Invalid, Located, located
from server.api.pycode import require_code_allowed
from server.core.config import get_settings
from server.schemas import JobCreate, JobPublic, ModelInfo, Page
from server.store.events import append_event, publish
from server.store.jobs import job_object, job_public, newest_checkpoint
from server.store.models import Dataset, Job, ModelRecord, User, utcnow

router = APIRouter(tags=["jobs"])
log = logging.getLogger(__name__)
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED = ("succeeded", "failed", "cancelled")


def _owned_inputs(session: Session, user: User, body: JobCreate) -> tuple[ModelRecord, Dataset]:
    try:
        model = find_model(session, user, body.model_id)
    except HTTPException as exc:
        raise Invalid(["body", "model_id"], f"model {body.model_id} not found") from exc
    try:
        dataset = find_dataset(session, user, body.dataset_id)
    except HTTPException as exc:
        raise Invalid(["body", "dataset_id"], f"dataset {body.dataset_id} not found") from exc
    return model, dataset


def _check_fits(body: JobCreate, model: ModelRecord, dataset: Dataset) -> int:
    """Parse the config and dry-run the model against the dataset on "meta"; returns the GPUs asked."""
    try:
        json.dumps(body.config, allow_nan=False)
    except ValueError as exc:
        raise Invalid(["body", "config"], "the config holds NaN or Infinity; JSON cannot carry them") from exc
    with located("body", "config"):
        config = parse_config(body.config)
    info = DatasetInfo(num_samples=dataset.num_samples, input_shape=list(dataset.input_shape),
                       target=dict(dataset.target))
    try:
        plan = plan_job(model.spec if model.kind == "spec" else None, info, config)
    except ConfigError as err:
        raise Located(["body", "config"], err) from err
    except DLError as err:  # the model does not fit the dataset: names the layer and shapes
        raise Located(["body", "model_id"], err) from err
    limit = get_settings().max_parameters
    if plan.parameters > limit:
        raise Invalid(["body", "model_id"], f"the model has {plan.parameters:,} parameters, above this "
                      f"server's limit of {limit:,} (TORCHYARD_MAX_PARAMETERS)")
    return int(config.gpus or 0)


def _check_init_from(session: Session, user: User, init_from: dict[str, Any] | None) -> None:
    """`init_from` must name one of the user's jobs; a finished one must hold the asked checkpoint.
    A queued or running source may still write it, so that is left to the worker."""
    if not init_from:
        return
    source_id, step = init_from["job_id"], init_from.get("step")
    loc = ["body", "config", "init_from", "job_id"]
    try:
        if source_id > MAX_ID:  # ids are INTEGERs: a bigger one would overflow the query
            raise HTTPException(404)
        source = find_job(session, user, source_id)
    except HTTPException as exc:
        raise Invalid(loc, f"job {source_id} not found") from exc
    if source.status in FINISHED and newest_checkpoint(session, source.id, step) is None:
        at = f" at step {step}" if step is not None else ""
        raise Invalid(loc if step is None else ["body", "config", "init_from", "step"],
                      f"job {source_id} ({source.status}) has no checkpoint{at} to start from")


def _send(job_id: int, gpus: int) -> None:
    from worker.enqueue import send_job  # imported late: the broker client is only needed here

    try:
        send_job(job_id, gpus)
    except Exception as exc:  # the job is committed; housekeeping re-sends unclaimed queued jobs
        log.warning("queueing job %s failed (housekeeping will retry): %s", job_id, exc)


@router.post("/jobs", status_code=status.HTTP_201_CREATED, response_model=JobPublic)
def create_job(body: JobCreate, session: SessionDep, user: CurrentUser) -> JobPublic:
    model, dataset = _owned_inputs(session, user, body)
    if model.kind == "python":  # a worker would refuse it too, but only after it was queued
        require_code_allowed()
    gpus = _check_fits(body, model, dataset)
    _check_init_from(session, user, body.config.get("init_from"))
    job = Job(owner_id=user.id, name=body.name or f"{model.name} on {dataset.name}", model_id=model.id,
              dataset_id=dataset.id, config=body.config, status="queued", gpus=gpus, enqueued_at=utcnow(),
              progress={}, summary={})
    session.add(job)
    session.flush()
    session.refresh(job)
    append_event(session, job.id, "status", job_public(job))
    session.commit()
    _send(job.id, gpus)
    publish(job.id)
    return job_object(job)


@router.get("/jobs", response_model=Page[JobPublic])
def list_jobs(session: SessionDep, user: CurrentUser, page: PagingDep,
              status_: Annotated[Status | None, Query(alias="status")] = None) -> Page[JobPublic]:
    where: list[Any] = [Job.owner_id == user.id]
    if status_ is not None:
        where.append(Job.status == status_)
    rows = session.scalars(select(Job).where(*where).order_by(Job.id.desc())
                           .limit(page.limit).offset(page.offset))
    count = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    return Page[JobPublic](data=[job_object(j) for j in rows], count=count)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job: OwnedJob) -> JobPublic:
    return job_object(job)


@router.get("/jobs/{job_id}/model", response_model=ModelInfo,
            responses={409: {"description": "a Python model is described once a worker built it"}})
def job_model(job: OwnedJob, session: SessionDep) -> ModelInfo:
    if job.model_info:
        return ModelInfo.model_validate(job.model_info)
    model = session.get(ModelRecord, job.model_id)
    dataset = session.get(Dataset, job.dataset_id)
    if model is None or dataset is None or model.kind != "spec" or model.spec is None:
        raise HTTPException(409, "this job's model is Python code; its summary appears once a worker "
                            "has built it")
    from dl.spec import build_model
    from dl.summary import describe

    with located("model", "spec"):
        built = build_model(model.spec, dataset.input_shape, device="meta")
        return ModelInfo.model_validate(describe(built, dataset.input_shape))


@router.post("/jobs/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
             responses={409: {"description": "the job has already finished"}})
def cancel_job(job: OwnedJob, session: SessionDep) -> JobPublic:
    """A queued job is cancelled at once; a running one is asked to stop (its worker checkpoints)."""
    now_cancelled = session.execute(
        update(Job).where(Job.id == job.id, Job.status == "queued")
        .values(status="cancelled", finished_at=utcnow()).returning(Job.id)
        .execution_options(synchronize_session=False)).first()
    if now_cancelled is None:
        asked = session.execute(
            update(Job).where(Job.id == job.id, Job.status == "running")
            .values(cancel_requested=True).returning(Job.id)
            .execution_options(synchronize_session=False)).first()
        if asked is None:
            session.rollback()
            session.refresh(job)
            raise HTTPException(409, f"job {job.id} has already finished ({job.status})")
    session.refresh(job)
    if now_cancelled is not None:
        append_event(session, job.id, "status", job_public(job))
    session.commit()
    publish(job.id)
    return job_object(job)

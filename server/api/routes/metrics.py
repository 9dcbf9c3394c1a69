"""Metric series of a job: names, and one series downsampled with min/max/last buckets."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from server.api.deps import OwnedJob, SessionDep
from server.schemas import MetricNames, Series
from server.store.metrics import read_series, series_names

router = APIRouter(tags=["metrics"])


@router.get("/jobs/{job_id}/metrics", response_model=MetricNames)
def metric_names(job: OwnedJob, session: SessionDep) -> MetricNames:
    return MetricNames(names=series_names(session, job.id))


@router.get("/jobs/{job_id}/metrics/{name}", response_model=Series)
def metric_series(
    job: OwnedJob, session: SessionDep,
    name: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00]+$")],
    max_points: Annotated[int, Query(ge=1, le=1_000_000)] = 2000,
    since_step: Annotated[int | None, Query(ge=0, le=2**62, description="only steps after this one")] = None,
) -> Response:
    """Points with step > since_step; past max_points each bucket keeps its min, max and last point.

    Stream the job's events `?after=<last_event_id>` for a gapless history-then-live view.
    """
    body = Series.model_validate(read_series(session, job.id, name, max_points, since_step))
    # model_dump_json writes non-finite values (not JSON) as null.
    return Response(body.model_dump_json(), media_type="application/json")

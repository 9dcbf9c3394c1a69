"""GET /jobs/{id}/logs: the job's log lines (from its `log` events) as plain text."""

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from server.api.deps import OwnedJob, SessionDep
from server.store.models import Event

router = APIRouter(tags=["logs"])


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse)
def job_logs(job: OwnedJob, session: SessionDep) -> PlainTextResponse:
    rows = session.scalars(select(Event.data).where(Event.job_id == job.id, Event.kind == "log")
                           .order_by(Event.id))
    lines = [str(d.get("line", "")) if isinstance(d, dict) else str(d) for d in rows]
    return PlainTextResponse("".join(f"{line}\n" for line in lines))

"""GET /jobs/{id}/tensorboard: the job's TensorBoard event files as a .tar.gz from the blob store."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from server.api.deps import OwnedJob
from server.api.routes.checkpoints import attachment, stream_blob

router = APIRouter(tags=["tensorboard"])


@router.get("/jobs/{job_id}/tensorboard", response_class=StreamingResponse,
            responses={200: {"content": {"application/gzip": {}}}})
def tensorboard(job: OwnedJob) -> StreamingResponse:
    if not job.tensorboard_sha256:
        raise HTTPException(404, f"job {job.id} has no TensorBoard files yet")
    return StreamingResponse(stream_blob(job.tensorboard_sha256), media_type="application/gzip",
                             headers=attachment(f"job-{job.id}-tensorboard.tar.gz"))

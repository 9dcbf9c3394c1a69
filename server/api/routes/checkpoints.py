"""A job's checkpoints: the list, and one as weights (torch.save or safetensors) or as a deployable model
(TorchScript or ONNX, spec models only, with the job's input normalisation folded in)."""

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func, select

from server.api.deps import OwnedJob, PagingDep, SessionDep
from server.core.db import get_sessionmaker
from server.schemas import CheckpointPublic, Page
from server.store.blobs import get_bytes, iter_blob
from server.store.models import Checkpoint, Dataset, Job, ModelRecord

router = APIRouter(tags=["checkpoints"])


def stream_blob(sha256: str) -> Iterator[bytes]:
    """Chunks of a blob read with a session of its own, which lives only as long as the download."""
    with get_sessionmaker()() as session:
        yield from iter_blob(session, sha256)


def attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


@router.get("/jobs/{job_id}/checkpoints", response_model=Page[CheckpointPublic])
def list_checkpoints(job: OwnedJob, session: SessionDep, page: PagingDep) -> Page[CheckpointPublic]:
    rows = session.scalars(select(Checkpoint).where(Checkpoint.job_id == job.id)
                           .order_by(Checkpoint.step).limit(page.limit).offset(page.offset))
    count = session.scalar(select(func.count()).select_from(Checkpoint)
                           .where(Checkpoint.job_id == job.id)) or 0
    return Page[CheckpointPublic](data=[CheckpointPublic.model_validate(c) for c in rows], count=count)


@router.get("/jobs/{job_id}/checkpoints/{step}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download_checkpoint(job: OwnedJob, session: SessionDep, step: Annotated[int, Path(ge=0, le=2**62)],
                        format: Annotated[Literal["torch", "safetensors", "torchscript", "onnx"],
                                          Query()] = "torch") -> Response:
    """The model's state_dict: `torch.load(f, weights_only=True)`, or ?format=safetensors; or the trained
    spec model as ?format=torchscript (`torch.jit.load`) or ?format=onnx."""
    ckpt = session.get(Checkpoint, (job.id, step))
    if ckpt is None:
        raise HTTPException(404, f"job {job.id} has no checkpoint at step {step}")
    name = f"job-{job.id}-step-{step}"
    if format == "safetensors":
        from dl.checkpoint import from_bytes
        from dl.export import to_safetensors

        data = to_safetensors(from_bytes(get_bytes(session, ckpt.weights_sha256)))
        return Response(data, media_type="application/octet-stream",
                        headers=attachment(f"{name}.safetensors"))
    if format in ("torchscript", "onnx"):
        data = export_model(session, job, get_bytes(session, ckpt.weights_sha256), format)
        return Response(data, media_type="application/octet-stream",
                        headers=attachment(f"{name}.{'pt' if format == 'torchscript' else 'onnx'}"))
    return StreamingResponse(stream_blob(ckpt.weights_sha256), media_type="application/octet-stream",
                             headers=attachment(f"{name}.pt"))


def export_model(session: SessionDep, job: Job, weights: bytes, fmt: str) -> bytes:
    """Rebuild the spec model with the checkpoint's weights and trace it (never user code: 422 for .py)."""
    from dl.checkpoint import from_bytes
    from dl.export import to_onnx, to_torchscript
    from dl.spec import build_model

    record, dataset = session.get(ModelRecord, job.model_id), session.get(Dataset, job.dataset_id)
    if record is None or dataset is None or record.kind != "spec" or record.spec is None:
        raise HTTPException(422, "only spec models are exported by the server; a Python model's code "
                                 "runs on workers only: download its weights instead")
    model = build_model(record.spec, dataset.input_shape)
    model.load_state_dict(from_bytes(weights))
    export = to_torchscript if fmt == "torchscript" else to_onnx
    return export(model.eval(), dataset.input_shape, (job.summary or {}).get("normalization"))

"""Datasets: multipart upload (streamed to the blob store), scikit-learn builtins, list, get, delete."""

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dl.data import BUILTINS, DatasetInfo, inspect_file, load_builtin
from dl.errors import DLError, TargetError
from server.api.deps import CurrentUser, OwnedDataset, PagingDep, SessionDep
from server.api.errors import Invalid, located, plain_text
from server.core.config import get_settings
from server.schemas import BuiltinCreate, DatasetPublic, Page
from server.store.blobs import UploadTooLarge, put_blob
from server.store.jobs import hide_unless_in_use
from server.store.models import Dataset, Job, User

router = APIRouter(tags=["datasets"])
FORMATS = {".csv": "csv", ".npz": "npz", ".zip": "zip"}


def _format_of(filename: str | None) -> str:
    suffix = Path(filename or "").suffix.lower()
    if suffix not in FORMATS:
        raise Invalid(["body", "file"], f"file {filename!r} has an unknown extension; "
                      f"upload one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def _spool(src: IO[bytes], path: Path, max_bytes: int, chunk_bytes: int) -> None:
    """Copy the upload to a temp file the inspector reads, refusing it past max_bytes."""
    size = 0
    with path.open("wb") as copy:
        while chunk := src.read(chunk_bytes):
            size += len(chunk)
            if size > max_bytes:
                raise UploadTooLarge(max_bytes)
            copy.write(chunk)


def _chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(chunk_bytes):
            yield chunk


def _inspect(path: Path, fmt: str, target: str | None) -> DatasetInfo:
    with located("body", "file"):
        try:
            return inspect_file(path, fmt, target)
        except TargetError as err:  # the form field's fault, not the file's
            raise Invalid(["body", "target"], str(err)) from err
        except DLError:
            raise
        except Exception as exc:  # any unreadable user file is the client's problem, not a 500
            raise Invalid(["body", "file"], f"could not read the file as {fmt}: {exc}") from exc


def _save(session: Session, user: User, **fields: object) -> DatasetPublic:
    dataset = Dataset(owner_id=user.id, **fields)
    session.add(dataset)
    session.commit()
    return DatasetPublic.model_validate(dataset)


@router.post("/datasets", status_code=status.HTTP_201_CREATED, response_model=DatasetPublic,
             responses={413: {"description": "the file is larger than TORCHYARD_MAX_UPLOAD_BYTES"}})
def upload_dataset(session: SessionDep, user: CurrentUser, file: Annotated[UploadFile, File()],
                   name: Annotated[str | None, Form(max_length=200)] = None,
                   target: Annotated[str | None, Form(max_length=200)] = None) -> DatasetPublic:
    """Upload a .csv, .npz or .zip of images; `target` is the CSV target column (default: the last)."""
    fmt = _format_of(plain_text(file.filename, ["body", "file"]))
    name, target = plain_text(name, ["body", "name"]), plain_text(target, ["body", "target"])
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="torchyard-upload-") as tmp:
        path = Path(tmp) / f"upload.{fmt}"
        _spool(file.file, path, settings.max_upload_bytes, settings.blob_chunk_bytes)
        info = _inspect(path, fmt, target or None)
        # Stored only once it reads as a dataset: a bad file writes nothing, and the write is short.
        sha, size = put_blob(session, _chunks(path, settings.blob_chunk_bytes))
    return _save(session, user, name=(name or "").strip() or Path(file.filename or fmt).stem,
                 format=fmt, blob_sha256=sha, target_column=target or None,
                 num_samples=info.num_samples, input_shape=list(info.input_shape),
                 target=info.target, size_bytes=size, sha256=sha)


@router.post("/datasets/builtin", status_code=status.HTTP_201_CREATED, response_model=DatasetPublic)
def builtin_dataset(body: BuiltinCreate, session: SessionDep, user: CurrentUser) -> DatasetPublic:
    """One of scikit-learn's bundled datasets as its flat `data` array."""
    if body.name not in BUILTINS:
        raise Invalid(["body", "name"], f"unknown builtin dataset {body.name!r}; "
                      f"choose one of {', '.join(BUILTINS)}")
    data = load_builtin(body.name)
    digest = hashlib.sha256(data.x.numpy().tobytes())
    size = data.x.numpy().nbytes
    if data.y is not None:
        digest.update(data.y.numpy().tobytes())
        size += data.y.numpy().nbytes
    info = data.info
    return _save(session, user, name=body.name, format="builtin", builtin_name=body.name,
                 num_samples=info.num_samples, input_shape=list(info.input_shape), target=info.target,
                 size_bytes=size, sha256=digest.hexdigest())


@router.get("/datasets", response_model=Page[DatasetPublic])
def list_datasets(session: SessionDep, user: CurrentUser, page: PagingDep) -> Page[DatasetPublic]:
    where = (Dataset.owner_id == user.id, Dataset.deleted.is_(False))
    rows = session.scalars(select(Dataset).where(*where).order_by(Dataset.id.desc())
                           .limit(page.limit).offset(page.offset))
    count = session.scalar(select(func.count()).select_from(Dataset).where(*where)) or 0
    return Page[DatasetPublic](data=[DatasetPublic.model_validate(d) for d in rows], count=count)


@router.get("/datasets/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset: OwnedDataset) -> DatasetPublic:
    return DatasetPublic.model_validate(dataset)


@router.delete("/datasets/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={409: {"description": "a queued or running job uses the dataset"}})
def delete_dataset(dataset: OwnedDataset, session: SessionDep) -> Response:
    hide_unless_in_use(session, dataset, Job.dataset_id, "dataset")
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""Models: a JSON layer spec (validated here) or a Python file (stored, run only on workers)."""

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from dl.spec import validate_spec
from server.api.deps import CurrentUser, OwnedModel, PagingDep, SessionDep
from server.api.errors import Invalid, located, plain_text
from server.api.pycode import check_model_source, require_code_allowed
from server.schemas import ModelCreate, ModelPublic, Page
from server.store.jobs import hide_unless_in_use
from server.store.models import Job, ModelRecord, User

router = APIRouter(tags=["models"])
MAX_CODE_BYTES = 1024 * 1024
REQUEST_BODY = {"content": {
    "application/json": {"schema": ModelCreate.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "a .py model file"},
        "name": {"type": "string"}}}},
}, "required": True}


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


async def _json_body(request: Request) -> ModelCreate:
    try:
        raw: Any = json.loads(await request.body(), parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HTTPException(400, f"the body is not valid JSON: {exc}") from exc
    try:
        return ModelCreate.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(["body", *first["loc"]], first["msg"]) from exc


async def _python_body(request: Request) -> tuple[str, str]:
    """(name, source) of an uploaded .py file; the code is parsed (syntax, entry point), never run here."""
    require_code_allowed()
    form = await request.form(max_files=1, max_fields=4)
    upload, name = form.get("file"), form.get("name")
    if isinstance(name, str):
        plain_text(name, ["body", "name"])
    if not isinstance(upload, UploadFile) or not (upload.filename or "").endswith(".py"):
        raise Invalid(["body", "file"], "send the model as a multipart `file` ending in .py")
    plain_text(upload.filename, ["body", "file"])
    data = await upload.read(MAX_CODE_BYTES + 1)
    if len(data) > MAX_CODE_BYTES:
        raise HTTPException(413, f"a model file may be at most {MAX_CODE_BYTES} bytes")
    source = check_model_source(data, upload.filename or "model.py")
    title = name.strip() if isinstance(name, str) and name.strip() else (upload.filename or "model")
    return title.removesuffix(".py")[:200], source


def _store(session: Session, user: User, **fields: Any) -> ModelPublic:
    record = ModelRecord(owner_id=user.id, **fields)
    session.add(record)
    session.commit()
    return ModelPublic.model_validate(record)


@router.post("/models", status_code=status.HTTP_201_CREATED, response_model=ModelPublic,
             openapi_extra={"requestBody": REQUEST_BODY})
async def create_model(request: Request, session: SessionDep, user: CurrentUser) -> ModelPublic:
    """JSON `{"name", "spec"}`, or multipart `file` (.py) + `name` (403 unless ALLOW_CODE)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        name, source = await _python_body(request)
        return await run_in_threadpool(_store, session, user, name=name, kind="python", code=source)
    body = await _json_body(request)
    with located("body", "spec"):
        validate_spec(body.spec)
    return await run_in_threadpool(_store, session, user, name=body.name, kind="spec", spec=body.spec)


@router.get("/models", response_model=Page[ModelPublic])
def list_models(session: SessionDep, user: CurrentUser, page: PagingDep) -> Page[ModelPublic]:
    where = (ModelRecord.owner_id == user.id, ModelRecord.deleted.is_(False))
    rows = session.scalars(select(ModelRecord).where(*where)
                           .order_by(ModelRecord.id.desc()).limit(page.limit).offset(page.offset))
    count = session.scalar(select(func.count()).select_from(ModelRecord).where(*where)) or 0
    return Page[ModelPublic](data=[ModelPublic.model_validate(m) for m in rows], count=count)


@router.get("/models/{model_id}", response_model=ModelPublic)
def get_model(model: OwnedModel) -> ModelPublic:
    return ModelPublic.model_validate(model)


@router.delete("/models/{model_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={409: {"description": "a queued or running job uses the model"}})
def delete_model(model: OwnedModel, session: SessionDep) -> Response:
    """Hide the model (finished jobs keep referring to it); refused while a job that uses it is active."""
    hide_unless_in_use(session, model, Job.model_id, "model")
    return Response(status_code=status.HTTP_204_NO_CONTENT)

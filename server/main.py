"""The FastAPI app: the v1 API under /api/v1, OpenAPI docs at /docs, the dashboard at /."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from server.api import errors
from server.api.limits import BodyLimit
from server.api.routes import (
    checkpoints,
    datasets,
    events,
    health,
    jobs,
    logs,
    me,
    metrics,
    models,
    tensorboard,
    users,
)
from server.core.config import get_settings
from server.core.db import session_scope
from server.core.security import hash_token
from server.store.models import User

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SPA_PAGES = ("/", "/jobs/{job_id}", "/compare", "/new")
MULTIPART_SLACK = 1024 * 1024  # form fields and boundaries around an upload of the maximum size


def ensure_admin(token: str) -> None:
    """Make user "admin" hold this token (idempotent; one upsert, so racing processes agree)."""
    digest = hash_token(token)
    with session_scope() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(User).values(name="admin", token_hash=digest, admin=True)
        try:
            session.execute(stmt.on_conflict_do_update(index_elements=["name"],
                                                       set_={"token_hash": digest, "admin": True}))
        except IntegrityError:
            log.error("TORCHYARD_ADMIN_TOKEN is already the token of another user; admin not bootstrapped")
            raise


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    token = get_settings().admin_token
    if token:
        ensure_admin(token)
    yield


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    modules = (health, users, me, datasets, models, jobs, metrics, events, logs, checkpoints, tensorboard)
    for module in modules:
        router.include_router(module.router)
    return router


def mount_dashboard(app: FastAPI) -> None:
    index = WEB_DIR / "index.html"
    if not index.exists():
        WEB_DIR.mkdir(parents=True, exist_ok=True)
        index.write_text("<!doctype html><title>Torchyard</title><p>The dashboard is not built yet.</p>\n")

    def page() -> FileResponse:
        return FileResponse(index, media_type="text/html")

    # Explicit routes, so the pages load whatever Accept header a client sends.
    for path in SPA_PAGES:
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    app.frontend("/", directory=WEB_DIR, fallback="index.html")


def document_error_detail(app: FastAPI) -> None:
    """API.md lets a 422 `detail` be a sentence or a list of {loc, msg}: the schema says both."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                items = {"$ref": "#/components/schemas/ValidationError"}
                error["properties"]["detail"] = {"title": "Detail", "anyOf": [
                    {"type": "string"}, {"type": "array", "items": items}]}
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Torchyard", version="1", lifespan=lifespan,
                  description="Training-as-a-service for PyTorch. Every route but /api/v1/health needs "
                              "`Authorization: Bearer <token>`.")
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + MULTIPART_SLACK)
    errors.install(app)
    app.include_router(api_router())
    mount_dashboard(app)
    document_error_detail(app)
    return app


app = create_app()

"""GET /health: is the database answering, is the broker reachable."""

import sqlite3
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.core.config import get_settings
from server.core.db import get_engine
from server.schemas import Health

router = APIRouter(tags=["health"])


def check_database() -> str:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any failure means "down"; the message says why
        return f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300]


def _embedded_broker(url: str) -> str:
    database = make_url(url.removeprefix("sqla+")).database
    if not database or not Path(database).parent.is_dir():
        return f"error: embedded broker directory for {database!r} does not exist"
    with sqlite3.connect(database, timeout=2) as conn:
        conn.execute("SELECT 1")
    return "ok"


def check_broker() -> str:
    url = get_settings().broker_url
    try:
        if url.startswith(("redis://", "rediss://")):
            import redis

            with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as client:
                client.ping()
            return "ok"
        if url.startswith("sqla+sqlite"):
            return _embedded_broker(url)
        return "ok"  # other kombu transports (memory://) need no server
    except Exception as exc:  # any failure means "down"; the message says why
        return f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300]


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health() -> JSONResponse:
    database, broker = check_database(), check_broker()
    ok = database == "ok" and broker == "ok"
    body = Health(status="ok" if ok else "error", database=database, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

"""The events table: the SSE source of truth (metric batches, status changes, log lines).

Readers poll it by id, so streams survive API restarts and work on SQLite. publish() is only a
best-effort wake-up over Redis pub/sub for processes that want to react sooner than their poll.
"""

import json
import logging
import math
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from server.core.config import get_settings
from server.store.models import Event

log = logging.getLogger(__name__)
CHANNEL_PREFIX = "torchyard:events:"
KINDS = ("metric", "status", "log")


def _finite(data: Any) -> Any:
    """The same data with NaN/Infinity as null: JSON (and Postgres' json type) cannot hold them."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def to_json(data: Any) -> str:
    """Compact JSON (metric batches are large); non-finite floats become null."""
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)


def append_event(session: Session, job_id: int, kind: str, data: Any) -> int:
    """Add one event in the caller's transaction; returns its id (the SSE `id`)."""
    if kind not in KINDS:
        raise ValueError(f"event kind must be one of {KINDS}, not {kind!r}")
    # Pre-serialised text skips the ORM's JSON encoder; Postgres casts it to json.
    data_sql = "CAST(:data AS json)" if session.get_bind().dialect.name == "postgresql" else ":data"
    stmt = text(f"INSERT INTO events (job_id, kind, data) VALUES (:job_id, :kind, {data_sql}) RETURNING id")
    return int(session.execute(stmt, {"job_id": job_id, "kind": kind, "data": to_json(data)}).scalar_one())


def events_after(session: Session, job_ids: list[int], after_id: int, limit: int) -> list[Event]:
    """Events of these jobs with id > after_id, oldest first."""
    if not job_ids:
        return []
    stmt = (select(Event).where(Event.job_id.in_(job_ids), Event.id > after_id)
            .order_by(Event.id).limit(limit))
    return list(session.scalars(stmt))


def last_event_id(session: Session, job_id: int) -> int:
    return int(session.scalar(select(func.max(Event.id)).where(Event.job_id == job_id)) or 0)


@lru_cache
def _redis() -> Any:
    url = get_settings().broker_url
    if not url.startswith(("redis://", "rediss://")):
        return None
    import redis  # only needed when the broker is Redis

    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def publish(job_id: int) -> None:
    """Tell live viewers that a job has new events; failures are logged, never raised."""
    client = _redis()
    if client is None:
        return
    try:
        client.publish(f"{CHANNEL_PREFIX}{job_id}", b"1")
    except Exception as exc:  # a wake-up is optional: viewers still poll the table
        log.debug("event publish for job %s failed: %s", job_id, exc)

"""The events table: the SSE source of truth (metric batches, status changes, log lines).

Readers poll it by id, so streams survive API restarts and work on SQLite. publish() is only a
best-effort wake-up over Redis pub/sub for processes that want to react sooner than their poll.
"""

import json
import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Text, cast, func, select, text
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


def metric_points_json(job_id: int, points: Sequence[tuple[str, int, float, float]]) -> str:
    """The `metric` event data, formatted directly: far cheaper than dicts through json.dumps."""
    if not all(math.isfinite(p[2]) and math.isfinite(p[3]) for p in points):  # rare: JSON needs null
        return to_json([{"job_id": job_id, "name": n, "step": s, "value": v, "time": t}
                        for n, s, v, t in points])
    names: dict[str, str] = {}
    for name, *_ in points:
        names.setdefault(name, json.dumps(name))
    return "[" + ",".join(f'{{"job_id":{job_id},"name":{names[n]},"step":{s},"value":{v!r},"time":{t!r}}}'
                          for n, s, v, t in points) + "]"


def append_json(session: Session, job_id: int, kind: str, data_json: str) -> int:
    """Add one event whose data is already JSON text, in the caller's transaction; returns its id."""
    if kind not in KINDS:
        raise ValueError(f"event kind must be one of {KINDS}, not {kind!r}")
    # Pre-serialised text skips the ORM's JSON encoder; Postgres casts it to json.
    data_sql = "CAST(:data AS json)" if session.get_bind().dialect.name == "postgresql" else ":data"
    stmt = text(f"INSERT INTO events (job_id, kind, data) VALUES (:job_id, :kind, {data_sql}) RETURNING id")
    return int(session.execute(stmt, {"job_id": job_id, "kind": kind, "data": data_json}).scalar_one())


def append_event(session: Session, job_id: int, kind: str, data: Any) -> int:
    """Add one event in the caller's transaction; returns its id (the SSE `id`)."""
    return append_json(session, job_id, kind, to_json(data))


def events_after(session: Session, job_ids: list[int], after_id: int, limit: int) -> list[Event]:
    """Events of these jobs with id > after_id, oldest first."""
    if not job_ids:
        return []
    stmt = (select(Event).where(Event.job_id.in_(job_ids), Event.id > after_id)
            .order_by(Event.id).limit(limit))
    return list(session.scalars(stmt))


def events_after_raw(session: Session, job_id: int, after_id: int,
                     limit: int) -> list[tuple[int, int, str, str]]:
    """(id, job_id, kind, data as JSON text) after after_id: streams relay the text without parsing it."""
    stmt = (select(Event.id, Event.job_id, Event.kind, cast(Event.data, Text))
            .where(Event.job_id == job_id, Event.id > after_id).order_by(Event.id).limit(limit))
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(stmt)]


def last_event_id(session: Session, job_id: int, kind: str | None = None) -> int:
    """The newest event id of the job (of this kind, if given); 0 when there is none."""
    stmt = select(func.max(Event.id)).where(Event.job_id == job_id)
    if kind is not None:
        stmt = stmt.where(Event.kind == kind)
    return int(session.scalar(stmt) or 0)


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

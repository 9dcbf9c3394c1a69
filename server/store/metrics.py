"""Metric points: fenced batched writes (with write-time rollups) and downsampled series reads."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from server.store.downsample import Aggregates, group_points, merge
from server.store.events import append_json, last_event_id, metric_points_json
from server.store.models import Job, MetricPoint, MetricRollup
from server.store.rollups import LEVELS, ROLLUP_COLUMNS, Point, is_pg, upsert_rollups

BUCKET_POINTS = 3  # a downsampled bucket keeps its min, max and last point
PG_COPY = "COPY metric_points (job_id, name, step, value, time) FROM STDIN (FORMAT BINARY)"

def _lock_job(session: Session, job_id: int, attempt: int) -> dict[str, Any] | None:
    """Row-lock the job if `attempt` still owns it (the fence); returns its summary, else None."""
    stmt = (update(Job).where(Job.id == job_id, Job.attempts == attempt)
            .values(attempts=Job.attempts).returning(Job.summary)
            .execution_options(synchronize_session=False))
    row = session.execute(stmt).first()
    return None if row is None else dict(row[0] or {})


def _finite(value: float) -> float | None:
    # JSON (and Postgres' json type) has no NaN or Infinity: such a value is shown as null.
    return value if math.isfinite(value) else None


def _existing(session: Session, job_id: int, points: list[Point]) -> set[tuple[str, int]]:
    """(name, step) pairs of these points already stored (a resumed attempt re-logging a step)."""
    steps = [p[1] for p in points]
    stmt = select(MetricPoint.name, MetricPoint.step).where(
        MetricPoint.job_id == job_id, MetricPoint.name.in_({p[0] for p in points}),
        MetricPoint.step.between(min(steps), max(steps)))
    return {(r[0], r[1]) for r in session.execute(stmt)}


def _copy_points(session: Session, job_id: int, points: list[Point]) -> None:
    """Binary COPY: the fastest way into Postgres; no conflict is possible after _existing's filter."""
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cur, cur.copy(PG_COPY) as copy:  # type: ignore[union-attr]
        copy.set_types(["int4", "text", "int8", "float8", "float8"])
        for n, s, v, t in points:
            copy.write_row((job_id, n, s, v, t))


def _insert_points(session: Session, job_id: int, points: Sequence[Point]) -> list[Point]:
    """Insert the points not stored yet (first of duplicates wins) and return them in the order given.

    The caller holds the job's row lock, so nobody else inserts this job's points meanwhile.
    """
    unique: dict[tuple[str, int], Point] = {}
    for n, s, v, t in points:
        if not math.isnan(v):  # SQLite cannot store NaN (it reads back NULL); a NaN loss fails the job anyway
            unique.setdefault((str(n), int(s)), (str(n), int(s), float(v), float(t)))
    if not unique:
        return []
    existing = _existing(session, job_id, list(unique.values()))
    fresh = [p for k, p in unique.items() if k not in existing] if existing else list(unique.values())
    if not fresh:
        return []
    if is_pg(session):
        _copy_points(session, job_id, fresh)
    else:
        session.execute(insert(MetricPoint).prefix_with("OR IGNORE"), [
            {"job_id": job_id, "name": n, "step": s, "value": v, "time": t} for n, s, v, t in fresh])
    return fresh


def _update_summary(session: Session, job_id: int, summary: dict[str, Any], points: list[Point]) -> None:
    """Keep jobs.summary's last value per name (the value at the highest step of this batch)."""
    latest: dict[str, tuple[int, float]] = {}
    for n, s, v, _t in points:
        if n not in latest or s >= latest[n][0]:
            latest[n] = (s, v)
    summary.update({n: _finite(v) for n, (_s, v) in latest.items()})
    session.execute(update(Job).where(Job.id == job_id).values(summary=summary)
                    .execution_options(synchronize_session=False))


def write_points(session: Session, job_id: int, attempt: int,
                 points: Sequence[tuple[str, int, float, float]]) -> int:
    """Insert (name, step, value, time) points for the job's current attempt; returns how many were new.

    Fenced: writes nothing if jobs.attempts != attempt. Points already stored, and NaN values, are
    skipped; an infinite value is stored and read back as null. The new
    points go out as one `metric` event, and jobs.summary keeps each name's latest value.
    Runs in the caller's transaction (the caller commits).
    """
    if not points:
        return 0
    summary = _lock_job(session, job_id, attempt)
    if summary is None:
        return 0
    inserted = _insert_points(session, job_id, points)
    if not inserted:
        return 0
    upsert_rollups(session, job_id, inserted)
    append_json(session, job_id, "metric", metric_points_json(job_id, inserted))
    _update_summary(session, job_id, summary, inserted)
    return len(inserted)


def series_names(session: Session, job_id: int) -> list[str]:
    # The coarsest rollup level has a handful of rows per series, unlike metric_points.
    stmt = (select(MetricRollup.name).where(MetricRollup.job_id == job_id, MetricRollup.width == LEVELS[-1])
            .distinct().order_by(MetricRollup.name))
    return list(session.scalars(stmt))


def _as_points(rows: Sequence[Any]) -> Aggregates:
    """(step, value, time) rows as one-point aggregates."""
    return Aggregates.of_points(np.array([r[0] for r in rows], dtype=np.int64),
                                np.array([r[1] for r in rows], dtype=np.float64),
                                np.array([r[2] for r in rows], dtype=np.float64))


def _raw(session: Session, job_id: int, name: str, lo: int | None, hi: int | None = None) -> Aggregates:
    """Points with lo < step < hi (open bounds when None), as one-point aggregates."""
    stmt = select(MetricPoint.step, MetricPoint.value, MetricPoint.time).where(
        MetricPoint.job_id == job_id, MetricPoint.name == name)
    if lo is not None:
        stmt = stmt.where(MetricPoint.step > lo)
    if hi is not None:
        stmt = stmt.where(MetricPoint.step < hi)
    rows = session.execute(stmt.order_by(MetricPoint.step)).all()
    return _as_points(rows)


def _newest(session: Session, job_id: int, name: str, since: int | None, n: int) -> Aggregates:
    """The n points of highest step (after `since`), in step order."""
    stmt = select(MetricPoint.step, MetricPoint.value, MetricPoint.time).where(
        MetricPoint.job_id == job_id, MetricPoint.name == name)
    if since is not None:
        stmt = stmt.where(MetricPoint.step > since)
    rows = session.execute(stmt.order_by(MetricPoint.step.desc()).limit(n)).all()[::-1]
    return _as_points(rows)


def _rollups(session: Session, job_id: int, name: str, width: int, since: int | None) -> Aggregates:
    """Aggregates of steps > since at one level; the bucket that `since` cuts is rebuilt from raw points."""
    cols = [getattr(MetricRollup, c) for c in ROLLUP_COLUMNS]
    stmt = select(*cols).where(MetricRollup.job_id == job_id, MetricRollup.name == name,
                               MetricRollup.width == width)
    parts: list[Aggregates] = []
    if since is not None:
        first = since // width
        stmt = stmt.where(MetricRollup.bucket > first)
        partial = _raw(session, job_id, name, since, (first + 1) * width)
        if len(partial):
            parts.append(group_points(np.zeros(len(partial), np.int64), partial.last_step,
                                      partial.last_value, partial.last_time)[1])
    rows = session.execute(stmt.order_by(MetricRollup.bucket)).all()
    dtypes = [np.int64 if c == "count" or c.endswith("step") else np.float64 for c in ROLLUP_COLUMNS]
    columns: dict[str, Any] = {c: np.array([r[i] for r in rows], dtype=dt) for i, (c, dt) in enumerate(zip(
        ROLLUP_COLUMNS, dtypes, strict=True))}
    parts.append(Aggregates(**columns))
    return Aggregates.concat(parts)


def count_points(session: Session, job_id: int, name: str, since: int | None) -> int:
    """Points with step > since, summed from the coarsest rollups plus a count of the cut bucket."""
    width = LEVELS[-1]
    total = select(func.coalesce(func.sum(MetricRollup.count), 0)).where(
        MetricRollup.job_id == job_id, MetricRollup.name == name, MetricRollup.width == width)
    if since is None:
        return int(session.scalar(total) or 0)
    first = since // width
    partial = select(func.count()).select_from(MetricPoint).where(
        MetricPoint.job_id == job_id, MetricPoint.name == name,
        MetricPoint.step > since, MetricPoint.step < (first + 1) * width)
    return int(session.scalar(total.where(MetricRollup.bucket > first)) or 0) + int(
        session.scalar(partial) or 0)


def _level(total: int, buckets: int) -> int | None:
    """The rollup width to read: the coarsest giving two rows per bucket (so merging still picks
    within each bucket), else any giving one; None: few enough points to read them raw."""
    fits = [w for w in LEVELS if total // w >= buckets]
    fine = [w for w in fits if total // w >= 2 * buckets]
    return fine[-1] if fine else (fits[0] if fits else None)


def read_series(session: Session, job_id: int, name: str, max_points: int = 2000,
                since_step: int | None = None) -> dict[str, Any]:
    """The contract's metrics body: points with step > since_step, downsampled past max_points.

    A downsampled series keeps each bucket's min, max and last point. `last_event_id` is read
    first, so streaming `?after=` it from here misses no point (a repeat is possible, a gap is not).
    """
    last_id = last_event_id(session, job_id)
    total = count_points(session, job_id, name, since_step)
    downsampled = total > max_points
    if not downsampled or max_points < BUCKET_POINTS:
        # Too few points for one min/max/last bucket: the newest ones, so the last is always there.
        points = (_raw(session, job_id, name, since_step) if not downsampled
                  else _newest(session, job_id, name, since_step, max_points))
        steps, values, times = points.last_step, points.last_value, points.last_time
    else:
        buckets = max_points // BUCKET_POINTS
        width = _level(total, buckets)
        entries = (_raw(session, job_id, name, since_step) if width is None
                   else _rollups(session, job_id, name, width, since_step))
        steps, values, times = merge(entries, buckets)
    return {"name": name, "steps": steps.tolist(), "values": values.tolist(), "times": times.tolist(),
            "total_points": total, "downsampled": downsampled, "last_event_id": str(last_id)}



"""Write-time rollups of metric series: per (job, name, level, bucket) the min, max and last point.

A bucket merges across batches with one upsert (min of mins, max of maxes, the later last), so a
read of a 1,000,000-point series touches a few thousand rollup rows instead of every point.
"""

from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from server.store.downsample import group_points

# Bucket widths in steps; a read picks the coarsest one that still gives enough buckets.
# Wider first level = fewer rows to upsert per batch; series under 64 x (max_points / 3) points are
# downsampled from raw points instead.
LEVELS = (64, 256, 1024, 4096, 65536)
Point = tuple[str, int, float, float]  # (name, step, value, time)
ROLLUP_COLUMNS = ("count", "min_step", "min_value", "min_time", "max_step", "max_value", "max_time",
                  "last_step", "last_value", "last_time")


def _on_conflict() -> str:
    def pick(cond: str, col: str) -> str:
        return f"{col} = CASE WHEN {cond} THEN excluded.{col} ELSE metric_rollups.{col} END"

    lower = "excluded.min_value < metric_rollups.min_value"
    higher = "excluded.max_value > metric_rollups.max_value"
    later = "excluded.last_step > metric_rollups.last_step"
    sets = ["count = metric_rollups.count + excluded.count"]
    sets += [pick(lower, c) for c in ("min_step", "min_value", "min_time")]
    sets += [pick(higher, c) for c in ("max_step", "max_value", "max_time")]
    sets += [pick(later, c) for c in ("last_step", "last_value", "last_time")]
    return " ON CONFLICT (job_id, name, width, bucket) DO UPDATE SET " + ", ".join(sets)


_COLS = "job_id, name, width, bucket, " + ", ".join(ROLLUP_COLUMNS)
PG_ROLLUP = text(
    f"INSERT INTO metric_rollups ({_COLS}) SELECT :job_id, (CAST(:labels AS text[]))[u.i], u.width, "
    "u.bucket, " + ", ".join(f"u.{c}" for c in ROLLUP_COLUMNS) + " FROM unnest("
    "CAST(:name AS int[]), CAST(:width AS int[]), CAST(:bucket AS bigint[]), CAST(:count AS bigint[]), "
    "CAST(:min_step AS bigint[]), CAST(:min_value AS float8[]), CAST(:min_time AS float8[]), "
    "CAST(:max_step AS bigint[]), CAST(:max_value AS float8[]), CAST(:max_time AS float8[]), "
    "CAST(:last_step AS bigint[]), CAST(:last_value AS float8[]), CAST(:last_time AS float8[])) "
    "AS u(i, width, bucket, " + ", ".join(ROLLUP_COLUMNS) + ")"
    + _on_conflict())
SQLITE_ROLLUP = text(
    f"INSERT INTO metric_rollups ({_COLS}) VALUES (:job_id, :name, :width, :bucket, "
    + ", ".join(f":{c}" for c in ROLLUP_COLUMNS) + ")" + _on_conflict())



def is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def pg_array(items: Iterable[Any]) -> str:
    return "{" + ",".join(map(repr, items)) + "}"


def rollup_columns(names: list[str], steps: np.ndarray, values: np.ndarray,
                 times: np.ndarray) -> tuple[list[str], dict[str, list[Any]]]:
    """Aggregate points per (name, level, bucket): (labels, columns with `name` as a label index)."""
    labels, name_idx = np.unique(np.array(names, dtype=object), return_inverse=True)
    cols: dict[str, list[Any]] = {c: [] for c in ("name", "width", "bucket", *ROLLUP_COLUMNS)}
    for width in LEVELS:
        buckets = steps // width
        keys = name_idx.astype(np.int64) * (1 << 40) + buckets  # steps stay far below 2**40 * width
        group_keys, agg = group_points(keys, steps, values, times)
        cols["name"] += (group_keys >> 40).tolist()
        cols["width"] += [width] * len(group_keys)
        cols["bucket"] += (group_keys & ((1 << 40) - 1)).tolist()
        for c in ROLLUP_COLUMNS:
            cols[c] += getattr(agg, c).tolist()
    return [str(n) for n in labels], cols


def _upsert(session: Session, job_id: int, labels: list[str], cols: dict[str, list[Any]]) -> None:
    if is_pg(session):
        arrays = {c: pg_array(i + 1 for i in v) if c == "name" else pg_array(v) for c, v in cols.items()}
        session.execute(PG_ROLLUP, {"job_id": job_id, "labels": labels, **arrays})
        return
    rows = [dict(zip(cols, r, strict=True), job_id=job_id) for r in zip(*cols.values(), strict=True)]
    for row in rows:
        row["name"] = labels[row["name"]]
    session.execute(SQLITE_ROLLUP, rows)


def upsert_rollups(session: Session, job_id: int, points: list[Point]) -> None:
    """Fold newly inserted points into every level's buckets."""
    names = [p[0] for p in points]
    steps = np.fromiter((p[1] for p in points), np.int64, len(points))
    values = np.fromiter((p[2] for p in points), np.float64, len(points))
    times = np.fromiter((p[3] for p in points), np.float64, len(points))
    _upsert(session, job_id, *rollup_columns(names, steps, values, times))

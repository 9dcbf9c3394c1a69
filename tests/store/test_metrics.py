"""write_points and read_series on Postgres and SQLite: fencing, dedup, events, summary, rollups."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.store.metrics import LEVELS, read_series, series_names, write_points
from server.store.models import Event, Job, MetricRollup
from tests.rows import make_job
from tests.store.conftest import migrated_sessions


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def db(request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('m')) / 'm.db'}"
    with migrated_sessions(url) as sessions:
        yield sessions


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as s:
        yield s


@pytest.fixture
def job_id(session: Session) -> int:
    return make_job(session, status="running", attempts=2).id


def _metric_events(session: Session, job_id: int) -> list[list[dict[str, object]]]:
    stmt = select(Event).where(Event.job_id == job_id, Event.kind == "metric").order_by(Event.id)
    return [e.data for e in session.scalars(stmt)]


def test_write_points_fenced_by_attempt(session: Session, job_id: int) -> None:
    assert write_points(session, job_id, 1, [("loss", 1, 0.5, 1.0)]) == 0
    session.commit()
    assert _metric_events(session, job_id) == []
    assert write_points(session, job_id, 2, [("loss", 1, 0.5, 1.0)]) == 1


def test_write_points_skips_stored_steps_and_events_only_new_ones(session: Session, job_id: int) -> None:
    assert write_points(session, job_id, 2, [("loss", 1, 0.5, 1.0), ("loss", 2, 0.4, 2.0)]) == 2
    session.commit()
    again = [("loss", 2, 9.9, 3.0), ("loss", 3, 0.3, 3.0), ("loss", 3, 7.7, 3.0)]
    assert write_points(session, job_id, 2, again) == 1
    session.commit()
    events = _metric_events(session, job_id)
    assert len(events) == 2 and events[1] == [{"job_id": job_id, "name": "loss", "step": 3, "value": 0.3,
                                               "time": 3.0}]
    body = read_series(session, job_id, "loss", 2000, None)
    assert body["steps"] == [1, 2, 3] and body["values"] == [0.5, 0.4, 0.3]


def test_write_points_keeps_summary_at_latest_value(session: Session, job_id: int) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(summary={"normalization": {"mean": [0]}}))
    points = [("val_loss", 2, 0.2, 1.0), ("val_loss", 1, 0.9, 1.0), ("lr", 1, 0.1, 1.0)]
    write_points(session, job_id, 2, points)
    session.commit()
    summary = session.scalar(select(Job.summary).where(Job.id == job_id))
    assert summary == {"normalization": {"mean": [0]}, "val_loss": 0.2, "lr": 0.1}
    assert series_names(session, job_id) == ["lr", "val_loss"]


def test_rollups_match_brute_force_aggregates(session: Session, job_id: int) -> None:
    rng = np.random.default_rng(7)
    steps = np.sort(rng.choice(np.arange(1, 20_000), 5_000, replace=False))
    values = rng.normal(size=len(steps))
    points = [("x", int(s), float(v), float(s)) for s, v in zip(steps, values, strict=True)]
    for chunk in (points[:1234], points[1234:4000], points[4000:]):  # buckets merge across batches
        write_points(session, job_id, 2, chunk)
        session.commit()
    width = LEVELS[1]
    rows = session.scalars(select(MetricRollup).where(MetricRollup.job_id == job_id,
                                                      MetricRollup.width == width)).all()
    assert sum(r.count for r in rows) == len(points)
    for row in rows:
        inside = (steps // width) == row.bucket
        assert row.min_value == values[inside].min() and row.max_value == values[inside].max()
        assert row.last_step == steps[inside].max()
        assert row.min_step == steps[inside][np.argmin(values[inside])]

"""Metric series over the API: small series whole, long ones downsampled without losing spikes."""

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.store.jobs import claim
from server.store.metrics import write_points
from server.store.models import Event
from tests.api.conftest import Api, Headers, make_job

SPIKE_STEP, DIP_STEP, N = 4321, 777, 10_000


def running_job(api: Api, headers: Headers) -> int:
    job = make_job(api.client, headers)
    with api.session() as session:
        assert claim(session, job["id"], lease_timeout_s=30) == 1
        session.commit()
    return int(job["id"])


def write(api: Api, job_id: int, points: list[tuple[str, int, float, float]]) -> int:
    with api.session() as session:
        written = write_points(session, job_id, 1, points)
        session.commit()
    return written


def spiky(n: int = N) -> list[tuple[str, int, float, float]]:
    """A flat series with one spike and one dip: downsampling must keep both."""
    values = {SPIKE_STEP: 100.0, DIP_STEP: -50.0}
    return [("train_loss", s, values.get(s, (s % 10) / 10), 1000.0 + s) for s in range(1, n + 1)]


def series(client: TestClient, headers: Headers, job_id: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/jobs/{job_id}/metrics/train_loss", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def spiky_job(api: Api, alice: Headers) -> int:
    job_id = running_job(api, alice)
    for start in range(0, N, 2500):  # several batches, as a worker sends them
        assert write(api, job_id, spiky()[start:start + 2500]) == 2500
    return job_id


def test_metrics_names_lists_written_series(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    write(api, job_id, [("val_loss", 5, 0.5, 1.0), ("lr", 5, 0.1, 1.0)])
    body = api.client.get(f"/api/v1/jobs/{job_id}/metrics", headers=alice).json()
    assert body == {"names": ["lr", "val_loss"]}


@pytest.mark.parametrize("max_points", [3, 30, 3000])  # one bucket, rollup buckets, raw points
def test_series_downsampled_keeps_spike_dip_and_last(api: Api, alice: Headers, spiky_job: int,
                                                     max_points: int) -> None:
    body = series(api.client, alice, spiky_job, max_points=max_points)
    assert body["downsampled"] is True and body["total_points"] == N
    assert 3 <= len(body["steps"]) <= max_points
    points = dict(zip(body["steps"], body["values"], strict=True))
    assert points[SPIKE_STEP] == 100.0 and points[DIP_STEP] == -50.0 and points[N] == (N % 10) / 10
    assert body["steps"] == sorted(body["steps"])
    assert all(body["times"][i] == 1000.0 + s for i, s in enumerate(body["steps"]))


@pytest.mark.parametrize(("max_points", "since_step"), [(1, None), (2, None), (2, SPIKE_STEP)])
def test_series_below_one_bucket_returns_the_newest_points(api: Api, alice: Headers, spiky_job: int,
                                                           max_points: int, since_step: int | None) -> None:
    params = {"max_points": max_points} | ({"since_step": since_step} if since_step else {})
    body = series(api.client, alice, spiky_job, **params)
    assert body["downsampled"] is True and body["total_points"] == N - (since_step or 0)
    assert body["steps"] == list(range(N - max_points + 1, N + 1))
    assert body["values"] == [(s % 10) / 10 for s in body["steps"]]
    assert body["times"] == [1000.0 + s for s in body["steps"]]


def test_series_below_one_bucket_short_series_comes_back_whole(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    write(api, job_id, [("train_loss", 1, 0.5, 1.0), ("train_loss", 2, 0.25, 2.0)])
    body = series(api.client, alice, job_id, max_points=2)
    assert body["downsampled"] is False and body["steps"] == [1, 2] and body["values"] == [0.5, 0.25]


def test_series_no_longer_than_max_points_comes_back_whole(api: Api, alice: Headers, spiky_job: int) -> None:
    body = series(api.client, alice, spiky_job, max_points=N)
    assert body["downsampled"] is False and body["steps"] == list(range(1, N + 1))
    assert body["values"] == [v for _, _, v, _ in spiky()]


def test_series_since_step_returns_only_later_steps(api: Api, alice: Headers, spiky_job: int) -> None:
    tail = series(api.client, alice, spiky_job, since_step=N - 10)
    assert tail["steps"] == list(range(N - 9, N + 1)) and tail["total_points"] == 10
    cut = series(api.client, alice, spiky_job, since_step=1000, max_points=30)
    assert cut["total_points"] == N - 1000 and cut["downsampled"] is True
    assert min(cut["steps"]) > 1000 and SPIKE_STEP in cut["steps"] and DIP_STEP not in cut["steps"]


def test_series_last_event_id_is_the_newest_event(api: Api, alice: Headers, spiky_job: int) -> None:
    body = series(api.client, alice, spiky_job, since_step=N)
    with api.session() as session:
        newest = session.scalar(select(func.max(Event.id)).where(Event.job_id == spiky_job))
    assert body["steps"] == [] and body["total_points"] == 0 and body["last_event_id"] == str(newest)


def test_series_non_finite_value_is_null(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    points = [("train_loss", 1, 1.0, 1.0), ("train_loss", 2, math.inf, 2.0), ("train_loss", 3, math.nan, 3.0)]
    assert write(api, job_id, points) == 2  # NaN is not stored: SQLite cannot hold it
    body = series(api.client, alice, job_id)
    assert body["steps"] == [1, 2] and body["values"] == [1.0, None]


def test_series_bad_parameters_are_422(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    for params in ({"max_points": 0}, {"max_points": 2_000_000}, {"since_step": -1}, {"since_step": "x"}):
        response = api.client.get(f"/api/v1/jobs/{job_id}/metrics/train_loss", headers=alice, params=params)
        assert response.status_code == 422, params

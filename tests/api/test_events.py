"""SSE: every event in id order, resume after Last-Event-ID (or ?after=) with no gap and no repeat,
live start, end after a finished job's final status, several jobs in one stream."""

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.store.events import append_event
from server.store.jobs import finish
from server.store.metrics import write_points
from tests.api.conftest import Api, Headers
from tests.api.test_metrics import running_job


@dataclass
class Sse:
    id: str
    event: str
    data: Any


def read_stream(client: TestClient, url: str, headers: Headers, limit: int = 10_000) -> list[Sse]:
    """Every event of a stream that ends by itself (the jobs finish)."""
    out: list[Sse] = []
    fields: dict[str, str] = {}
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line == "" and "data" in fields:
                data = json.loads(fields["data"])
                out.append(Sse(fields.get("id", ""), fields.get("event", "message"), data))
                fields = {}
            elif line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value
            if len(out) >= limit:
                break
    return out


def history(api: Api, job_id: int) -> None:
    """Metric batches and log lines, then the final status."""
    with api.session() as session:
        for step in range(1, 6):
            write_points(session, job_id, 1, [("train_loss", step, 1.0 / step, 100.0 + step)])
            append_event(session, job_id, "log", {"job_id": job_id, "line": f"step {step}"})
            session.commit()
        assert finish(session, job_id, 1, "succeeded")
        session.commit()


def test_stream_after_zero_replays_everything_and_ends(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    history(api, job_id)
    events = read_stream(api.client, f"/api/v1/jobs/{job_id}/events?after=0", alice)
    kinds = [e.event for e in events]
    assert kinds[0] == "status" and kinds[-1] == "status" and events[-1].data["status"] == "succeeded"
    assert kinds.count("metric") == 5 and kinds.count("log") == 5
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids))
    first_metric = next(e for e in events if e.event == "metric")
    assert first_metric.data == [{"job_id": job_id, "name": "train_loss", "step": 1, "value": 1.0,
                                  "time": 101.0}]
    assert [e.data["line"] for e in events if e.event == "log"] == [f"step {i}" for i in range(1, 6)]


def test_stream_resumes_after_last_event_id_without_gap_or_repeat(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    history(api, job_id)
    url = f"/api/v1/jobs/{job_id}/events"
    full = read_stream(api.client, url + "?after=0", alice)
    for cut in (1, 4, len(full) - 2):
        rest = read_stream(api.client, url, {**alice, "Last-Event-ID": full[cut].id})
        assert [e.id for e in full[: cut + 1] + rest] == [e.id for e in full]
        by_query = read_stream(api.client, f"{url}?after={full[cut].id}", alice)
        assert [e.id for e in by_query] == [e.id for e in rest]


def test_stream_without_cursor_starts_live(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    with api.session() as session:
        old = append_event(session, job_id, "log", {"job_id": job_id, "line": "before"})
        session.commit()
    seen = threading.Event()

    def produce() -> None:
        deadline = time.monotonic() + 30
        with api.session() as session:
            while not seen.is_set() and time.monotonic() < deadline:
                append_event(session, job_id, "log", {"job_id": job_id, "line": "tick"})
                session.commit()
                seen.wait(0.05)
            finish(session, job_id, 1, "failed", error="stopped by the test")
            session.commit()

    producer = threading.Thread(target=produce)
    producer.start()
    events: list[Sse] = []
    try:
        with api.client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=alice) as response:
            for line in response.iter_lines():
                if line.startswith("id: "):
                    events.append(Sse(line[4:], "", None))
                    seen.set()
    finally:
        seen.set()
        producer.join()
    assert events and all(int(e.id) > old for e in events)


def two_finished_jobs(api: Api, headers: Headers) -> tuple[int, int, str]:
    """Two jobs with their whole history written, and the multiplexed events URL of both."""
    first, second = running_job(api, headers), running_job(api, headers)
    history(api, first)
    history(api, second)
    return first, second, f"/api/v1/events?job={first}&job={second}"


def test_multiplexed_stream_carries_both_jobs_and_resumes(api: Api, alice: Headers) -> None:
    first, second, url = two_finished_jobs(api, alice)
    full = read_stream(api.client, url + "&after=0", alice)
    finals = [e.data["id"] for e in full if e.event == "status" and e.data["status"] == "succeeded"]
    assert sorted(finals) == sorted([first, second])
    assert {e.data[0]["job_id"] for e in full if e.event == "metric"} == {first, second}
    cut = len(full) // 2
    rest = read_stream(api.client, url, {**alice, "Last-Event-ID": full[cut].id})
    assert [(e.event, json.dumps(e.data)) for e in full[cut + 1:]] == [
        (e.event, json.dumps(e.data)) for e in rest]


def test_stream_bad_cursor_or_job_list_is_422(client: TestClient, alice: Headers, api: Api) -> None:
    job_id = running_job(api, alice)
    assert client.get(f"/api/v1/jobs/{job_id}/events?after=abc", headers=alice).status_code == 422
    assert client.get("/api/v1/events", headers=alice).status_code == 422
    assert client.get("/api/v1/events?job=99999999", headers=alice).status_code == 404


def test_stream_cursor_beyond_bigint_is_422(client: TestClient, alice: Headers, api: Api) -> None:
    # events.id is a BIGINT: such a cursor used to fail the stream's query after the 200 was sent.
    job_id = running_job(api, alice)
    huge = str(2**64)
    assert client.get(f"/api/v1/jobs/{job_id}/events?after={huge}", headers=alice).status_code == 422
    cursor = {"Last-Event-ID": f"{job_id}:{huge}"}
    answer = client.get(f"/api/v1/events?job={job_id}", headers={**alice, **cursor})
    assert answer.status_code == 422
    assert "not one this server sent" in answer.json()["detail"]


def test_stream_dropped_by_the_client_holds_no_connection(api: Api, alice: Headers) -> None:
    from sqlalchemy.pool import QueuePool

    from server.core.db import get_engine

    job_id = running_job(api, alice)
    with api.session() as session:
        append_event(session, job_id, "log", {"job_id": job_id, "line": "one"})
        session.commit()
    with api.client.stream("GET", f"/api/v1/jobs/{job_id}/events?after=0", headers=alice) as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                break  # the job is still running: the server would stream on
    pool = get_engine().pool
    assert isinstance(pool, QueuePool)  # both databases pool their connections
    deadline = time.monotonic() + 10
    while pool.checkedout() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.checkedout() == 0


def test_stream_is_woken_by_publish_before_its_poll_interval(api: Api, alice: Headers,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from server.api.routes import events as routes
    from server.store.events import publish

    monkeypatch.setattr(routes, "POLL_S", 30.0)  # without a wake-up the event would wait 30 s
    job_id = running_job(api, alice)
    seen = threading.Event()

    def produce() -> None:
        with api.session() as session:
            while not seen.wait(0.2):
                append_event(session, job_id, "log", {"job_id": job_id, "line": "tick"})
                session.commit()
                publish(job_id)

    producer = threading.Thread(target=produce)
    began = time.monotonic()
    producer.start()
    try:
        with api.client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=alice) as response:
            for line in response.iter_lines():
                if line.startswith("event: log"):
                    break
    finally:
        seen.set()
        producer.join()
    assert time.monotonic() - began < 10

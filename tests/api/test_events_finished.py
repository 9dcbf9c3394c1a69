"""SSE of finished jobs: with no cursor the final `status` (the REST job object) and the end; with a
cursor at or past it an empty 200 stream whose only line is a one-day `retry:` (an EventSource stops
reconnecting, plain SSE clients see a normal stream); the job-list limit."""

import json
from typing import Any

from server.api.routes.events import NOTHING_LEFT_RETRY_MS
from server.store.events import append_event
from server.store.jobs import finish
from tests.api.conftest import Api, Headers
from tests.api.test_events import Sse, history, read_stream, two_finished_jobs
from tests.api.test_metrics import running_job


def _status_events(api: Api, url: str, headers: Headers) -> list[Sse]:
    return [e for e in read_stream(api.client, url, headers) if e.event == "status"]


def _nothing_left(response: Any) -> bool:
    """An event stream with no event, only the long retry that keeps an EventSource from reconnecting."""
    text = response.text
    return (response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            and f"retry: {NOTHING_LEFT_RETRY_MS}" in text and "data:" not in text and "id:" not in text)


def _cursors(event_id: str) -> dict[int, int]:
    """A multiplexed event id ("12:340,13:355") as {job: event id}."""
    return {int(j): int(e) for j, e in (part.split(":") for part in event_id.split(","))}


def test_stream_of_finished_job_without_cursor_sends_final_status_and_ends(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    history(api, job_id)
    final = read_stream(api.client, f"/api/v1/jobs/{job_id}/events?after=0", alice)[-1]
    events = read_stream(api.client, f"/api/v1/jobs/{job_id}/events", alice)
    assert [(e.id, e.event) for e in events] == [(final.id, "status")]
    assert events[0].data == api.client.get(f"/api/v1/jobs/{job_id}", headers=alice).json()
    assert events[0].data["status"] == "succeeded"


def test_stream_cursor_at_or_past_final_status_has_nothing_left(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    history(api, job_id)
    url = f"/api/v1/jobs/{job_id}/events"
    final = read_stream(api.client, url + "?after=0", alice)[-1]
    series = api.client.get(f"/api/v1/jobs/{job_id}/metrics/train_loss", headers=alice).json()
    for cursor in (final.id, series["last_event_id"], str(int(final.id) + 1000)):
        by_query = api.client.get(f"{url}?after={cursor}", headers=alice)
        by_header = api.client.get(url, headers={**alice, "Last-Event-ID": cursor})
        assert _nothing_left(by_query) and _nothing_left(by_header)
    before = read_stream(api.client, f"{url}?after={int(final.id) - 1}", alice)
    assert [(e.id, e.data["status"]) for e in before] == [(final.id, "succeeded")]


def test_stream_sends_nothing_after_the_final_status(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    history(api, job_id)
    with api.session() as session:  # e.g. a log line flushed after the job finished
        append_event(session, job_id, "log", {"job_id": job_id, "line": "late"})
        session.commit()
    events = read_stream(api.client, f"/api/v1/jobs/{job_id}/events?after=0", alice)
    assert events[-1].event == "status" and events[-1].data["status"] == "succeeded"
    assert "late" not in [e.data.get("line") for e in events if e.event == "log"]


def test_multiplexed_stream_of_finished_jobs_without_cursor_sends_each_final_status(
        api: Api, alice: Headers) -> None:
    first, second, url = two_finished_jobs(api, alice)
    events = read_stream(api.client, url, alice)
    assert sorted((e.event, e.data["id"], e.data["status"]) for e in events) == [
        ("status", first, "succeeded"), ("status", second, "succeeded")]
    again = api.client.get(url, headers={**alice, "Last-Event-ID": events[-1].id})
    assert _nothing_left(again)


def test_multiplexed_stream_has_nothing_left_only_when_every_job_is_done(api: Api, alice: Headers) -> None:
    first, second, url = two_finished_jobs(api, alice)
    full = read_stream(api.client, url + "&after=0", alice)
    final_of = {e.data["id"]: _cursors(e.id)[e.data["id"]] for e in full
                if e.event == "status" and e.data["status"] == "succeeded"}
    half_done = f"{first}:{final_of[first]},{second}:{final_of[second] - 1}"
    rest = read_stream(api.client, url, {**alice, "Last-Event-ID": half_done})
    assert [(e.event, e.data["id"]) for e in rest] == [("status", second)]
    all_done = f"{first}:{final_of[first]},{second}:{final_of[second]}"
    assert _nothing_left(api.client.get(url, headers={**alice, "Last-Event-ID": all_done}))


def test_multiplexed_live_stream_gives_finished_job_then_follows_running_one(api: Api,
                                                                            alice: Headers) -> None:
    done, live = running_job(api, alice), running_job(api, alice)
    history(api, done)
    finals: list[int] = []
    with api.client.stream("GET", f"/api/v1/events?job={done}&job={live}", headers=alice) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            job = json.loads(line[6:])
            finals.append(job["id"])
            if job["id"] == done:  # the running job finishes only once the finished one was reported
                with api.session() as session:
                    assert finish(session, live, 1, "cancelled")
                    session.commit()
    assert finals == [done, live]


def test_multiplexed_stream_over_job_limit_is_422_naming_job(api: Api, alice: Headers) -> None:
    query = "&".join(f"job={i}" for i in range(1, 52))
    response = api.client.get(f"/api/v1/events?{query}", headers=alice)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "job"] and "50" in error["msg"] and "51" in error["msg"]
    missing = api.client.get("/api/v1/events", headers=alice)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "job"]


def test_status_event_job_object_matches_rest_exactly(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    history(api, job_id)
    statuses = _status_events(api, f"/api/v1/jobs/{job_id}/events?after=0", alice)
    assert [e.data["status"] for e in statuses] == ["queued", "running", "succeeded"]
    rest = api.client.get(f"/api/v1/jobs/{job_id}", headers=alice).json()
    assert statuses[-1].data == rest
    assert rest["created_at"].endswith("Z") and rest["finished_at"].endswith("Z")
    assert all(e.data["created_at"] == rest["created_at"] for e in statuses)

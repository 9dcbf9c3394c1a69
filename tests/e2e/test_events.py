"""SSE on real processes: live metric events; a reconnect with Last-Event-ID misses none."""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.stack import Stack

pytestmark = pytest.mark.e2e

SPEC = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                   {"type": "Linear", "out_features": 10}]}


def sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into {"id", "event", "data"} dicts (data decoded from JSON)."""
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield {**event, "data": json.loads(event["data"])}
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = value[1:] if value.startswith(" ") else value


def read_events(stack: Stack, job_id: int, last_id: str | None, stop_after_metrics: int | None) -> list[dict]:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    got: list[dict[str, Any]] = []
    with stack.client.stream("GET", f"/jobs/{job_id}/events", headers=headers, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in sse(response):
            got.append(event)
            metrics = sum(e["event"] == "metric" for e in got)
            if stop_after_metrics is not None and metrics >= stop_after_metrics:
                break
    return got


def test_events_reconnect_with_last_event_id_misses_nothing(stack: Stack) -> None:
    dataset = stack.post("/datasets/builtin", json={"name": "digits"})["id"]
    model = stack.post("/models", json={"name": "sse", "spec": SPEC})["id"]
    job_id = stack.submit(model, dataset, {"epochs": 3, "batch_size": 16})
    first = read_events(stack, job_id, None, stop_after_metrics=2)
    rest = read_events(stack, job_id, first[-1]["id"], stop_after_metrics=None)
    # The second stream ends by itself after the job's final status event.
    assert rest[-1]["event"] == "status" and rest[-1]["data"]["status"] == "succeeded"
    ids = [int(e["id"]) for e in first + rest]
    assert ids == sorted(set(ids)), "an event was repeated or came out of order"
    streamed = [(p["name"], p["step"]) for e in first + rest if e["event"] == "metric" for p in e["data"]]
    assert len(streamed) == len(set(streamed))
    stored = stack.client.get(f"/jobs/{job_id}/metrics/train_loss").json()
    assert sorted(s for n, s in streamed if n == "train_loss") == stored["steps"]
    assert stored["total_points"] == 3 * -(-1438 // 16)

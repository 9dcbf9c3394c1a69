"""The Python client against a live API + worker: streaming upload, errors, event resumption."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from client import Client, NotFound, ValidationFailed
from tests.stack import Stack

pytestmark = pytest.mark.e2e
SPEC = {"layers": [{"type": "Linear", "out_features": 4}, {"type": "ReLU"},
                   {"type": "Linear", "out_features": 3}]}


@pytest.fixture
def api(stack: Stack) -> Iterator[Client]:
    with Client(stack.url, stack.admin_token) as client:
        yield client


@pytest.fixture(scope="module")
def finished_job_id(stack: Stack) -> int:
    with Client(stack.url, stack.admin_token) as client:
        dataset = client.builtin_dataset("iris")
        model = client.create_model("iris-mlp", SPEC)
        job = client.submit_job(model["id"], dataset["id"], {"epochs": 2, "batch_size": 40})
    return int(stack.wait_job(job["id"], {"succeeded"})["id"])


def test_health_reports_parts_ok(api: Client) -> None:
    assert api.health() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_upload_dataset_streams_chunks_with_progress(api: Client, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a,b,y\n" + "".join(f"{i % 97},{i % 89},{i % 3}\n" for i in range(40_000)))
    seen: list[int] = []
    dataset = api.upload_dataset(path, name="big", on_progress=lambda done, total: seen.append(done))
    assert dataset["num_samples"] == 40_000
    assert dataset["target"]["kind"] == "classes" and dataset["target"]["num_classes"] == 3
    size = path.stat().st_size
    assert len(seen) >= size // (64 * 1024)  # read in 64 KiB chunks, not at once
    assert seen[-1] == size == dataset["size_bytes"]


def test_bad_spec_raises_validation_failed_with_loc(api: Client) -> None:
    bad = {"layers": [{"type": "Linear", "out_features": 4}, {"type": "Linear", "out_features": "x"}]}
    with pytest.raises(ValidationFailed) as caught:
        api.create_model("bad", bad)
    locs = [item["loc"] for item in caught.value.detail]
    assert any(list(loc[-3:]) == ["layers", 1, "out_features"] for loc in locs), locs
    assert "layers.1.out_features" in caught.value.message


def test_other_users_job_is_not_found(stack: Stack, finished_job_id: int) -> None:
    user = Client(stack.url, stack.post("/users", json={"name": "client-other"})["token"])
    with user, pytest.raises(NotFound):
        user.get_job(finished_job_id)


def test_events_resume_after_id_without_gaps_or_repeats(api: Client, finished_job_id: int) -> None:
    history = list(api.events(finished_job_id, after="0"))
    assert history[-1].event == "status" and history[-1].data["status"] == "succeeded"
    ids = [int(e.id) for e in history if e.id is not None]
    assert ids == sorted(set(ids))
    middle = history[len(history) // 2]
    resumed = list(api.events(finished_job_id, after=middle.id))
    assert resumed == history[len(history) // 2 + 1:]


def test_events_metric_points_cover_every_step(api: Client, finished_job_id: int) -> None:
    steps = [p["step"] for e in api.events(finished_job_id, after="0") if e.event == "metric"
             for p in e.data if p["name"] == "train_loss"]
    total = api.get_job(finished_job_id)["progress"]["step"]
    assert steps == list(range(1, total + 1))


def test_events_of_finished_job_live_start_yields_final_status(api: Client, finished_job_id: int) -> None:
    events = list(api.events(finished_job_id))
    assert events[-1].event == "status" and events[-1].data["status"] == "succeeded"

"""Checkpoint list and weight downloads (torch.load weights_only, safetensors), logs, TensorBoard."""

import io
import tarfile

import safetensors.torch
import torch
from torch import nn

from dl.checkpoint import to_bytes
from server.store.blobs import put_bytes
from server.store.events import append_event
from server.store.jobs import CheckpointBlobs, save_checkpoint, set_fields
from tests.api.conftest import Api, Headers
from tests.api.test_metrics import running_job


def _weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Linear(2, 3).state_dict()


def _checkpointed_job(api: Api, headers: Headers) -> tuple[int, dict[str, torch.Tensor]]:
    job_id, weights = running_job(api, headers), _weights()
    with api.session() as session:
        for step in (10, 20):
            blobs = CheckpointBlobs(step=step, epoch=step // 10, state=to_bytes({"step": step}),
                                    weights=to_bytes(weights), metrics={"val_loss": 1.0 / step})
            assert save_checkpoint(session, job_id, 1, blobs, keep=3)
        session.commit()
    return job_id, weights


def test_list_checkpoints_in_step_order(api: Api, alice: Headers) -> None:
    job_id, _ = _checkpointed_job(api, alice)
    body = api.client.get(f"/api/v1/jobs/{job_id}/checkpoints", headers=alice).json()
    assert body["count"] == 2
    assert [(c["step"], c["epoch"], c["metrics"]) for c in body["data"]] == [
        (10, 1, {"val_loss": 0.1}), (20, 2, {"val_loss": 0.05})]
    assert all(c["size_bytes"] > 0 and c["created_at"].endswith("Z") for c in body["data"])


def test_download_checkpoint_loads_with_weights_only(api: Api, alice: Headers) -> None:
    job_id, weights = _checkpointed_job(api, alice)
    response = api.client.get(f"/api/v1/jobs/{job_id}/checkpoints/20", headers=alice)
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    loaded = torch.load(io.BytesIO(response.content), weights_only=True)
    assert loaded.keys() == weights.keys()
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)


def test_download_checkpoint_as_safetensors(api: Api, alice: Headers) -> None:
    job_id, weights = _checkpointed_job(api, alice)
    response = api.client.get(f"/api/v1/jobs/{job_id}/checkpoints/10?format=safetensors", headers=alice)
    assert response.status_code == 200
    loaded = safetensors.torch.load(response.content)
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)


def test_download_missing_checkpoint_or_format_is_4xx(api: Api, alice: Headers) -> None:
    job_id, _ = _checkpointed_job(api, alice)
    missing = api.client.get(f"/api/v1/jobs/{job_id}/checkpoints/15", headers=alice)
    assert missing.status_code == 404 and "15" in missing.json()["detail"]
    assert api.client.get(f"/api/v1/jobs/{job_id}/checkpoints/10?format=pickle",
                          headers=alice).status_code == 422


def test_logs_are_the_log_events_as_text(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    with api.session() as session:
        for line in ("epoch 1: loss 0.5", "epoch 2: loss 0.25"):
            append_event(session, job_id, "log", {"job_id": job_id, "line": line})
        session.commit()
    response = api.client.get(f"/api/v1/jobs/{job_id}/logs", headers=alice)
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "epoch 1: loss 0.5\nepoch 2: loss 0.25\n"


def test_tensorboard_archive_is_served_from_the_blob(api: Api, alice: Headers) -> None:
    job_id = running_job(api, alice)
    assert api.client.get(f"/api/v1/jobs/{job_id}/tensorboard", headers=alice).status_code == 404
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("events.out.tfevents.1")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    with api.session() as session:
        sha, _ = put_bytes(session, buffer.getvalue())
        assert set_fields(session, job_id, 1, tensorboard_sha256=sha)
        session.commit()
    response = api.client.get(f"/api/v1/jobs/{job_id}/tensorboard", headers=alice)
    assert response.status_code == 200 and response.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        member = tar.extractfile("events.out.tfevents.1")
        assert member is not None and member.read() == b"hello"

"""Checkpoint downloads as deployable models: TorchScript and ONNX with the normalisation folded in."""

import io

import numpy as np
import onnx
import torch
from onnx.reference import ReferenceEvaluator

from dl.checkpoint import to_bytes
from dl.spec import build_model
from server.store.jobs import CheckpointBlobs, claim, save_checkpoint, set_fields
from tests.api.conftest import MLP, Api, Headers
from tests.api.test_metrics import running_job

NORMALIZATION = {"mean": [0.5, 0.25], "std": [2.0, 4.0]}
X = torch.tensor([[0.0, 1.0], [3.0, -2.0], [0.5, 0.25]])


def _trained_job(api: Api, headers: Headers) -> tuple[int, torch.nn.Module]:
    job_id = running_job(api, headers)
    torch.manual_seed(0)
    model = build_model(MLP, [2]).eval()
    with api.session() as session:
        blobs = CheckpointBlobs(step=5, epoch=1, state=to_bytes({"step": 5}),
                                weights=to_bytes(model.state_dict()), metrics={})
        assert save_checkpoint(session, job_id, 1, blobs, keep=3)
        assert set_fields(session, job_id, 1, summary={"normalization": NORMALIZATION})
        session.commit()
    return job_id, model


def _expected(model: torch.nn.Module) -> torch.Tensor:
    mean, std = torch.tensor(NORMALIZATION["mean"]), torch.tensor(NORMALIZATION["std"])
    with torch.no_grad():
        return model((X - mean) / std)


def test_export_checkpoint_as_torchscript_folds_normalization(api: Api, alice: Headers) -> None:
    job_id, model = _trained_job(api, alice)
    response = api.client.get(f"/api/v1/jobs/{job_id}/checkpoints/5?format=torchscript", headers=alice)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].endswith('.pt"')
    scripted = torch.jit.load(io.BytesIO(response.content))
    assert torch.allclose(scripted(X), _expected(model), atol=1e-6)


def test_export_checkpoint_as_onnx_matches_eager(api: Api, alice: Headers) -> None:
    job_id, model = _trained_job(api, alice)
    response = api.client.get(f"/api/v1/jobs/{job_id}/checkpoints/5?format=onnx", headers=alice)
    assert response.status_code == 200, response.text
    graph = onnx.load_from_string(response.content)
    onnx.checker.check_model(graph)
    (out,) = ReferenceEvaluator(graph).run(None, {"input": X.numpy()})
    assert np.allclose(out, _expected(model).numpy(), atol=1e-5)


def test_export_python_model_is_422(api: Api, alice: Headers) -> None:
    code = b"import torch\ndef build_model(input_shape, num_outputs):\n    return torch.nn.Linear(2, 2)\n"
    model = api.client.post("/api/v1/models", headers=alice, data={"name": "py"},
                            files={"file": ("model.py", code, "text/x-python")}).json()
    dataset_id = api.client.get(f"/api/v1/jobs/{running_job(api, alice)}", headers=alice).json()["dataset_id"]
    job = api.client.post("/api/v1/jobs", headers=alice, json={
        "model_id": model["id"], "dataset_id": dataset_id, "config": {"epochs": 1}}).json()
    with api.session() as session:
        assert claim(session, job["id"], lease_timeout_s=30) == 1
        blobs = CheckpointBlobs(step=1, epoch=1, state=to_bytes({}), weights=to_bytes({}), metrics={})
        assert save_checkpoint(session, job["id"], 1, blobs, keep=3)
        session.commit()
    response = api.client.get(f"/api/v1/jobs/{job['id']}/checkpoints/1?format=onnx", headers=alice)
    assert response.status_code == 422 and "Python model" in response.json()["detail"]

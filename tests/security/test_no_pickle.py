"""Checkpoints and uploads are never unpickled: downloads load with weights_only=True, a pickle bomb in
a checkpoint or an NPZ runs nothing, and no code path loads pickles."""

import ast
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch

from dl.checkpoint import from_bytes, to_bytes
from server.store import jobs
from tests.api.conftest import Api, Headers, make_job, upload

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "worker", "dl", "cli", "client", "bench")


class Bomb:
    """Unpickling this writes a marker file: proof that a loader executed the payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


def test_checkpoint_download_loads_with_weights_only(api: Api, alice: Headers) -> None:
    job = make_job(api.client, alice)
    weights = {"layers.0.weight": torch.arange(6.0).reshape(2, 3), "layers.0.bias": torch.zeros(2)}
    with api.session() as session:
        attempt = jobs.claim(session, job["id"], lease_timeout_s=30)
        assert attempt is not None
        blob = jobs.CheckpointBlobs(step=3, epoch=1, state=to_bytes({"model": weights}),
                                    weights=to_bytes(weights))
        assert jobs.save_checkpoint(session, job["id"], attempt, blob, keep=3)
        session.commit()
    pt = api.client.get(f"/api/v1/jobs/{job['id']}/checkpoints/3", headers=alice)
    loaded = torch.load(io.BytesIO(pt.content), weights_only=True)
    assert loaded.keys() == weights.keys() and all(torch.equal(loaded[k], v) for k, v in weights.items())
    st = api.client.get(f"/api/v1/jobs/{job['id']}/checkpoints/3?format=safetensors", headers=alice)
    assert torch.equal(safetensors.torch.load(st.content)["layers.0.weight"], weights["layers.0.weight"])


def test_checkpoint_loader_refuses_a_pickle_bomb(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(pickle.UnpicklingError):
        from_bytes(pickle.dumps({"model": Bomb(marker)}))
    assert not marker.exists()


def test_npz_with_a_pickle_bomb_is_refused(api: Api, alice: Headers, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([Bomb(marker), 1], dtype=object))
    before = api.client.get("/api/v1/datasets", headers=alice).json()["count"]
    response = upload(api.client, alice, buffer.getvalue(), filename="bomb.npz")
    assert response.status_code == 422 and "pickled" in response.json()["detail"][0]["msg"]
    assert not marker.exists()
    assert api.client.get("/api/v1/datasets", headers=alice).json()["count"] == before


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _unsafe_loads(path: Path) -> list[str]:
    found = []
    for call in _calls(ast.parse(path.read_text(), str(path))):
        name, keywords = _dotted(call.func), {k.arg: k.value for k in call.keywords}
        where = f"{os.path.relpath(path, ROOT)}:{call.lineno} {name}"
        weights_only = keywords.get("weights_only")
        safe = isinstance(weights_only, ast.Constant) and weights_only.value is True
        if name == "torch.load" and not safe:
            found.append(f"{where} without weights_only=True")
        pickles = keywords.get("allow_pickle")
        if pickles is not None and not (isinstance(pickles, ast.Constant) and pickles.value is False):
            found.append(f"{where} with allow_pickle other than False")
        if name in ("pickle.load", "pickle.loads", "dill.load", "dill.loads", "joblib.load"):
            found.append(f"{where} unpickles")
    return found


def test_code_base_never_loads_pickles() -> None:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    assert len(files) > 30
    found = [hit for path in files for hit in _unsafe_loads(path)]
    assert found == []


def test_pickle_scan_catches_unsafe_calls(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import torch, numpy as np, pickle\ntorch.load(f)\nnp.load(f, allow_pickle=True)\n"
                      "pickle.loads(b)\ntorch.load(f, weights_only=True)\nsafetensors.torch.load(b)\n")
    assert len(_unsafe_loads(sample)) == 3

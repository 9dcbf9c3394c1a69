"""Models: JSON specs validated with a loc down to the layer, Python files stored but never run."""

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.core.config import get_settings
from tests.api.conftest import MLP, Headers, make_job


def _post_file(client: TestClient, headers: Headers, source: bytes, filename: str = "net.py") -> object:
    return client.post("/api/v1/models", headers=headers, data={"name": "net"},
                       files={"file": (filename, io.BytesIO(source), "text/x-python")})


def test_create_spec_model_round_trips(client: TestClient, alice: Headers) -> None:
    response = client.post("/api/v1/models", headers=alice, json={"name": "mlp", "spec": MLP})
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "spec" and body["spec"] == MLP and body["name"] == "mlp"
    assert client.get(f"/api/v1/models/{body['id']}", headers=alice).json() == body
    assert client.get("/api/v1/models", headers=alice).json()["count"] == 1


@pytest.mark.parametrize(("layers", "loc", "words"), [
    ([{"type": "ReLU"}] * 3 + [{"type": "Linear", "out_features": "x"}],
     ["body", "spec", "layers", 3, "out_features"], "integer"),
    ([{"type": "Linear", "out_features": 8}, {"type": "Conv9d"}], ["body", "spec", "layers", 1, "type"],
     "Conv9d"),
    ([{"type": "Linear", "out_features": 8, "bogus": 1}], ["body", "spec", "layers", 0, "bogus"],
     "not an argument"),
])
def test_create_spec_model_bad_layer_is_422_with_loc(client: TestClient, alice: Headers,
                                                     layers: list[object], loc: list[object],
                                                     words: str) -> None:
    response = client.post("/api/v1/models", headers=alice, json={"name": "bad", "spec": {"layers": layers}})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and words in error["msg"]


def test_create_model_malformed_or_wrong_typed_body_is_4xx(client: TestClient, alice: Headers) -> None:
    broken = client.post("/api/v1/models", headers={**alice, "Content-Type": "application/json"},
                         content=b'{"name": "x", "spec": {')
    assert broken.status_code == 400
    wrong = client.post("/api/v1/models", headers=alice, json={"name": "x", "spec": [1, 2]})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "spec"]
    missing = client.post("/api/v1/models", headers=alice, json={"spec": MLP})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "name"]


def test_create_python_model_stores_code_without_running_it(client: TestClient, alice: Headers,
                                                            tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\nimport torch\nclass Model(torch.nn.Module):\n    pass\n"
    response = _post_file(client, alice, source.encode())
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["kind"] == "python" and body["name"] == "net" and body.get("spec") is None
    assert not marker.exists()


def test_create_python_model_syntax_error_is_422(client: TestClient, alice: Headers) -> None:
    response = _post_file(client, alice, b"def broken(:\n    pass\n")
    assert response.status_code == 422  # type: ignore[attr-defined]
    error = response.json()["detail"][0]  # type: ignore[attr-defined]
    assert error["loc"] == ["body", "file"] and "line 1" in error["msg"]
    wrong_kind = _post_file(client, alice, b"x = 1\n", filename="net.txt")
    assert wrong_kind.status_code == 422  # type: ignore[attr-defined]


def test_create_python_model_forbidden_without_allow_code(client: TestClient, alice: Headers,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "allow_code", False)
    response = _post_file(client, alice, b"x = 1\n")
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert "ALLOW_CODE" in response.json()["detail"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("source", [
    b"", b"x = 1\n", b"import torch\n", b"def make():\n    def build_model(a, b):\n        pass\n",
    b"class Net:\n    class Model:\n        pass\n", b"def build_model(:\n",
], ids=["empty", "assignment", "import_only", "nested_def", "nested_class", "syntax_error"])
def test_create_python_model_without_entry_point_is_422(client: TestClient, alice: Headers,
                                                        source: bytes) -> None:
    before = client.get("/api/v1/models", headers=alice).json()["count"]
    response = _post_file(client, alice, source)
    assert response.status_code == 422  # type: ignore[attr-defined]
    (error,) = response.json()["detail"]  # type: ignore[attr-defined]
    assert error["loc"] == ["body", "file"]
    says = "line 1" if b"(:" in source else "must define build_model(input_shape, num_outputs) or"
    assert says in error["msg"]
    assert client.get("/api/v1/models", headers=alice).json()["count"] == before


@pytest.mark.parametrize("source", [
    b"import torch\ndef build_model(input_shape, num_outputs):\n    return torch.nn.Linear(1, 1)\n",
    b"import torch\nclass Model(torch.nn.Module):\n    pass\n",
    b"try:\n    import torch\n    def build_model(s, n):\n        return torch.nn.Linear(1, 1)\n"
    b"except ImportError:\n    pass\n",
    b"from torch.nn import Identity as Model\n",
], ids=["build_model", "class_Model", "inside_try", "imported_as_Model"])
def test_create_python_model_with_entry_point_is_201(client: TestClient, alice: Headers,
                                                     source: bytes) -> None:
    response = _post_file(client, alice, source)
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]


def test_delete_model_refused_while_used_then_hidden(client: TestClient, alice: Headers,
                                                     bob: Headers) -> None:
    job = make_job(client, alice)
    url = f"/api/v1/models/{job['model_id']}"
    assert client.delete(url, headers=bob).status_code == 404  # someone else's model is invisible
    response = client.delete(url, headers=alice)
    assert response.status_code == 409 and str(job["id"]) in response.json()["detail"]
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice).status_code == 202
    assert client.delete(url, headers=alice).status_code == 204
    assert client.get(url, headers=alice).status_code == 404
    listed = client.get("/api/v1/models", headers=alice).json()["data"]
    assert job["model_id"] not in [m["id"] for m in listed]
    retry = client.post("/api/v1/jobs", headers=alice, json={
        "model_id": job["model_id"], "dataset_id": job["dataset_id"], "config": {"epochs": 1}})
    assert retry.status_code == 422  # a deleted model takes no new jobs
    assert client.get(f"/api/v1/jobs/{job['id']}/model", headers=alice).status_code == 200  # old jobs keep it

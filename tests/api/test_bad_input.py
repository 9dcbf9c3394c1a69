"""Bad input, one table: every case is a 4xx whose `detail` says what is wrong (and where)."""

import io
import json
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from server.core.config import get_settings
from tests.api.conftest import MLP, SMALL_UPLOAD_LIMIT, Api, Headers, csv_bytes, upload


@dataclass
class Ctx:
    client: TestClient
    headers: Headers
    dataset_id: int
    model_id: int


Send = Callable[[Ctx], Response]


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(*members: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def symlink_zip() -> bytes:
    link = zipfile.ZipInfo("cats/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_of(("cats/a.png", png()), (link, b"/etc/passwd"))


def declared_bomb() -> bytes:
    """A small zip whose central directory declares a 3 GB member: refused before any inflation."""
    raw = bytearray(zip_of(("cats/a.png", png())))
    at = raw.rfind(b"PK\x01\x02")
    raw[at + 24:at + 28] = struct.pack("<I", 3_000_000_000)  # uncompressed size field
    return bytes(raw)


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def raw_json(path: str, body: bytes) -> Send:
    return lambda c: c.client.post(path, headers={**c.headers, "Content-Type": "application/json"},
                                   content=body)


def model_spec(spec: Any) -> Send:
    return lambda c: c.client.post("/api/v1/models", headers=c.headers, json={"name": "bad", "spec": spec})


def job_config(config: Any) -> Send:
    return lambda c: c.client.post("/api/v1/jobs", headers=c.headers, json={
        "model_id": c.model_id, "dataset_id": c.dataset_id, "config": config})


def raw_job_config(config: bytes) -> Send:
    """A job whose config is raw JSON text (httpx cannot encode a lone surrogate itself)."""
    def send(c: Ctx) -> Response:
        body = b'{"model_id": %d, "dataset_id": %d, "config": %s}' % (c.model_id, c.dataset_id, config)
        return raw_json("/api/v1/jobs", body)(c)
    return send


def job_with_spec(spec: dict[str, Any]) -> Send:
    def send(c: Ctx) -> Response:
        model = c.client.post("/api/v1/models", headers=c.headers, json={"name": "m", "spec": spec}).json()
        return c.client.post("/api/v1/jobs", headers=c.headers, json={
            "model_id": model["id"], "dataset_id": c.dataset_id})
    return send


def file_upload(name: str, data: bytes, **form: str) -> Send:
    return lambda c: upload(c.client, c.headers, data, filename=name, **form)


def nested(depth: int) -> bytes:
    """A spec of `depth` Sequentials inside each other, as raw JSON (json.dumps would recurse too deep)."""
    inner = '[{"type": "Linear", "out_features": 2}]'
    layers = '[{"type": "Sequential", "layers": ' * depth + inner + "}]" * depth
    return f'{{"name": "deep", "spec": {{"layers": {layers}}}}}'.encode()


def cyclic() -> bytes:
    # JSON cannot hold a cycle; the closest a client gets is a spec that names itself as a layer.
    return b'{"name": "c", "spec": {"layers": [{"type": "Sequential", "layers": "$self"}]}}'


LINEAR = {"type": "Linear", "out_features": 2}
CASES: list[tuple[str, Send, int, str]] = [
    # malformed JSON and wrong types
    ("json_truncated", raw_json("/api/v1/models", b'{"name": "x", "spec": {'), 400, "JSON"),
    ("json_not_utf8", raw_json("/api/v1/models", b"\xff\xfe{}"), 400, ""),
    ("json_top_level_array", raw_json("/api/v1/jobs", b"[1, 2]"), 422, "body"),
    ("job_ids_as_text", lambda c: c.client.post("/api/v1/jobs", headers=c.headers, json={
        "model_id": "one", "dataset_id": "two"}), 422, "model_id"),
    ("spec_is_a_list", model_spec([LINEAR]), 422, "spec"),
    ("layers_not_a_list", model_spec({"layers": "Linear"}), 422, "layers"),
    ("layer_without_type", model_spec({"layers": [{"out_features": 2}]}), 422, "type"),
    ("out_features_text", model_spec({"layers": [{"type": "Linear", "out_features": "2"}]}), 422,
     "out_features"),
    ("name_missing", lambda c: c.client.post("/api/v1/models", headers=c.headers, json={"spec": MLP}), 422,
     "name"),
    # unknown types
    ("unknown_layer", model_spec({"layers": [{"type": "Conv9d"}]}), 422, "Conv9d"),
    ("layer_dunder_type", model_spec({"layers": [{"type": "__class__"}]}), 422, "__class__"),
    ("layer_module_path", model_spec({"layers": [{"type": "os.system"}]}), 422, "os.system"),
    ("unknown_layer_argument", model_spec({"layers": [{**LINEAR, "bogus": 1}]}), 422, "bogus"),
    ("unknown_optimizer", job_config({"optimizer": {"type": "Adamm"}}), 422, "Adamm"),
    ("unknown_loss", job_config({"loss": {"type": "HingeLoss9"}}), 422, "HingeLoss9"),
    ("unknown_scheduler", job_config({"scheduler": {"type": "Wobble"}}), 422, "Wobble"),
    ("optimizer_bad_argument", job_config({"optimizer": {"type": "SGD", "lr": 0.1, "speed": 3}}), 422,
     "speed"),
    # negative and huge sizes
    ("negative_out_features", model_spec({"layers": [{"type": "Linear", "out_features": -4}]}), 422,
     "out_features"),
    ("zero_kernel", model_spec({"layers": [{"type": "Conv1d", "out_channels": 2, "kernel_size": 0}]}), 422,
     "kernel_size"),
    ("negative_epochs", job_config({"epochs": -1}), 422, "epochs"),
    ("zero_batch_size", job_config({"batch_size": 0}), 422, "batch_size"),
    ("negative_lr", job_config({"optimizer": {"type": "Adam", "lr": -0.1}}), 422, "lr"),
    ("dropout_over_one", model_spec({"layers": [{"type": "Dropout", "p": 1.5}]}), 422, "p"),
    ("huge_out_features", model_spec({"layers": [{"type": "Linear", "out_features": 10**30}]}), 422,
     "out_features"),
    ("huge_model_over_max_parameters", job_with_spec({"layers": [{"type": "Linear", "out_features": 10**6},
                                                                 {"type": "Linear", "out_features": 10**6},
                                                                 {"type": "Linear", "out_features": 2}]}),
     422, "parameters"),
    ("val_fraction_one", job_config({"val_fraction": 1.0}), 422, "val_fraction"),
    # cyclic or deeply nested specs
    ("self_referencing_spec", raw_json("/api/v1/models", cyclic()), 422, "layers"),
    ("nested_2000_deep", raw_json("/api/v1/models", nested(2000)), 400, "recursion"),
    ("nested_200_deep", raw_json("/api/v1/models", nested(200)), 422, "deep"),
    ("too_many_layers", model_spec({"layers": [{"type": "ReLU"}] * 5000}), 422, "layers"),
    # shape mismatches and configs that are not allowed
    ("shape_mismatch", job_with_spec({"layers": [{"type": "Linear", "out_features": 8},
                                                 {"type": "Linear", "in_features": 5, "out_features": 2}]}),
     422, "layers.1"),
    ("conv_on_flat_input", job_with_spec({"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3},
                                                     {"type": "Flatten"}, LINEAR]}), 422, "3-dimensional"),
    ("output_wrong_for_task", job_with_spec({"layers": [{"type": "Linear", "out_features": 7}]}), 422, "[7]"),
    ("unknown_config_key", job_config({"epochz": 3}), 422, "epochz"),
    ("config_key_lone_surrogate", raw_job_config(b'{"\\ud800": 1}'), 422, "ud800"),
    ("spec_key_lone_surrogate", raw_json("/api/v1/models", b'{"name": "m", "spec": {"layers": '
                                         b'[{"type": "ReLU"}], "\\ud800": 1}}'), 422, "ud800"),
    ("config_not_object", job_config([1, 2]), 422, "config"),
    ("precision_unknown", job_config({"precision": "8"}), 422, "precision"),
    ("unknown_dataset", lambda c: c.client.post("/api/v1/jobs", headers=c.headers, json={
        "model_id": c.model_id, "dataset_id": 987654321}), 422, "987654321"),
    ("unknown_builtin", lambda c: c.client.post("/api/v1/datasets/builtin", headers=c.headers,
                                                json={"name": "imagenet"}), 422, "digits"),
    # CSV
    ("csv_ragged_rows", file_upload("r.csv", b"a,b,y\n1,2,0\n3,1\n"), 422, "line 3"),
    ("csv_missing_value", file_upload("m.csv", b"a,b,y\n1,,0\n3,4,1\n"), 422, "'b'"),
    ("csv_text_in_numeric_column", file_upload("t.csv", b"a,b,y\n1,two,0\n3,4,1\n"), 422, "'b'"),
    ("csv_single_class", file_upload("s.csv", b"a,b,y\n1,2,0\n3,4,0\n5,6,0\n"), 422, "class"),
    ("csv_empty_file", file_upload("e.csv", b""), 422, "empty"),
    ("csv_header_only", file_upload("h.csv", b"a,b,y\n"), 422, "no data rows"),
    ("csv_unknown_target", file_upload("u.csv", csv_bytes(), target="price"), 422, "price"),
    # zips
    ("zip_dotdot_path", file_upload("i.zip", zip_of(("cats/a.png", png()), ("../evil.png", png()))), 422,
     ".."),
    ("zip_absolute_path", file_upload("i.zip", zip_of(("cats/a.png", png()), ("/etc/cron.d/x.png", png()))),
     422, "absolute"),
    ("zip_symlink", file_upload("i.zip", symlink_zip()), 422, "symbolic link"),
    ("zip_bomb_ratio", file_upload("i.zip", zip_of(("cats/a.png", bytes(2 * 1024 * 1024)))), 422, "bomb"),
    ("zip_bomb_declared_size", file_upload("i.zip", declared_bomb()), 422, "3000000000"),
    ("zip_non_image", file_upload("i.zip", zip_of(("cats/a.png", png()), ("dogs/b.png", b"#!/bin/sh\n"))),
     422, "dogs/b.png"),
    # npz
    ("npz_pickled_objects", file_upload("p.npz", npz(x=np.array([{"a": 1}, None], dtype=object))), 422,
     "pickled"),
    ("npz_without_x", file_upload("n.npz", npz(features=np.zeros((3, 2)))), 422, "'x'"),
    # limits and code
    ("upload_over_max_bytes", file_upload("big.csv", b"a,b\n" + b"1,2\n" * (SMALL_UPLOAD_LIMIT // 4 + 1)),
     413, str(SMALL_UPLOAD_LIMIT)),
]


@pytest.fixture
def ctx(api: Api, alice: Headers) -> Ctx:
    dataset = upload(api.client, alice, csv_bytes()).json()
    model = api.client.post("/api/v1/models", headers=alice, json={"name": "mlp", "spec": MLP}).json()
    return Ctx(api.client, alice, int(dataset["id"]), int(model["id"]))


def _detail_text(response: Response) -> str:
    body = response.json()
    assert "detail" in body, body
    detail = body["detail"]
    if isinstance(detail, list):
        assert all("loc" in e and e.get("msg") for e in detail), detail
    return json.dumps(detail)


@pytest.mark.parametrize(("send", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_4xx_with_useful_detail(ctx: Ctx, send: Send, status: int, words: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_parameters", 1_000_000)
    response = send(ctx)
    assert response.status_code == status, response.text[:500]
    detail = _detail_text(response)
    assert words in detail, detail[:500]


def test_python_model_without_allow_code_is_403(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "allow_code", False)
    response = ctx.client.post("/api/v1/models", headers=ctx.headers, data={"name": "net"},
                               files={"file": ("net.py", b"import os\n", "text/x-python")})
    assert response.status_code == 403 and "ALLOW_CODE" in _detail_text(response)


def test_bad_input_table_covers_at_least_40_cases() -> None:
    assert len(CASES) + 1 >= 40 and len({c[0] for c in CASES}) == len(CASES)

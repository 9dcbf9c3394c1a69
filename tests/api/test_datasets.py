"""Dataset uploads (CSV, NPZ), builtins, size limit, dedup by sha256, delete rules."""

import hashlib
import io
import uuid
from collections.abc import Iterator

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.store.models import Blob, BlobChunk
from tests.api.conftest import SMALL_UPLOAD_LIMIT, Api, Headers, csv_bytes, make_job, upload


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_upload_csv_describes_features_and_classes(client: TestClient, alice: Headers) -> None:
    data = csv_bytes(40)
    response = upload(client, alice, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["format"] == "csv" and body["num_samples"] == 40 and body["input_shape"] == [2]
    assert body["target"]["kind"] == "classes" and body["target"]["num_classes"] == 2
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size_bytes"] == len(data)
    assert client.get(f"/api/v1/datasets/{body['id']}", headers=alice).json() == body


def test_upload_csv_target_column_by_name(client: TestClient, alice: Headers) -> None:
    data = b"y,a,b\n0.5,1,2\n1.5,3,4\n2.5,5,6\n"
    body = upload(client, alice, data, target="y").json()
    assert body["target"]["kind"] == "values" and body["input_shape"] == [2]


def test_upload_target_that_cannot_apply_is_422_naming_target(client: TestClient, alice: Headers) -> None:
    unknown = upload(client, alice, "\ufeffx1, x2 ,label\n1,2,0\n3,4,1\n".encode(), target="price")
    assert unknown.status_code == 422
    (error,) = unknown.json()["detail"]
    assert error["loc"] == ["body", "target"] and error["msg"] == (
        "target column 'price' is not in the header (x1, x2, label)")
    stripped = upload(client, alice, b"x1, x2 ,label\n1,2,0\n3,4,1\n", target="x2")
    assert stripped.status_code == 201, stripped.text  # header cells are matched stripped, as loaded
    npz = upload(client, alice, _npz(x=np.zeros((4, 2))), filename="x.npz", target="y")
    assert npz.status_code == 422
    assert npz.json()["detail"] == [{"loc": ["body", "target"], "type": "value_error",
                                     "msg": "a target column applies to CSV files only, not npz"}]


def test_upload_npz_images_and_no_target(client: TestClient, alice: Headers) -> None:
    x = np.zeros((10, 3, 4), dtype=np.float32)
    labelled = upload(client, alice, _npz(x=x, y=np.arange(10) % 2), filename="img.npz").json()
    assert labelled["format"] == "npz" and labelled["input_shape"] == [3, 4]
    assert labelled["target"]["kind"] == "classes" and labelled["num_samples"] == 10
    unlabelled = upload(client, alice, _npz(x=x), filename="x.npz").json()
    assert unlabelled["target"]["kind"] == "none"


def test_upload_builtin_digits_is_flat(client: TestClient, alice: Headers) -> None:
    response = client.post("/api/v1/datasets/builtin", headers=alice, json={"name": "digits"})
    assert response.status_code == 201
    body = response.json()
    assert body["input_shape"] == [64] and body["num_samples"] == 1797 and body["format"] == "builtin"
    assert body["target"]["num_classes"] == 10


def test_upload_builtin_unknown_name_is_422(client: TestClient, alice: Headers) -> None:
    response = client.post("/api/v1/datasets/builtin", headers=alice, json={"name": "mnist"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert "digits" in response.json()["detail"][0]["msg"]


def test_upload_unknown_extension_or_bad_content_is_422(client: TestClient, alice: Headers) -> None:
    response = upload(client, alice, b"x,y\n1,2\n", filename="data.txt")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "file"]
    broken = upload(client, alice, b"not a zip at all", filename="images.zip")
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"] == ["body", "file"]
    no_features = upload(client, alice, b"label\n1\n0\n", filename="one.csv")
    assert no_features.status_code == 422


def _datasets(api: Api) -> int:
    with api.session() as session:
        return int(session.scalar(select(func.count()).select_from(Blob)) or 0)


def test_upload_over_the_limit_is_413_and_stores_nothing(api: Api, alice: Headers) -> None:
    blobs_before = _datasets(api)
    too_big = b"a,b\n" + b"1,2\n" * (SMALL_UPLOAD_LIMIT // 4 + 1)
    response = upload(api.client, alice, too_big)
    assert response.status_code == 413
    assert str(SMALL_UPLOAD_LIMIT) in response.json()["detail"]
    assert _datasets(api) == blobs_before


def test_upload_refused_as_a_dataset_stores_nothing(api: Api, alice: Headers) -> None:
    blobs_before = _datasets(api)
    response = upload(api.client, alice, f"only_label\n{uuid.uuid4().int}\n".encode(), filename="bad.csv")
    assert response.status_code == 422
    assert _datasets(api) == blobs_before


def test_upload_streamed_without_length_is_cut_at_413(client: TestClient, alice: Headers) -> None:
    boundary = uuid.uuid4().hex

    def body() -> Iterator[bytes]:  # chunked transfer: no Content-Length to check up front
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
               "Content-Type: text/csv\r\n\r\na,b\n").encode()
        for _ in range(64):
            yield b"1,2\n" * 16384
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post("/api/v1/datasets", headers={
        **alice, "Content-Type": f"multipart/form-data; boundary={boundary}"}, content=body())
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_upload_with_too_large_content_length_is_413_up_front(client: TestClient, alice: Headers) -> None:
    big = b"a" * (SMALL_UPLOAD_LIMIT + 2 * 1024 * 1024)
    response = client.post("/api/v1/datasets", headers=alice, files={"file": ("a.csv", big)})
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_upload_same_file_twice_stores_one_blob(api: Api, alice: Headers) -> None:
    data = csv_bytes(41)
    first, second = (upload(api.client, alice, data).json() for _ in range(2))
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    with api.session() as session:
        blobs = session.scalar(select(func.count()).select_from(Blob).where(Blob.sha256 == first["sha256"]))
        chunks = b"".join(session.scalars(select(BlobChunk.data).where(BlobChunk.sha256 == first["sha256"])
                                          .order_by(BlobChunk.idx)))
        leftovers = session.scalar(select(func.count()).select_from(Blob).where(Blob.sha256.like("tmp-%")))
    assert blobs == 1 and chunks == data and leftovers == 0


def test_delete_dataset_refused_while_a_queued_job_uses_it(client: TestClient, alice: Headers) -> None:
    job = make_job(client, alice)
    url = f"/api/v1/datasets/{job['dataset_id']}"
    response = client.delete(url, headers=alice)
    assert response.status_code == 409 and str(job["id"]) in response.json()["detail"]
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice).status_code == 202
    assert client.delete(url, headers=alice).status_code == 204
    assert client.get(url, headers=alice).status_code == 404
    ids = [d["id"] for d in client.get("/api/v1/datasets", headers=alice).json()["data"]]
    assert job["dataset_id"] not in ids
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()["dataset_id"] == job["dataset_id"]


def test_list_datasets_pages_with_count(client: TestClient, bob: Headers) -> None:
    for rows in (10, 11, 12):
        upload(client, bob, csv_bytes(rows))
    page = client.get("/api/v1/datasets?limit=2&offset=1", headers=bob).json()
    assert page["count"] == 3 and [d["num_samples"] for d in page["data"]] == [11, 10]
    assert client.get("/api/v1/datasets?limit=0", headers=bob).status_code == 422

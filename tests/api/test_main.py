"""The app around the API: OpenAPI docs, and the dashboard served at / with its pages."""

import pytest
from fastapi.testclient import TestClient

from server.main import WEB_DIR


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/v1/jobs/{job_id}/metrics/{name}" in schema["paths"]


@pytest.mark.parametrize("path", ["/", "/jobs/12", "/compare?jobs=1,2", "/new"])
def test_dashboard_pages_serve_index_html(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Accept": "*/*"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.text == (WEB_DIR / "index.html").read_text()


def test_dashboard_static_files_and_unknown_api_paths(client: TestClient) -> None:
    asset = sorted(WEB_DIR.rglob("*.js"))[0]
    served = client.get("/" + asset.relative_to(WEB_DIR).as_posix())
    assert served.status_code == 200 and served.content == asset.read_bytes()
    missing = client.get("/api/v1/nothing-here", headers={"Accept": "application/json"})
    assert missing.status_code == 404 and "detail" in missing.json()

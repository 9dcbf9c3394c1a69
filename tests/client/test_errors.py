"""Errors carry the server's detail and read well; a server that is not Torchyard is named as such."""

from collections.abc import Iterator

import pytest

from client import AuthError, Client, Conflict, NotFound, NotTorchyard, ServerError, ValidationFailed
from client.errors import ApiError, error_for
from tests.stubhttp import answering, serving

# path -> (status, HTML body) served by a plain web server that is not Torchyard
PAGES = {"/api/v1/me": (200, b"<html><p>a blog</p></html>"),
         "/api/v1/jobs/2": (502, b"<html><h1>502 Bad Gateway</h1>\n<hr>nginx</html>\n")}


def _plain_page(path: str) -> tuple[int, str, bytes]:
    status, body = PAGES.get(path, (404, b"<html>\n<h1>Not Found</h1>\n</html>"))
    return status, "text/html", body


@pytest.fixture
def plain_site() -> Iterator[str]:
    with serving(answering(_plain_page)) as url:
        yield url


def test_error_for_maps_status_to_class() -> None:
    assert type(error_for(401, "x")) is AuthError
    assert type(error_for(404, "x")) is NotFound
    assert type(error_for(409, "x")) is Conflict
    assert type(error_for(422, [])) is ValidationFailed
    assert type(error_for(503, "x")) is ServerError
    assert type(error_for(418, "x")) is ApiError


def test_validation_detail_names_loc_down_to_layer() -> None:
    detail = [{"loc": ["body", "spec", "layers", 3, "out_features"], "msg": "must be positive"},
              {"loc": [], "msg": "second"}]
    error = error_for(422, detail)
    assert error.detail == detail
    assert error.message == "body.spec.layers.3.out_features: must be positive; second"
    assert str(error) == f"HTTP 422: {error.message}"


def test_html_answer_raises_not_torchyard(plain_site: str) -> None:
    with Client(plain_site, "t") as api, pytest.raises(NotTorchyard, match="200 without JSON"):
        api.me()


def test_health_of_web_page_raises_not_torchyard(plain_site: str) -> None:
    with Client(plain_site) as api, pytest.raises(NotTorchyard, match="/health answered without JSON"):
        api.health()


def test_plain_404_raises_not_torchyard(plain_site: str) -> None:
    with Client(plain_site, "t") as api, pytest.raises(NotTorchyard, match="answered 404"):
        api.get_job(1)


def test_proxy_error_page_keeps_first_line(plain_site: str) -> None:
    with Client(plain_site, "t") as api, pytest.raises(ServerError) as caught:
        api.get_job(2)
    assert caught.value.message == "<html><h1>502 Bad Gateway</h1>"

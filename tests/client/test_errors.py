"""Errors carry the server's detail and read well."""

from client import AuthError, Conflict, NotFound, ServerError, ValidationFailed
from client.errors import ApiError, error_for


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

"""Exceptions the client raises; each API error carries the server's `detail` unchanged."""

from typing import Any


class TorchyardError(Exception):
    """Base of every error the client raises."""


class Unreachable(TorchyardError):
    """The server could not be reached (refused, timed out, DNS, or gone past the reconnect window)."""


class NotTorchyard(Unreachable):
    """Something answered at the URL, but not the Torchyard API (a plain 404, or a body that is not JSON)."""


class ApiError(TorchyardError):
    """The server answered with an error status; `detail` is its JSON `detail` (a sentence or a list)."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status}: {format_detail(detail)}")

    @property
    def message(self) -> str:
        return format_detail(self.detail)


class BadRequest(ApiError):
    """400: malformed request."""


class AuthError(ApiError):
    """401: missing or wrong token."""


class Forbidden(ApiError):
    """403: e.g. Python models disabled, or an admin-only route."""


class NotFound(ApiError):
    """404: no such resource (or another user's)."""


class Conflict(ApiError):
    """409: e.g. deleting a dataset in use, cancelling a finished job."""


class ValidationFailed(ApiError):
    """422: the body was refused; `detail` lists `{"loc", "msg"}` naming the offending field."""


class ServerError(ApiError):
    """5xx: the server (or a proxy in front of it) failed."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthError,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
}


def error_for(status: int, detail: Any) -> ApiError:
    """The most specific ApiError subclass for a status code."""
    if status >= 500:
        return ServerError(status, detail)
    return _BY_STATUS.get(status, ApiError)(status, detail)


def format_detail(detail: Any) -> str:
    """One readable string: validation items become `body.spec.layers.3.out_features: msg`."""
    if isinstance(detail, list):
        return "; ".join(_format_item(item) for item in detail)
    return str(detail)


def _format_item(item: Any) -> str:
    if isinstance(item, dict) and "msg" in item:
        loc = ".".join(str(part) for part in item.get("loc", []))
        return f"{loc}: {item['msg']}" if loc else str(item["msg"])
    return str(item)

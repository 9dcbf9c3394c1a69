"""One place that turns engine and store errors into HTTP answers.

Validation problems are 422 with `{"detail": [{"loc": [...], "msg": ...}]}`; loc is the request
location (e.g. ["body", "spec"]) followed by the engine's own loc (e.g. "layers", 3, "out_features").
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dl.errors import ConfigError, DLError, ShapeError, SpecError
from server.store.blobs import BlobNotFound, UploadTooLarge
from server.store.jobs import InUse

log = logging.getLogger(__name__)
Loc = Sequence[str | int]


class Invalid(Exception):
    """A request value the API itself refuses; loc is the full request location."""

    def __init__(self, loc: Loc, msg: str) -> None:
        self.loc, self.msg = list(loc), msg
        super().__init__(msg)


class Located(Exception):
    """An engine error raised while handling one part of the request (`where`, e.g. ["body","spec"])."""

    def __init__(self, where: Loc, error: DLError) -> None:
        self.where, self.error = list(where), error
        super().__init__(str(error))


def plain_text(value: str | None, loc: Loc) -> str | None:
    """A form text field, refused when it holds a NUL (Postgres text cannot store one)."""
    if value is not None and "\x00" in value:
        raise Invalid(loc, "must not contain NUL characters")
    return value


@contextmanager
def located(*where: str | int) -> Iterator[None]:
    """Attribute engine errors raised inside the block to this part of the request."""
    try:
        yield
    except DLError as err:
        raise Located(where, err) from err


def _utf8(value: Any) -> Any:
    """A string a client sent may hold lone surrogates (JSON allows "\\ud800"); UTF-8 cannot encode
    them, so they are echoed back escaped instead of failing the error response itself."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(value, str) else value


def problem(loc: Loc, msg: str, status: int = 422) -> JSONResponse:
    detail = [{"loc": [_utf8(p) for p in loc], "msg": _utf8(msg), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=status)


def dl_error_response(where: Loc, err: DLError) -> JSONResponse:
    """The one mapping of engine errors: each names its field down to the layer index."""
    if isinstance(err, SpecError | ConfigError):  # their loc names the field, so msg need not
        return problem([*where, *err.loc], err.msg)
    if isinstance(err, ShapeError):  # the sentence names the layer and both shapes
        return problem([*where, *err.loc], str(err))
    return problem(where, str(err))  # DataError and the rest: a sentence about the whole part


def _validation(_: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"loc": [_utf8(p) for p in e.get("loc", ())], "msg": _utf8(e.get("msg", "")),
               "type": e.get("type", "")} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


async def _located(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, Located):
        return dl_error_response(exc.where, exc.error)
    if isinstance(exc, Invalid):
        return problem(exc.loc, exc.msg)
    if isinstance(exc, DLError):  # raised outside any `located` block
        return dl_error_response(["body"], exc)
    raise exc


async def _too_large(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=413)


async def _in_use(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _missing_blob(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"stored content {exc} is missing"}, status_code=404)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers: dict[str, Any] | None = getattr(exc, "headers", None)
    detail = _utf8(exc.detail) if isinstance(exc, HTTPException) else "internal error"
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error; the server log has the details"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Located, _located)
    app.add_exception_handler(Invalid, _located)
    app.add_exception_handler(DLError, _located)
    app.add_exception_handler(UploadTooLarge, _too_large)
    app.add_exception_handler(BlobNotFound, _missing_blob)
    app.add_exception_handler(InUse, _in_use)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)

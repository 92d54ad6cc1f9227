"""The exception handlers of the HTTP service: every error, whatever raised it, answers
with the one JSON shape of :func:`songspace.serving.app.error_body` (needs FastAPI)."""

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from songspace.errors import DuplicateError, InputError, ParameterError, SongspaceError
from songspace.serving.app import error_body
from songspace.serving.errors import (
    AuthError,
    NoRecommenderError,
    NotInductiveError,
    NotReadyError,
    PayloadTooLargeError,
    StoreError,
    StoreFullError,
    UnknownModelError,
    UnknownTrackError,
    json_body_message,
)

logger = logging.getLogger(__name__)


def status_of(exc: SongspaceError) -> int:
    """The HTTP status of a library error."""
    if isinstance(exc, StoreFullError):
        return 507
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, UnknownTrackError | UnknownModelError | NoRecommenderError):
        return 404
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, PayloadTooLargeError):
        return 413
    if isinstance(exc, NotReadyError):
        return 503
    if isinstance(exc, DuplicateError):
        return 409
    if isinstance(exc, ParameterError | InputError | NotInductiveError):
        return 422
    return 400


def field_of(exc: Exception) -> str | None:
    """The request field an error is about, if it names one."""
    if isinstance(exc, ParameterError):
        return exc.name
    return getattr(exc, "field", None)


async def songspace_error(request: Request, exc: SongspaceError) -> JSONResponse:
    """A library error: its status, its class name, its message."""
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        error_body(status, type(exc).__name__, str(exc), field_of(exc)),
        status_code=status,
        headers=headers,
    )


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A body or parameter that fails its schema: 422 naming the first bad field."""
    errs = exc.errors()
    first = errs[0] if errs else {}
    if first.get("type") == "json_invalid":  # loc is ("body", character offset)
        msg = json_body_message(first, exc.body)
        return JSONResponse(error_body(422, "ValidationError", msg, "body"), status_code=422)
    loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
    field = ".".join(loc) or None
    found = first.get("input")
    text = repr(found)
    if len(text) > 120:
        text = text[:117] + "..."
    expected = str(first.get("msg", "a valid value"))
    expected = expected[:1].lower() + expected[1:]
    msg = (
        f"field '{field}': {expected}{'' if first.get('type') == 'missing' else f', found {text}'}"
    )
    if len(errs) > 1:
        msg += f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})"
    msg += ". Fix: see the request schema at /docs"
    return JSONResponse(error_body(422, "ValidationError", msg, field), status_code=422)


def _body_error(found: str) -> JSONResponse:
    msg = f"request body: expected a JSON object, found {found}. Fix: send valid JSON (see /docs)"
    return JSONResponse(error_body(422, "ValidationError", msg, "body"), status_code=422)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own errors (no such route, wrong method, unparsable body) in our shape."""
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI's "error parsing the body": JSON nested beyond the parser's recursion
        # limit, or bytes that are not UTF-8/16/32 text
        cause = exc.__cause__
        return _body_error(
            "JSON nested too deeply to parse"
            if isinstance(cause, RecursionError)
            else f"bytes that are not JSON text ({type(cause).__name__}: {cause})"[:300]
        )
    msg = str(exc.detail)
    if exc.status_code == 404:
        msg = (
            f"no endpoint {request.method} {request.url.path}: expected one of the "
            f"routes listed at /docs, found none. Fix: check the path"
        )
    elif exc.status_code == 405:
        msg = f"method {request.method} not allowed on {request.url.path}: see /docs"
    return JSONResponse(
        error_body(exc.status_code, "HTTPError", msg, None), status_code=exc.status_code
    )


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything else: 500, logged with its traceback."""
    logger.exception("internal error on %s", request.url.path)
    return JSONResponse(
        error_body(500, type(exc).__name__, f"internal error: {exc}", None), status_code=500
    )


def add_error_handlers(app: Any) -> None:
    """Install the handlers above on the FastAPI ``app``."""
    app.add_exception_handler(SongspaceError, songspace_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)

"""The one mapping from exceptions to HTTP answers: JSON with a ``detail``, or an HTML page.

Domain exceptions find their status by walking their MRO (as Starlette does). The
catch-all for anything else is the last resort: it logs and answers 500 JSON. When the web
pages are installed, ``app.state.error_page(request, status, body)`` may answer instead
with a page (for page routes and browsers); it returns None to keep the JSON answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from service.errors import (
    InvalidName,
    InvalidSecret,
    LoginThrottled,
    NameTaken,
    NotFound,
    QuotaExceeded,
    SandboxBusy,
    ScriptbotsError,
    ServiceBusy,
    SourceRejected,
    SourceTooLarge,
    TryLater,
    Unauthorized,
    WeakPassword,
)

logger = logging.getLogger(__name__)
DATABASE_RETRY_S = 5
# Every way the database can be out of reach: down, gone mid-query, or no free connection
# in the pool (issue 12: pool exhaustion answered 500).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)

STATUS: dict[type[ScriptbotsError], int] = {
    ScriptbotsError: 400,
    NotFound: 404,
    NameTaken: 409,
    InvalidName: 422,
    InvalidSecret: 422,
    SourceRejected: 422,
    SourceTooLarge: 413,
    Unauthorized: 401,
    QuotaExceeded: 429,
    SandboxBusy: 503,
    WeakPassword: 422,
    LoginThrottled: 429,
    ServiceBusy: 503,
}


def status_for(exc: ScriptbotsError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _answer(
    request: Request,
    body: Mapping[str, object],
    status_code: int,
    headers: Mapping[str, str] | None = None,
) -> Response:
    error_page = getattr(request.app.state, "error_page", None)
    page: Response | None = None
    if error_page is not None:
        page = error_page(request, status_code, body)
    if page is None:
        return JSONResponse(body, status_code, headers=headers)
    if headers and "Retry-After" in headers:
        page.headers["Retry-After"] = headers["Retry-After"]
    return page


def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScriptbotsError)
    body: dict[str, object] = {"detail": str(exc)}
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, TryLater):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, SourceRejected):
        body["errors"] = [
            {"line": p.line, "col": p.col, "message": p.message} for p in exc.problems
        ]
    return _answer(request, body, status_for(exc), headers)


def _validation_error(request: Request, exc: Exception) -> Response:
    # FastAPI's own shape minus "input" and "ctx", which would echo whole sources back.
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors()
    ]
    return _answer(request, {"detail": detail}, 422)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _answer(request, {"detail": exc.detail}, exc.status_code, exc.headers)


def _database_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning(
        "database unavailable",
        extra={"method": request.method, "path": request.url.path, "error": type(exc).__name__},
    )
    detail = {"detail": "The database is unavailable; try again shortly."}
    return _answer(request, detail, 503, {"Retry-After": str(DATABASE_RETRY_S)})


def _client_gone(request: Request, exc: Exception) -> Response:
    # The client left while its request body was read: nobody to answer, nothing broken.
    logger.debug("client disconnected", extra={"method": request.method, "path": request.url.path})
    return Response(status_code=400)


def _unexpected(request: Request, exc: Exception) -> Response:
    # Last resort; tests show that no bad input reaches it.
    logger.error(
        "unhandled error",
        exc_info=exc,
        extra={"method": request.method, "path": request.url.path},
    )
    return _answer(request, {"detail": "Internal server error."}, 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ScriptbotsError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)

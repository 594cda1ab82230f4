"""The one mapping from exceptions to HTTP answers: always JSON with a ``detail``.

Domain exceptions find their status by walking their MRO (as Starlette does). The
catch-all for anything else is the last resort: it logs and answers 500 JSON.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from service.errors import (
    InvalidName,
    NameTaken,
    NotFound,
    QuotaExceeded,
    ScriptbotsError,
    SourceRejected,
    SourceTooLarge,
    Unauthorized,
)

logger = logging.getLogger(__name__)

STATUS: dict[type[ScriptbotsError], int] = {
    ScriptbotsError: 400,
    NotFound: 404,
    NameTaken: 409,
    InvalidName: 422,
    SourceRejected: 422,
    SourceTooLarge: 413,
    Unauthorized: 401,
    QuotaExceeded: 429,
}


def status_for(exc: ScriptbotsError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ScriptbotsError)
    body: dict[str, object] = {"detail": str(exc)}
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, SourceRejected):
        body["errors"] = [
            {"line": p.line, "col": p.col, "message": p.message} for p in exc.problems
        ]
    return JSONResponse(body, status_code=status_for(exc), headers=headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own shape minus "input" and "ctx", which would echo whole sources back.
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning(
        "database unavailable",
        extra={"method": request.method, "path": request.url.path, "error": type(exc).__name__},
    )
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly."}, status_code=503
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Last resort; tests show that no bad input reaches it.
    logger.error(
        "unhandled error",
        exc_info=exc,
        extra={"method": request.method, "path": request.url.path},
    )
    return JSONResponse({"detail": "Internal server error."}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ScriptbotsError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)

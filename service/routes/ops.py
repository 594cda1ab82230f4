"""Operations: /healthz (the process answers), /readyz (it can serve right now: database
reachable, sandbox pool warm, with the protections this machine gives runs) and /metrics
(Prometheus text, ``service/metrics.py``: requests, runs, bot calls, pool, database)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from service.metrics import CONTENT_TYPE, Metrics
from service.readiness import NotReady
from service.runs.orchestrator import Orchestrator

logger = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_S = 5

# A readiness check raises (``NotReady`` with a reason, shown) or returns False when its
# part cannot serve. The lifespan registers them in ``app.state.readiness``: "database",
# "disk" (service/readiness.py) and, once started, "sandbox".
ReadinessCheck = Callable[[], Awaitable[bool | None] | bool | None]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A part is not ready."}})
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = request.app.state.readiness
    reasons: dict[str, str] = {}
    results = {name: await _passes(name, check, reasons) for name, check in checks.items()}
    ready = all(results.values())
    body: dict[str, object] = {
        "status": "ready" if ready else "not ready",
        "checks": {name: "ok" if ok else "failing" for name, ok in results.items()},
    }
    orchestrator: Orchestrator | None = getattr(request.app.state, "orchestrator", None)
    sandbox = orchestrator.sandbox_status() if orchestrator is not None else None
    if ready and sandbox is not None and sandbox.missing:
        # Still 200 (SPEC §9: ready is the database and a warm pool), but said plainly.
        body["status"] = "degraded"
        body["degraded"] = [p.name for p in sandbox.missing]
        body["detail"] = f"Degraded: {sandbox.warning()}"
    if sandbox is not None:
        body["sandbox"] = {
            "warm": sandbox.warm,
            "protections": {p.name: "active" for p in sandbox.active}
            | {p.name: f"missing: {p.detail}" for p in sandbox.missing},
        }
    if reasons:
        body["reasons"] = reasons
    if not ready:
        failing = ", ".join(
            f"{name} ({reasons[name]})" if name in reasons else name
            for name, ok in results.items()
            if not ok
        )
        body["detail"] = f"Not ready: {failing}."
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """This process's figures, in Prometheus' text exposition format."""
    figures: Metrics = request.app.state.metrics
    return Response(figures.render(), media_type=CONTENT_TYPE)


async def _passes(name: str, check: ReadinessCheck, reasons: dict[str, str]) -> bool:
    """Whether ``check`` passes; a ``NotReady`` it raises puts its reason in ``reasons``."""
    try:
        with anyio.fail_after(CHECK_TIMEOUT_S):
            if inspect.iscoroutinefunction(check):
                result = await check()
            else:
                result = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
            if inspect.isawaitable(result):
                result = await result
    except NotReady as exc:
        reasons[name] = str(exc)
        logger.warning("not ready", extra={"check": name, "reason": str(exc)})
        return False
    except Exception as exc:  # a failing check is an answer, not an error
        logger.warning("readiness check failed", extra={"check": name, "error": repr(exc)})
        return False
    return result is not False

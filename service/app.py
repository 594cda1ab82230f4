"""create_app(settings): routers, error handlers, and the lifespan that owns every resource.

Nothing is opened at import or in ``create_app`` itself: the lifespan makes the engine and
the run orchestrator with its sandbox pool (one per process) and puts them in ``app.state``:

    app.state.settings      Settings
    app.state.db            store.db.Database (engine, sessions, transaction())
    app.state.cipher        security.AccessKeyCipher for stored Poe access keys
    app.state.orchestrator  runs.orchestrator.Orchestrator: runs, reports
    app.state.metrics       metrics.Metrics: what /metrics shows (made in create_app)
    app.state.readiness     {name: check} consulted by /readyz
    app.state.passwords     passwords.PasswordHashing: argon2 in threads, a few at a time
    app.state.bot_bodies    routes.bot_body.BotBodies: /bots bodies parsed in threads
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

import service
from sandbox import TemplatePools
from service.metrics import Metrics
from service.metrics_http import HttpMetricsMiddleware, RouteNoted
from service.passwords import PasswordHashing
from service.readiness import DiskCheck, directories_to_check
from service.routes import audit, bots, checks, files, ops, runs, scripts, secrets, tokens
from service.routes.body_limit import BodyLimitMiddleware
from service.routes.bot_body import BotBodies
from service.routes.docs import docs_router
from service.routes.errors import install_error_handlers
from service.routes.head import HeadAsGetMiddleware
from service.routes.pages import install_pages
from service.runs.orchestrator import Orchestrator
from service.security import AccessKeyCipher
from service.settings import Settings
from service.store.db import Database
from service.tracing import NO_TRACING
from service.tracing_http import HttpTracingMiddleware

MAX_POOL_SLOTS = 4096  # sandbox.host: each slot holds a uid of its own
MAX_BODY_BYTES = 16 * 1024 * 1024  # any request; routers set tighter limits of their own

logger = logging.getLogger(__name__)


def max_spares(sandbox_slots: int) -> int:
    """Spare children a template may keep when runs come at once (``SandboxPool``): an
    eighth of the slots, 2 to 32 (each holds a forked, isolated process)."""
    return max(2, min(32, sandbox_slots // 8))


def pool_slots(sandbox_slots: int) -> int:
    """Processes each template may have: the queries' slots (``FairSlots``), as many again
    for the hosted scripts they call (which take no slot of their own), and the spares."""
    return min(MAX_POOL_SLOTS, 2 * sandbox_slots + max_spares(sandbox_slots))


def create_app(
    settings: Settings, *, warm_sandbox: bool = True, tracing: Any = NO_TRACING
) -> FastAPI:
    """The app. ``warm_sandbox=False`` (tests that run no script) leaves the sandbox pool
    to start at the first run, and out of /readyz. ``tracing``: ``tracing.Tracing`` to
    trace requests, runs and database work (``tracing_from_environment`` in ``serve``)."""
    if settings.secret_key is None:
        raise ValueError("settings.secret_key is unset; build them with load_settings()")
    secret_key = settings.secret_key.get_secret_value()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            db = Database(settings.database_url)
            stack.callback(db.dispose)
            metrics.watch_database(db.engine)
            tracing.watch_database(db.engine)
            app.state.settings = settings
            app.state.db = db
            app.state.cipher = AccessKeyCipher(secret_key)
            app.state.passwords = PasswordHashing()
            app.state.bot_bodies = BotBodies()
            app.state.readiness = {"database": db.ping, "disk": _disk_check(settings)}
            orchestrator = Orchestrator(
                settings,
                db,
                app.state.cipher,
                TemplatePools(
                    slots=pool_slots(settings.sandbox_slots),
                    max_spares=max_spares(settings.sandbox_slots),
                ),
                metrics=metrics,
                tracing=tracing,
            )
            app.state.orchestrator = orchestrator
            metrics.watch_pool(orchestrator.pool_figures)
            stack.push_async_callback(orchestrator.leases.close)  # after the records
            stack.push_async_callback(orchestrator.close)
            orchestrator.shutdown.install()  # SIGTERM: the runs in progress get a grace
            stack.callback(orchestrator.shutdown.uninstall)
            orchestrator.leases.start()  # its first round ends what dead processes left
            stack.push_async_callback(orchestrator.retention.close)
            orchestrator.retention.start()
            if warm_sandbox:
                orchestrator.start_pool()
                app.state.readiness["sandbox"] = orchestrator.sandbox_ready
            yield

    app = FastAPI(
        title="scriptbots",
        version=service.__version__,
        summary="Host Poe script bots: upload a Python script, get a Poe server bot.",
        lifespan=lifespan,
        docs_url=None,  # routes/docs.py serves them with local assets
        redoc_url=None,
    )
    app.add_middleware(RouteNoted)  # innermost: sees the route the router chose
    app.add_middleware(
        BodyLimitMiddleware,
        default_bytes=MAX_BODY_BYTES,
        by_prefix={
            "/api/v1/scripts": scripts.MAX_BODY_BYTES,
            "/bots/": settings.bot_max_body_mb * 1024 * 1024,
        },
    )
    app.add_middleware(HeadAsGetMiddleware)  # outermost: HEAD is GET for everything inside
    if tracing is not NO_TRACING:
        app.add_middleware(HttpTracingMiddleware, tracing=tracing)  # a span per request
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)  # counts every answer
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(bots.router)  # first: the router tries routes in order, Poe's most often
    app.include_router(ops.router)
    app.include_router(scripts.router)
    app.include_router(secrets.router)
    app.include_router(runs.router)
    app.include_router(tokens.router)
    app.include_router(audit.router)
    app.include_router(checks.router)
    app.include_router(docs_router(app))
    app.include_router(files.router)
    install_pages(app, settings)  # last: its "/" and /scripts pages never shadow the API
    return app


def _disk_check(settings: Settings) -> DiskCheck:
    """The data directory made when missing (a failure shows in /readyz, not here)."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.warning("cannot create the data directory", extra={"error": repr(exc)})
    directories = directories_to_check(settings.data_dir, settings.database_url)
    return DiskCheck(directories, settings.data_min_free_mb)

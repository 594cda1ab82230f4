"""create_app(settings): routers, error handlers, and the lifespan that owns every resource.

Nothing is opened at import or in ``create_app`` itself: the lifespan makes the engine (and,
from the next issue on, the sandbox pool) and puts them in ``app.state``:

    app.state.settings    Settings
    app.state.db          store.db.Database (engine, sessions, transaction())
    app.state.cipher      security.AccessKeyCipher for stored Poe access keys
    app.state.readiness   {name: check} consulted by /readyz
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

import service
from service.routes import ops, scripts
from service.routes.body_limit import BodyLimitMiddleware
from service.routes.errors import install_error_handlers
from service.security import AccessKeyCipher
from service.settings import Settings
from service.store.db import Database

MAX_BODY_BYTES = 16 * 1024 * 1024  # any request; routers set tighter limits of their own


def create_app(settings: Settings) -> FastAPI:
    if settings.secret_key is None:
        raise ValueError("settings.secret_key is unset; build them with load_settings()")
    secret_key = settings.secret_key.get_secret_value()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            db = Database(settings.database_url)
            stack.callback(db.dispose)
            app.state.settings = settings
            app.state.db = db
            app.state.cipher = AccessKeyCipher(secret_key)
            app.state.readiness = {"database": db.ping}
            # The next parts start here (the sandbox pool, the run orchestrator), each
            # registering its cleanup on `stack` and its readiness in app.state.readiness.
            yield

    app = FastAPI(
        title="scriptbots",
        version=service.__version__,
        summary="Host Poe script bots: upload a Python script, get a Poe server bot.",
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimitMiddleware,
        default_bytes=MAX_BODY_BYTES,
        by_prefix={"/api/v1/scripts": scripts.MAX_BODY_BYTES},
    )
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(scripts.router)
    return app

"""The web pages (SPEC §6): server-rendered HTML that works without JavaScript.

``install_pages(app, settings)`` is the one hook ``app.py`` calls: templates and the session
codec in ``app.state.pages``, the error-page hook ``routes/errors.py`` consults, /static,
and the page routers (auth, account, scripts, editor, secrets, runs, console).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from service.routes.pages import account, auth, console, editor, runs, scripts, secrets
from service.routes.pages.rendering import STATIC_DIR, Pages, error_page
from service.settings import Settings
from service.web_session import SessionCodec

__all__ = ["install_pages"]


def install_pages(app: FastAPI, settings: Settings) -> None:
    assert settings.secret_key is not None
    codec = SessionCodec(
        settings.secret_key.get_secret_value(),
        secure=settings.base_url.startswith("https://"),  # SPEC §6: Secure behind https
    )
    app.state.pages = Pages(codec)
    app.state.error_page = error_page
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, account, scripts, editor, secrets, runs, console):
        app.include_router(module.router)

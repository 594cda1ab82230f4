"""``/docs`` (Swagger UI) and ``/redoc``: FastAPI's own pages, with their scripts and styles
from /static (web/static/dist, built by ``make assets``) instead of a CDN, so that they
work offline and behind a firewall (issue 13)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse

from service.routes.pages.rendering import bundle_url, static_url

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def docs_router(app: FastAPI) -> APIRouter:
    """The two pages of ``app``'s OpenAPI document (create the app with ``docs_url=None``
    and ``redoc_url=None``, which turns off FastAPI's CDN-loading ones)."""
    router = APIRouter(include_in_schema=False)
    title = f"{app.title} · REST API"
    openapi_url = app.openapi_url or "/openapi.json"

    @router.get(DOCS_URL)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=bundle_url("swagger-ui.js"),
            swagger_css_url=bundle_url("swagger-ui.css"),
            swagger_favicon_url=static_url("favicon.svg"),
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        )

    @router.get(OAUTH2_REDIRECT_URL)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get(REDOC_URL)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=bundle_url("redoc.js"),
            redoc_favicon_url=static_url("favicon.svg"),
            with_google_fonts=False,
        )
        # ReDoc's side menu shows Redocly's logo from their CDN: images stay on this site.
        page.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return page

    return router

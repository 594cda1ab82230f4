"""Templates and the answers of the pages: rendered HTML, redirects, friendly error pages.

Every answer goes through ``page()`` or ``redirect()``, which send the session cookie when the
session changed and the headers that keep untrusted text inert (a strict Content-Security-
Policy: scripts only from /static, no inline code). Jinja2 escapes every value it prints.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.passwords import MIN_PASSWORD_CHARS
from service.routes.pages.listings import highlighted_lines
from service.web_session import COOKIE_NAME, CSRF_FIELD, SessionCodec, WebSession

WEB_DIR = Path(__file__).resolve().parents[3] / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

# Bot output is shown on these pages: scripts run only from our own files, never inline, and
# nothing may frame us. Images may come from anywhere (attachments live on Poe's CDN).
# {style_nonce}: a page's <style> elements need its per-response nonce: the code editor
# (CodeMirror) writes its base styles into one; style attributes stay refused.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'{style_nonce};"
    " img-src 'self' http: https: data:; connect-src 'self'; object-src 'none';"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Paths that belong to programs, not people: their errors stay JSON whatever Accept says.
MACHINE_PREFIXES = (
    "/api/",
    "/bots/",
    "/files/",
    "/static/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/redoc",
    "/openapi.json",
)


class Pages:
    """The template environment and the session codec of one app (``app.state.pages``)."""

    def __init__(self, codec: SessionCodec) -> None:
        self.codec = codec
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.globals["static"] = static_url
        self.environment.globals["bundle"] = bundle_url
        self.environment.globals["CSRF_FIELD"] = CSRF_FIELD
        self.environment.globals["MIN_PASSWORD_CHARS"] = MIN_PASSWORD_CHARS
        self.environment.filters["highlighted_lines"] = highlighted_lines

    def render(self, template: str, /, **context: Any) -> str:
        return self.environment.get_template(template).render(**context)


def pages_of(request: Request) -> Pages:
    return request.app.state.pages  # type: ignore[no-any-return]


def web_session_of(request: Request) -> WebSession:
    """The request's session, read from its cookie once and kept in ``request.state``."""
    session = getattr(request.state, "web_session", None)
    if session is None:
        session = pages_of(request).codec.load(request.cookies.get(COOKIE_NAME))
        request.state.web_session = session
    return session


def page(request: Request, template: str, /, *, status_code: int = 200, **context: Any) -> Response:
    """Render ``template`` with the layout's context (creator, CSRF token, notice)."""
    session = web_session_of(request)
    request.state.style_nonce = secrets.token_urlsafe(16)
    html = pages_of(request).render(
        template,
        request=request,
        creator=getattr(request.state, "creator", None),
        csrf_token=session.csrf_token,
        notice=session.take_notice(),
        style_nonce=request.state.style_nonce,
        **context,
    )
    return finish(request, HTMLResponse(html, status_code=status_code))


def redirect(request: Request, url: str, *, notice: str | None = None) -> Response:
    """303 See Other to ``url`` (a GET after a POST); ``notice`` shows on the next page."""
    if notice is not None:
        web_session_of(request).tell(notice)
    return finish(request, RedirectResponse(url, status_code=303))


def finish(request: Request, response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
    pages_of(request).codec.save(response, web_session_of(request))
    return response


def content_security_policy(request: Request) -> str:
    """The pages' policy, with the nonce of the page rendered for this request, if any."""
    nonce = getattr(request.state, "style_nonce", None)
    return CONTENT_SECURITY_POLICY.format(style_nonce=f" 'nonce-{nonce}'" if nonce else "")


def wants_html(request: Request) -> bool:
    """Whether an error on this request should be a page: a page route, or a browser asking
    for HTML anywhere outside the machine paths (API clients get JSON as before)."""
    accept = request.headers.get("accept", "")
    if "text/event-stream" in accept:
        return False  # the console's fetch(): it reads {"detail"} from JSON
    if getattr(request.state, "page", False):
        return True
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in accept


def error_page(request: Request, status_code: int, body: Mapping[str, object]) -> Response | None:
    """The HTML answer for an error on a page, or None to keep the JSON one.

    Not logged in (401) → the login page, coming back here afterwards. Installed as
    ``app.state.error_page`` for ``routes/errors.py``.
    """
    if not wants_html(request):
        return None
    if status_code == 401:
        target = request.url.path if request.method == "GET" else "/"
        return redirect(request, f"/login?next={quote(target, safe='/')}")
    detail = body.get("detail")
    message = detail if isinstance(detail, str) else _GENERIC.get(status_code, "")
    try:
        title = HTTPStatus(status_code).phrase
    except ValueError:
        title = "Error"
    if status_code == 404:
        # The same words for "absent" and "someone else's": existence is never revealed.
        message = "There is nothing here, or it is not yours."
    return page(
        request,
        "error.html",
        status_code=status_code,
        title=title,
        message=message or "Something went wrong.",
        code=status_code,
    )


_GENERIC = {
    400: "The request could not be understood.",
    403: "The request was refused.",
    405: "That is not something this page does.",
    413: "The upload is too large.",
    422: "The form could not be read; go back and try again.",
    500: "Something went wrong on our side; try again.",
    503: "The service is unavailable right now; try again shortly.",
}


def static_url(name: str) -> str:
    """The URL of a file in web/static, with a short hash of its content, so that browsers
    fetch a changed file again instead of using the cached one."""
    return f"/static/{name}?v={_static_versions()[name]}"


def bundle_url(name: str) -> str:
    """The URL of a file ``make assets`` built or copied (``app.js``, ``redoc.js``): its
    name carries the hash of its content already (web/static/dist/manifest.json)."""
    return f"/static/{_bundles()[name]}"


@cache
def _bundles() -> dict[str, str]:
    manifest = json.loads((STATIC_DIR / "dist" / "manifest.json").read_text())
    return {str(name): str(path) for name, path in manifest.items() if name != "sources"}


@cache
def _static_versions() -> dict[str, str]:
    """Read once, at the first page rendered (never at import or in ``create_app``)."""
    return {
        path.relative_to(STATIC_DIR).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in STATIC_DIR.rglob("*")
        if path.is_file()
    }

"""Every HTTP request counted by method, route template and status, and timed (``Metrics``).

Pure ASGI, so streamed (SSE) responses pass through untouched and are timed to their end.
The route label is the served route's template (``/bots/{name}``), never the raw path: a
request that reached no route (an unknown path, a body refused as too large) counts as
``unmatched``, so scanners cannot grow the series.

Two pieces, because middleware in between may copy the scope (HEAD runs as GET in a copy):
``HttpMetricsMiddleware`` outermost puts a holder in the scope, ``RouteNoted`` innermost
drops the route the router chose into it.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics

UNMATCHED = "unmatched"
_HOLDER = "scriptbots.route"


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes becomes the server error handler's 500
        holder: list[Any] = []

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scope = {**scope, _HOLDER: holder}
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = served_route(scope)
            self.metrics.http_request(scope["method"], route, status, time.perf_counter() - started)


def served_route(scope: Scope) -> str:
    """The template of the route that served ``scope`` (once served), or ``unmatched``."""
    holder = scope.get(_HOLDER)
    path = getattr(holder[0], "path", None) if holder else None
    return path if isinstance(path, str) and path else UNMATCHED


class RouteNoted:
    """Innermost: hands the route the router set in the scope to the outer middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            holder = scope.get(_HOLDER)
            if holder is not None and scope.get("route") is not None:
                holder.append(scope["route"])

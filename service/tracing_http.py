"""A server span per HTTP request (``tracing.py``), continuing the caller's ``traceparent``:
current while the request is served, so a run and its database work hang beneath it.
Named by the route template (from ``metrics_http``'s holder), never by the raw path.
Added only when tracing is on."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics_http import served_route


class HttpTracingMiddleware:
    def __init__(self, app: ASGIApp, *, tracing: Any) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        span = self.tracing.start(
            method, kind="server", headers=headers, **{"http.request.method": method}
        )
        status = 500
        error: BaseException | None = None

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with self.tracing.current(span):
                await self.app(scope, receive, send_status)
        except BaseException as exc:
            error = exc
            raise
        finally:
            route = served_route(scope)
            span.update_name(f"{method} {route}")
            if error is None and status >= 500:
                error = RuntimeError(f"HTTP {status}")
            self.tracing.end(
                span, error, **{"http.route": route, "http.response.status_code": status}
            )

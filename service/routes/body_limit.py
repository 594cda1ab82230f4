"""Refuse oversized request bodies with 413 and a JSON ``detail``, before reading them.

Starlette's own limiter answers in plain text when Content-Length is too large, so this
one is ours: declared lengths are refused at once; streamed bodies are counted as read.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, default_bytes: int, by_prefix: dict[str, int]) -> None:
        self.app = app
        self.default_bytes = default_bytes
        # Longest prefix first, so "/api/v1/scripts" wins over "/api/".
        self.by_prefix = sorted(by_prefix.items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # FastAPI lets HTTPException from the body through
                    raise HTTPException(413, _detail(limit))
            return message

        await self.app(scope, counted_receive, send)


def _detail(limit: int) -> str:
    return f"The request body is larger than {limit} bytes."


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": _detail(limit)}, status_code=413)

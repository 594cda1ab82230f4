"""A loopback stand-in for the web that half-shield scripts reach (issue 10): plain pages, an
echo of what it was sent, JSON, redirects, cookies, gzip, a server-sent event stream held
until released, huge and endless bodies, a slowloris that trickles bytes."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from tests.upstream import serve_app


@dataclass
class WebRecord:
    """What the web saw, appended to from the server's thread."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    sse_first_sent: threading.Event = field(default_factory=threading.Event)


def web_app(record: WebRecord) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def remember(request: Request, call_next: object) -> Response:
        record.requests.append((request.method, request.url.path, dict(request.headers)))
        return await call_next(request)  # type: ignore[operator, no-any-return]

    @app.get("/hello")
    async def hello() -> PlainTextResponse:
        return PlainTextResponse("hello world")

    @app.api_route("/echo", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "query": dict(request.query_params),
                "body": body.decode("utf-8", "replace"),
                "host": request.headers.get("host"),
                "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
                "cookie": request.headers.get("cookie"),
                "authorization": request.headers.get("authorization"),
            }
        )

    @app.get("/anything/{rest:path}")
    async def anything(rest: str) -> PlainTextResponse:
        return PlainTextResponse(f"got {rest}")

    @app.get("/set-cookie")
    async def set_cookie() -> PlainTextResponse:
        response = PlainTextResponse("set")
        response.set_cookie("flavour", "ginger")
        return response

    @app.get("/redirect")
    async def redirect(to: str) -> RedirectResponse:
        return RedirectResponse(to, status_code=302)

    @app.get("/gzip")
    async def gzipped() -> Response:
        data = gzip.compress(b"squeezed " * 1000)
        return Response(data, headers={"Content-Encoding": "gzip"}, media_type="text/plain")

    @app.get("/status/{code}")
    async def status(code: int) -> PlainTextResponse:
        return PlainTextResponse(f"status {code}", status_code=code)

    @app.get("/big")
    async def big(mb: int = 1) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(mb * 16):
                yield b"x" * 65536

        return StreamingResponse(body(), media_type="application/octet-stream")

    @app.get("/endless")
    async def endless() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            while True:
                yield b"y" * 65536
                await asyncio.sleep(0)

        return StreamingResponse(body(), media_type="application/octet-stream")

    @app.get("/claims-huge")
    async def claims_huge() -> Response:
        return Response(b"tiny", headers={"Content-Length": str(10**12)})

    @app.get("/slowloris")
    async def slowloris(every_s: float = 0.5) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            while True:
                yield b"."
                await asyncio.sleep(every_s)

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/sse")
    async def sse() -> StreamingResponse:
        """An OpenAI-style stream: the first event at once, the rest only once released."""

        async def events() -> AsyncIterator[bytes]:
            yield _sse({"choices": [{"delta": {"content": "Hel"}}]})
            record.sse_first_sent.set()
            released = await asyncio.to_thread(record.release.wait, 20)
            word = "lo" if released else "(never released)"
            yield _sse({"choices": [{"delta": {"content": word}}]})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        """An OpenAI-compatible API: the last message echoed back, streamed on request."""
        body = await request.json()
        text = f"echo: {body['messages'][-1]['content']}"
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            return JSONResponse({"choices": [{"index": 0, "message": message}]})

        async def chunks() -> AsyncIterator[bytes]:
            for word in text.split(" "):
                yield _sse({"choices": [{"index": 0, "delta": {"content": word + " "}}]})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/release")
    async def release() -> PlainTextResponse:
        record.release.set()
        return PlainTextResponse("released")

    return app


def _sse(data: object) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


@contextmanager
def serve_web(host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[str, WebRecord]]:
    record = WebRecord()
    with serve_app(web_app(record), host=host, port=port) as base:
        yield base, record

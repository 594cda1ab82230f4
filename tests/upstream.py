"""Real servers on loopback for the suite: fastapi_poe bots (the upstream of bot calls), Poe's
file-upload endpoint and plain file routes (for attachment fetches).

``serve_app(app)`` runs any ASGI app under uvicorn in a thread on a free 127.0.0.1 port.
``upstream_app(record)`` is ``fastapi_poe.make_app`` over the standard bots below plus the
extra routes. The session fixture ``upstream`` yields an ``Upstream``: ``base_url`` (use it
as ``POE_API_BASE``: fastapi_poe appends the bot name), ``access_key``, and what the servers
received. To add a bot, subclass ``RecordingBot`` and serve it with ``serve_bots``, or add
it to ``STANDARD_BOTS``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import fastapi_poe as fp
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from sse_starlette.event import ServerSentEvent

ACCESS_KEY = "UpstreamTestAccessKey0123456789a"  # make_app wants exactly 32 characters
assert len(ACCESS_KEY) == 32

STREAM_PARTS = ["one ", "two ", "three ", "four ", "five"]
STREAM_DELAY_S = 0.05
SLOW_DEFAULT_S = 30.0
FILES: dict[str, tuple[bytes, str]] = {
    "hello.txt": (b"hello world", "text/plain"),
    "pixel.png": (b"\x89PNG\r\n\x1a\nnot really", "image/png"),
}


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met within the deadline")
        time.sleep(0.005)


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (no trailing slash).
    ``config`` goes to ``uvicorn.Config`` (e.g. ``ssl_certfile``/``ssl_keyfile``)."""
    sock = socket.create_server((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, lifespan="off", log_level="warning", ws="none", access_log=False, **config
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive())
        if not server.started:
            raise RuntimeError("the loopback server did not start")
        scheme = "https" if config.get("ssl_certfile") else "http"
        yield f"{scheme}://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class Upload:
    name: str
    content_type: str
    contents: bytes


@dataclass
class Record:
    """What the loopback servers received; appended to from the server thread."""

    queries: dict[str, list[fp.QueryRequest]] = field(default_factory=dict)
    reported_errors: list[fp.ReportErrorRequest] = field(default_factory=list)
    uploads: dict[str, Upload] = field(default_factory=dict)
    file_hosts: list[str] = field(default_factory=list)  # Host header of each file request

    def last_query(self, bot_name: str) -> fp.QueryRequest:
        return self.queries[bot_name][-1]


@dataclass
class Upstream:
    base_url: str  # ends with "/", the POE_API_BASE of tests
    access_key: str
    record: Record

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def upload_base(self) -> str:
        """The POE_FILE_UPLOAD_BASE of tests."""
        return self.base_url + "poe_api/"


# -- bots -------------------------------------------------------------------------------


class RecordingBot(fp.PoeBot):
    """A bot at ``/{name}`` that records each query and report; subclasses define ``answer``."""

    name = "Recording"

    def __init__(self, record: Record, *, access_key: str = ACCESS_KEY) -> None:
        super().__init__(path=f"/{self.name}", access_key=access_key)
        self.record = record

    async def get_response_with_context(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        self.record.queries.setdefault(self.name, []).append(request)
        async for part in self.answer(request, context):
            yield part

    def answer(self, request: fp.QueryRequest, context: fp.RequestContext) -> AsyncIterator[Any]:
        raise NotImplementedError

    async def on_error(self, error_request: fp.ReportErrorRequest) -> None:
        self.record.reported_errors.append(error_request)


def last_user_text(request: fp.QueryRequest) -> str:
    return next((m.content for m in reversed(request.query) if m.role == "user"), "")


class EchoBot(RecordingBot):
    """Answers with the last user message."""

    name = "Echo"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        yield fp.PartialResponse(text=last_user_text(request))


class InspectBot(RecordingBot):
    """Answers with a JSON summary of what it received, for assertions over the wire."""

    name = "Inspect"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        body = await context.http_request.json()
        summary = {
            "messages": [{"role": m.role, "content": m.content} for m in request.query],
            "user_id": request.user_id,
            "conversation_id": request.conversation_id,
            "message_id": request.message_id,
            "temperature": request.temperature,
            "adopt_current_bot_name": request.adopt_current_bot_name,
            "tools": body.get("tools"),
            "tool_calls": body.get("tool_calls"),
            "tool_results": body.get("tool_results"),
            "body_access_key": body.get("access_key"),
            "authorization": context.http_request.headers.get("authorization"),
        }
        yield fp.PartialResponse(text=json.dumps(summary))


class StreamerBot(RecordingBot):
    """Streams ``STREAM_PARTS`` with a short pause before each."""

    name = "Streamer"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        for part in STREAM_PARTS:
            await asyncio.sleep(STREAM_DELAY_S)
            yield fp.PartialResponse(text=part)


def openai_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> ServerSentEvent:
    """One OpenAI-style streaming chunk as the `json` event fastapi_poe's client parses."""
    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
    return ServerSentEvent(data=json.dumps(chunk), event="json")


class ToolCallerBot(RecordingBot):
    """Without tool results: asks for each offered tool, the last user message as its
    ``query`` argument, streamed as deltas. With tool results: answers from them."""

    name = "ToolCaller"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        if request.tool_results:
            results = "; ".join(f"{r.name}={r.content}" for r in request.tool_results)
            yield openai_chunk({"role": "assistant", "content": "Results: "})
            yield openai_chunk({"content": results})
            yield openai_chunk({}, "stop")
            return
        arguments = json.dumps({"query": last_user_text(request)})
        middle = len(arguments) // 2
        for index, tool in enumerate(request.tools or []):
            first = {
                "index": index,
                "id": f"call_{index}",
                "type": "function",
                "function": {"name": tool.function.name, "arguments": ""},
            }
            yield openai_chunk({"role": "assistant", "tool_calls": [first]})
            for piece in (arguments[:middle], arguments[middle:]):
                yield openai_chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                )
        yield openai_chunk({}, "tool_calls")


class FailingBot(RecordingBot):
    """Raises; make_app answers with its generic `error` event."""

    name = "Failing"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        raise RuntimeError("upstream exploded")
        yield  # pragma: no cover


class RefusingBot(RecordingBot):
    """Sends an `error` event with its own message."""

    name = "Refusing"
    message = "I refuse: quota exceeded"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        yield fp.ErrorResponse(text=self.message, allow_retry=False)


class HalfwayBot(RecordingBot):
    """Streams some text, then fails with a message."""

    name = "Halfway"
    message = "lost my train of thought"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        yield fp.PartialResponse(text="partial ")
        yield fp.ErrorResponse(text=self.message, allow_retry=False)


class SlowBot(RecordingBot):
    """Sleeps (the last user message, in seconds, or ``SLOW_DEFAULT_S``) before answering."""

    name = "Slow"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        try:
            delay = float(last_user_text(request))
        except ValueError:
            delay = SLOW_DEFAULT_S
        await asyncio.sleep(delay)
        yield fp.PartialResponse(text="finally awake")


class AttachmentBot(RecordingBot):
    """A file event, text, a replace_response and a suggested reply."""

    name = "Attachments"

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        root = str(context.http_request.base_url).rstrip("/")
        attachment = fp.Attachment(
            url=f"{root}/files/hello.txt", content_type="text/plain", name="hello.txt"
        )
        yield fp.PartialResponse(text="", attachment=attachment)
        yield fp.PartialResponse(text="draft")
        yield fp.PartialResponse(text="See the attached file.", is_replace_response=True)
        yield fp.PartialResponse(text="Tell me more", is_suggested_reply=True)


STANDARD_BOTS: list[type[RecordingBot]] = [
    EchoBot,
    InspectBot,
    StreamerBot,
    ToolCallerBot,
    FailingBot,
    RefusingBot,
    HalfwayBot,
    SlowBot,
    AttachmentBot,
]


# -- other routes -----------------------------------------------------------------------


def add_file_routes(app: FastAPI, record: Record, *, access_key: str = ACCESS_KEY) -> None:
    """Plain routes: files, redirects, big bodies, and Poe's upload endpoint."""

    @app.get("/files/{name}")
    async def get_file(name: str, request: Request) -> Response:
        record.file_hosts.append(request.headers.get("host", ""))
        if name not in FILES:
            return Response(status_code=404)
        contents, content_type = FILES[name]
        return Response(contents, media_type=content_type)

    @app.get("/redirect")
    async def redirect(to: str, status: int = 302) -> Response:
        return RedirectResponse(to, status_code=status)

    @app.get("/sleep")
    async def sleep(s: float) -> Response:
        await asyncio.sleep(s)
        return Response(b"late", media_type="text/plain")

    @app.get("/loop")
    async def loop() -> Response:
        return RedirectResponse("/loop", status_code=302)

    @app.get("/big")
    async def big(size: int, declare: bool = False) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                step = min(left, 64 * 1024)
                left -= step
                yield b"x" * step

        if declare:
            return Response(b"x" * size, media_type="application/octet-stream")
        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.post("/poe_api/file_upload_3RD_PARTY_POST")
    async def file_upload(request: Request) -> Response:
        if request.headers.get("authorization") != access_key:
            return JSONResponse({"detail": "bad key"}, status_code=401)
        async with request.form() as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return JSONResponse({"detail": "no file"}, status_code=400)
            name = upload.filename or "file"
            contents = await upload.read()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        upload_id = f"u{len(record.uploads)}"
        record.uploads[upload_id] = Upload(name, content_type, contents)
        root = str(request.base_url).rstrip("/")
        return JSONResponse(
            {"attachment_url": f"{root}/uploaded/{upload_id}", "mime_type": content_type}
        )

    @app.get("/uploaded/{upload_id}")
    async def uploaded(upload_id: str) -> Response:
        stored = record.uploads.get(upload_id)
        if stored is None:
            return Response(status_code=404)
        return Response(stored.contents, media_type=stored.content_type)


def upstream_app(record: Record, bots: Sequence[type[RecordingBot]] = STANDARD_BOTS) -> FastAPI:
    app = FastAPI()
    # make_app logs a banner per bot whose settings it cannot sync to Poe; that is the point.
    banner = logging.getLogger("uvicorn.default")
    level = banner.level
    banner.setLevel(logging.ERROR)
    try:
        fp.make_app([bot(record) for bot in bots], app=app)
    finally:
        banner.setLevel(level)
    add_file_routes(app, record)
    return app


@contextmanager
def serve_bots(bots: Sequence[type[RecordingBot]] = STANDARD_BOTS) -> Iterator[Upstream]:
    """A fresh upstream server with the given bots, for tests that need their own."""
    record = Record()
    with serve_app(upstream_app(record, bots)) as url:
        yield Upstream(base_url=url + "/", access_key=ACCESS_KEY, record=record)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    with serve_bots() as server:
        yield server
    # fastapi_poe's client reports protocol violations to the bot it called.
    assert server.record.reported_errors == [], "a bot call was reported as a protocol error"

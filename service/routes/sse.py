"""The HTTP answer for a run's Poe events: ``text/event-stream`` as ``fastapi_poe.make_app``
answers queries. The wire format lives here only; the mapping itself (``PoeEventStream``
and the event builders) lives in ``service/runs/events.py``, below the run that drives it.

The bytes and headers are sse-starlette's (which ``make_app`` uses), but the response is
ours: sse-starlette spends four tasks, a task group and a cancel scope per send on every
response, a good part of a short query's cost (issue 15). Here one task watches for the
client leaving, and a keep-alive comment goes out only on a stream quiet for ``PING_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.runs.events import SseEvent, SseStream

PING_S = 15.0  # sse-starlette's default interval, as make_app sends it
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_SEP = "\r\n"
_PING = f": ping{_SEP}{_SEP}".encode()


def encode(event: SseEvent) -> bytes:
    """The bytes on the wire, identical to what ``make_app`` sends (sse-starlette)."""
    data = "".join(f"data: {line}{_SEP}" for line in _LINE_BREAKS.split(event.data))
    return f"event: {_LINE_BREAKS.sub('', event.event)}{_SEP}{data}{_SEP}".encode()


class EventStreamResponse(Response):
    """Streams ``stream`` (a ``runs.run.Run`` or a ``PoeEventStream``), one chunk per event.
    When the client goes away, or ``cut`` resolves (the shutdown's backstop), the stream is
    closed: the run behind it kills its child and is recorded ``killed``."""

    media_type = "text/event-stream"

    def __init__(self, stream: SseStream, cut: asyncio.Future[Any] | None = None) -> None:
        # As Starlette's StreamingResponse: no body, so no Content-Length.
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"Cache-Control": "no-store", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
        )
        self.stream = stream
        self.cut = cut
        self._lock = asyncio.Lock()  # the pings and the events take turns
        self._open = True  # until the body's last message
        self._client_gone = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        loop = asyncio.get_running_loop()
        with anyio.CancelScope() as streaming:
            watcher = loop.create_task(self._watch_disconnect(receive, streaming))
            pinger = _Pinger(loop, lambda: self._ping(send))

            def cut_short(_: asyncio.Future[Any]) -> None:
                streaming.cancel()

            if self.cut is not None:
                self.cut.add_done_callback(cut_short)
            try:
                async with aclosing(aiter(self.stream)) as events:
                    async for event in events:
                        pinger.postpone()
                        await self._send_body(send, encode(event))
                await self._end(send)
            except OSError:  # the client went away (ASGI 2.4 servers raise it from send)
                self._client_gone = True
            finally:
                pinger.stop()
                watcher.cancel()
                if self.cut is not None:
                    self.cut.remove_done_callback(cut_short)
        if self._open and not self._client_gone:  # cut short: end the body cleanly
            with contextlib.suppress(OSError):
                await self._end(send)

    async def _watch_disconnect(self, receive: Receive, streaming: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._client_gone = True
                streaming.cancel()
                return

    async def _send_body(self, send: Send, body: bytes) -> None:
        async with self._lock:
            if self._open:
                await send({"type": "http.response.body", "body": body, "more_body": True})

    async def _end(self, send: Send) -> None:
        async with self._lock:
            self._open = False
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _ping(self, send: Send) -> None:
        with contextlib.suppress(OSError):  # the stream learns of it with its next event
            await self._send_body(send, _PING)


class _Pinger:
    """A keep-alive comment after ``PING_S`` without an event; a task only when one is due
    (a short response never makes one)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, ping: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        self._loop, self._ping = loop, ping
        self._due = loop.time() + PING_S
        self._timer = loop.call_at(self._due, self._fire)
        self._task: asyncio.Task[None] | None = None

    def postpone(self) -> None:
        self._due = self._loop.time() + PING_S

    def _fire(self) -> None:
        now = self._loop.time()
        if now >= self._due and (self._task is None or self._task.done()):
            self._task = self._loop.create_task(self._ping())
            self._due = now + PING_S
        self._timer = self._loop.call_at(self._due, self._fire)

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


def sse_response(stream: SseStream, cut: asyncio.Future[Any] | None = None) -> EventStreamResponse:
    """``stream``: a ``runs.run.Run`` or a ``PoeEventStream``; ``cut``: see the response."""
    return EventStreamResponse(stream, cut)

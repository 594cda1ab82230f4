"""The script's own HTTP, as the child sees it: a connector under its HTTP clients.

The child never has a socket (seccomp, an empty network namespace). A half-shield run's
requests travel over the channel: ``ChannelConnector`` sends an ``HttpRequest`` and reads
the answer as it streams (``HttpHead``, ``HttpChunk``s acknowledged one by one, so neither
side holds a whole body, ``HttpEnd``). A full-shield run gets ``RefusingConnector``, whose
requests fail at once with a sentence naming the header that would allow them.
``clients.py`` puts the connector under requests, httpx, urllib and aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.protocol import (
    HttpCancel,
    HttpChunk,
    HttpEnd,
    HttpFailure,
    HttpHead,
    HttpRead,
    HttpRequest,
)

FULL_SHIELD = (
    "this script has no network of its own (full privacy shield): direct HTTP requests "
    "need the header line `# poe: privacy_shield=half` at the top of the script; bots are "
    "called with poe.call, attachments read with attachment.get_contents()"
)
SETTINGS_RUN = (
    "no HTTP requests while the settings are read at save time (the code above "
    '`if __name__ == "__main__":`); make them in the query\'s code'
)
MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024  # the host refuses more as well


class HttpFailed(Exception):
    """A request refused or failed; ``failure`` says how, for the client's own exception."""

    def __init__(self, failure: HttpFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


@dataclass(frozen=True)
class Head:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    http_version: str


class HttpStream(Protocol):
    """One response: its head, then its body in chunks (``b""`` at the end), sync or async."""

    def head(self) -> Head: ...

    def read(self) -> bytes: ...

    async def ahead(self) -> Head: ...

    async def aread(self) -> bytes: ...

    def close(self) -> None: ...


class HttpConnector(Protocol):
    def open(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout_s: float | None,
    ) -> HttpStream: ...


class RefusingConnector:
    """Full shield (or a settings run): every request fails before anything leaves the
    child, with ``reason``."""

    def __init__(self, reason: str = FULL_SHIELD) -> None:
        self.reason = reason

    def open(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout_s: float | None,
    ) -> HttpStream:
        raise HttpFailed("refused", self.reason)


class ChannelStream:
    """The answer to one ``HttpRequest``, fed by the channel's reader thread."""

    def __init__(self, send: Callable[[Any], None], request_id: int) -> None:
        self._send = send
        self._request_id = request_id
        self._cond = threading.Condition()
        self._items: deque[HttpHead | HttpChunk | HttpEnd] = deque()
        self._waker: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._head: Head | None = None
        self._done = False
        self.on_done: Callable[[], None] = lambda: None

    def deliver(self, message: HttpHead | HttpChunk | HttpEnd) -> None:
        with self._cond:
            self._items.append(message)
            self._cond.notify_all()
            waker, self._waker = self._waker, None
        if waker is not None:
            loop, future = waker
            loop.call_soon_threadsafe(_wake, future)

    # -- sync ---------------------------------------------------------------------------

    def head(self) -> Head:
        while self._head is None:
            self._take(self._next())
        return self._head

    def read(self) -> bytes:
        self.head()
        while not self._done:
            data = self._take(self._next())
            if data:
                return data
        return b""

    def _next(self) -> HttpHead | HttpChunk | HttpEnd:
        with self._cond:
            while not self._items:
                self._cond.wait()
            return self._items.popleft()

    # -- async --------------------------------------------------------------------------

    async def ahead(self) -> Head:
        while self._head is None:
            self._take(await self._anext())
        return self._head

    async def aread(self) -> bytes:
        await self.ahead()
        while not self._done:
            data = self._take(await self._anext())
            if data:
                return data
        return b""

    async def _anext(self) -> HttpHead | HttpChunk | HttpEnd:
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self._items:
                    return self._items.popleft()
                future: asyncio.Future[None] = loop.create_future()
                self._waker = (loop, future)
            await future

    # -- both ---------------------------------------------------------------------------

    def _take(self, message: HttpHead | HttpChunk | HttpEnd) -> bytes:
        if isinstance(message, HttpHead):
            self._head = Head(
                message.status,
                message.reason,
                [(str(k), str(v)) for k, v in message.headers],
                message.http_version,
            )
            return b""
        if isinstance(message, HttpChunk):
            self._send(HttpRead(self._request_id))
            return message.data
        self._finish()
        if message.error is not None:
            raise HttpFailed(message.failure or "failed", message.error)
        if self._head is None:
            raise HttpFailed("failed", "the host ended the response before its head")
        return b""

    def close(self) -> None:
        if not self._done:
            self._finish()
            self._send(HttpCancel(self._request_id))

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # a closed channel: nothing left to cancel
            self.close()

    def _finish(self) -> None:
        self._done = True
        self.on_done()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ChannelConnector:
    """Half shield: requests go to the host, which checks and performs them."""

    def __init__(self, open_stream: Callable[[Callable[[int], HttpRequest]], ChannelStream]):
        self._open_stream = open_stream

    def open(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout_s: float | None,
    ) -> HttpStream:
        if len(body) > MAX_REQUEST_BODY_BYTES:
            raise HttpFailed(
                "too_large", f"a request body may have at most {MAX_REQUEST_BODY_BYTES} bytes"
            )
        pairs = [[str(k), str(v)] for k, v in headers]
        return self._open_stream(
            lambda rid: HttpRequest(rid, str(method), str(url), pairs, bytes(body), timeout_s)
        )

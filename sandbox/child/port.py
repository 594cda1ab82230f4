"""ChannelPort: the runtime's HostPort over the child's end of the channel.

Any thread may write (one lock in SyncChannel); one reader thread owns the read side and
hands each answer to the thread waiting for it, by call or request id, so the calls of
``poe.parallel`` threads are in flight at once. If the host goes away the child exits at
once: there is no one left to report to.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import fastapi_poe as fp

from sandbox.channel import ChannelClosed, SyncChannel
from sandbox.child.egress import ChannelStream
from sandbox.poe.errors import BotCallError, BotError, LimitReached
from sandbox.protocol import (
    TRANSFER_CHUNK_BYTES,
    AttachmentInfo,
    BotCallCancel,
    BotCallEnd,
    BotCallPart,
    BotCallRequest,
    BotCallStart,
    ChatEvent,
    FetchChunk,
    FetchRequest,
    FetchResult,
    HttpChunk,
    HttpEnd,
    HttpHead,
    HttpRequest,
    ProtocolError,
    RunEnd,
    SettingsUpdated,
    UploadChunk,
    UploadRequest,
    UploadResult,
)

EXIT_HOST_GONE = 0
LINGER_S = 2.0  # after the RunEnd, for the host to read it and close the channel
# Taken before the child's thread limit wraps Thread.start (sandbox/child/__init__.py).
_START_THREAD = (
    threading.Thread.start
)  # nothing to report: the host closed the channel or spoke nonsense


class _Waiter:
    __slots__ = ("chunks", "event", "result")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: Any = None
        self.chunks: list[bytes] = []  # a fetch's body, as its FetchChunks arrive


class _CallStream:
    """The parts of one bot call; closing it before the end cancels the call at the host."""

    def __init__(self, port: ChannelPort, call_id: int, bot_name: str) -> None:
        self._port = port
        self._call_id = call_id
        self._bot_name = bot_name
        self._queue: queue.SimpleQueue[BotCallPart | BotCallEnd] = queue.SimpleQueue()
        self._done = False

    def deliver(self, message: BotCallPart | BotCallEnd) -> None:
        self._queue.put(message)

    def __iter__(self) -> Iterator[fp.PartialResponse]:
        return self

    def __next__(self) -> fp.PartialResponse:
        if self._done:
            raise StopIteration
        message = self._queue.get()
        if isinstance(message, BotCallPart):
            return fp.PartialResponse.model_validate(message.part)
        self._finish()
        if message.limit is not None:
            raise LimitReached(message.limit)
        if message.error is not None:
            raise BotCallError(self._bot_name, message.error)
        raise StopIteration

    def close(self) -> None:
        if not self._done:
            self._finish()
            self._port.send(BotCallCancel(self._call_id))

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # a closed channel: nothing left to cancel
            self.close()

    def _finish(self) -> None:
        self._done = True
        self._port.forget_call(self._call_id)


class ChannelPort:
    """A thread-safe HostPort. The host only ever answers (bot call parts, fetch, upload
    and HTTP results), so the thread that reads its answers starts with the first request:
    a run that asks for nothing never pays for it (issue 15)."""

    def __init__(self, channel: SyncChannel) -> None:
        self._channel = channel
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._calls: dict[int, _CallStream] = {}
        self._waiters: dict[int, _Waiter] = {}
        self._http: dict[int, ChannelStream] = {}
        self._reader: threading.Thread | None = None

    def _reading(self) -> None:
        """Start the reader, once, before the first request that expects an answer."""
        with self._lock:
            if self._reader is None:
                self._reader = threading.Thread(
                    target=self._read_loop, name="channel-reader", daemon=True
                )
                _START_THREAD(self._reader)  # one of the run's allowed threads, never refused

    def send(self, message: Any) -> None:
        try:
            self._channel.send(message)
        except ChannelClosed:
            os._exit(EXIT_HOST_GONE)

    def end(self, end: RunEnd) -> None:
        """Send the run's last frame, then read on until the host closes the channel (it
        does once it has read the end), at most LINGER_S. An answer the script asked for
        and no longer reads may still be on its way: a child that exits with it unread
        resets the socket, and a busy host loses this very frame from its buffer."""
        self.send(end)
        with self._lock:
            reader = self._reader
        if reader is not None:  # else nothing was asked, so nothing can come
            reader.join(LINGER_S)  # its ChannelClosed ends the process

    # -- HostPort -----------------------------------------------------------------------

    def emit(self, event: ChatEvent) -> None:
        self.send(event)

    def call_bot(self, request: BotCallRequest) -> Iterator[fp.PartialResponse]:
        call_id = next(self._ids)
        stream = _CallStream(self, call_id, request.bot_name)
        with self._lock:
            self._calls[call_id] = stream
        self._reading()
        self.send(BotCallStart(call_id, request))
        return stream

    def fetch(self, url: str) -> bytes:
        waiter = self._request(lambda rid: [FetchRequest(rid, url)])
        result = waiter.result
        assert isinstance(result, FetchResult)
        if result.error is not None:
            raise BotError(result.error or f"Could not fetch {url}")
        return b"".join(waiter.chunks)

    def upload(
        self, name: str, contents: bytes, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        def frames(rid: int) -> Iterator[UploadRequest | UploadChunk]:
            yield UploadRequest(rid, name, len(contents), content_type, is_inline)
            view = memoryview(contents)
            for start in range(0, len(contents), TRANSFER_CHUNK_BYTES):
                yield UploadChunk(rid, bytes(view[start : start + TRANSFER_CHUNK_BYTES]))

        result = self._request(frames).result
        assert isinstance(result, UploadResult)
        if result.attachment is None:
            raise BotError(result.error or f"Could not store the attachment {name!r}")
        return result.attachment

    def update_settings(self, settings: dict[str, Any]) -> None:
        self.send(SettingsUpdated(settings))

    def open_http(self, make: Any) -> ChannelStream:
        """Send the HttpRequest ``make(request_id)``; its answer streams into the result."""
        request_id = next(self._ids)
        stream = ChannelStream(self.send, request_id)
        stream.on_done = lambda: self._forget_http(request_id)
        with self._lock:
            self._http[request_id] = stream
        request: HttpRequest = make(request_id)
        self._reading()
        self.send(request)
        return stream

    # -- internals ----------------------------------------------------------------------

    def _forget_http(self, request_id: int) -> None:
        with self._lock:
            self._http.pop(request_id, None)

    def forget_call(self, call_id: int) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def _request(self, frames: Callable[[int], Iterable[Any]]) -> _Waiter:
        """Send ``frames(request_id)``; the waiter once the host's result has come."""
        request_id = next(self._ids)
        waiter = _Waiter()
        with self._lock:
            self._waiters[request_id] = waiter
        self._reading()
        for frame in frames(request_id):
            self.send(frame)
        waiter.event.wait()
        return waiter

    def _read_loop(self) -> None:
        while True:
            try:
                message = self._channel.read()
            except (ChannelClosed, ProtocolError):
                os._exit(EXIT_HOST_GONE)
            if isinstance(message, BotCallPart | BotCallEnd):
                with self._lock:
                    stream = self._calls.get(message.call_id)
                if stream is not None:  # else: a call the script already closed
                    stream.deliver(message)
            elif isinstance(message, HttpHead | HttpChunk | HttpEnd):
                with self._lock:
                    http = self._http.get(message.request_id)
                if http is not None:  # else: a response the script already closed
                    http.deliver(message)
            elif isinstance(message, FetchChunk):
                with self._lock:
                    waiter = self._waiters.get(message.request_id)
                if waiter is not None:
                    waiter.chunks.append(message.data)
            elif isinstance(message, FetchResult | UploadResult):
                with self._lock:
                    waiter = self._waiters.pop(message.request_id, None)
                if waiter is not None:
                    waiter.result = message
                    waiter.event.set()

"""aiohttp over the run's HTTP connector: a connection whose far end is the host.

aiohttp has no transport interface above the socket, so the socket is what is replaced:
``TCPConnector._create_connection`` hands aiohttp's own protocol a ``_ChannelTransport``.
The request bytes aiohttp writes are parsed with h11 (httpx's HTTP/1.1 parser, already
loaded) into one ``HttpRequest``; the answer is written back to the protocol as HTTP/1.1
bytes, chunk by chunk as it streams, so that everything above the socket (redirects,
cookies, ``raise_for_status``, ``iter_chunked``, timeouts) is aiohttp's own. Each
connection carries one request (``Connection: close``): the host pins an address per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import ModuleType
from typing import Any

import h11

from sandbox.child.egress import HttpConnector, HttpFailed, HttpStream, RefusingConnector

_FRAMING = frozenset({b"connection", b"transfer-encoding", b"content-length", b"keep-alive"})


class _ChannelTransport(asyncio.Transport):
    def __init__(self, protocol: Any, connector: HttpConnector, origin: str, errors: Any) -> None:
        super().__init__()
        self._protocol = protocol
        self._connector = connector
        self._origin = origin  # scheme://host:port of the connection
        self._errors = errors
        self._parser = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._stream: HttpStream | None = None
        self._closing = False
        self._reading = asyncio.Event()
        self._reading.set()

    # -- what aiohttp writes ------------------------------------------------------------

    def write(self, data: Any) -> None:
        if self._closing or self._task is not None:
            return
        try:
            self._parser.receive_data(bytes(data))
            while True:
                event = self._parser.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Request):
                    self._request = event
                elif isinstance(event, h11.Data):
                    self._body.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    self._task = asyncio.get_running_loop().create_task(self._exchange())
                    return
        except h11.RemoteProtocolError as exc:
            self._fail(HttpFailed("failed", f"the request could not be sent: {exc}"))

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    # -- reading ------------------------------------------------------------------------

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def is_reading(self) -> bool:
        return self._reading.is_set()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._stream is not None:
            self._stream.close()
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    async def _exchange(self) -> None:
        request = self._request
        assert request is not None
        target = request.target.decode("ascii", "replace")
        url = target if "://" in target else self._origin + target
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        try:
            self._stream = stream = self._connector.open(
                request.method.decode("ascii"), url, headers, b"".join(self._body), None
            )
            head = await stream.ahead()
            lines = [f"HTTP/1.1 {head.status} {head.reason}".encode("latin-1")]
            for name, value in head.headers:
                if name.lower().encode("latin-1") not in _FRAMING:
                    lines.append(f"{name}: {value}".encode("latin-1"))
            lines += [b"Transfer-Encoding: chunked", b"Connection: close"]
            self._deliver(b"\r\n".join(lines) + b"\r\n\r\n")
            while True:
                data = await stream.aread()
                if not data:
                    break
                await self._reading.wait()
                self._deliver(b"%x\r\n%s\r\n" % (len(data), data))
            self._deliver(b"0\r\n\r\n")
        except HttpFailed as exc:
            self._fail(exc)

    def _deliver(self, data: bytes) -> None:
        if not self._closing:
            self._protocol.data_received(data)

    def _fail(self, exc: HttpFailed) -> None:
        if not self._closing:
            self._closing = True
            self._protocol.set_exception(self._errors(exc, self._task is None))
            with contextlib.suppress(Exception):
                self._protocol.connection_lost(None)


def patch(module: ModuleType, connector: HttpConnector) -> None:
    """Replace ``aiohttp.connector.TCPConnector``'s sockets with the run's connector."""
    import aiohttp
    from aiohttp.client_proto import ResponseHandler

    def errors(exc: HttpFailed, before_request: bool) -> Exception:
        if exc.failure == "timeout":
            return aiohttp.ServerTimeoutError(exc.message)
        if exc.failure in ("too_large", "failed"):
            return aiohttp.ClientPayloadError(exc.message)
        return aiohttp.ClientConnectionError(exc.message)

    async def create_connection(self: Any, req: Any, traces: Any, timeout: Any) -> Any:
        if isinstance(connector, RefusingConnector):
            try:
                connector.open(req.method, str(req.url), [], b"", None)
            except HttpFailed as exc:  # at once, before anything is written
                raise errors(exc, True) from None
        protocol = ResponseHandler(asyncio.get_running_loop())
        origin = str(req.url.origin())
        protocol.connection_made(_ChannelTransport(protocol, connector, origin, errors))
        return protocol

    module.TCPConnector._create_connection = create_connection

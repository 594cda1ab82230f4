"""Framed protocol messages over the socketpair between the host and one child.

Two ends: :class:`AsyncChannel` for the asyncio host, which serves many children at once,
and :class:`SyncChannel` for the child, whose threads share one writer lock. Both read
frames as ``protocol.py`` defines them; the host decodes only with ``protocol.decode``,
never trusts a length beyond ``MAX_FRAME_BYTES``, and reads one child's frames no faster
than its ``FrameRate``: past it the host stops reading and the child's writes block, so a
flood costs the host a bounded share of its CPU (issue 11).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

from sandbox.errors import SandboxError
from sandbox.protocol import HEADER, MAX_FRAME_BYTES, Message, ProtocolError, decode, encode


class ChannelClosed(SandboxError):
    """The other end closed the channel (the child died, or the host went away)."""


@dataclass(frozen=True)
class FrameRate:
    """How fast the host reads one child's frames: sustained rates, and a burst of
    ``burst_s`` seconds' worth. The defaults are far above what a script's own output
    needs (200k prints take 10 s, a 50 MB upload under a second)."""

    frames_per_s: float = 20_000.0
    bytes_per_s: float = 64 * 1024 * 1024
    burst_s: float = 2.0


class _Bucket:
    """A token bucket: ``take`` answers how long to wait before the next read."""

    def __init__(self, rate: float, burst_s: float) -> None:
        self._rate = rate
        self._capacity = rate * burst_s
        self._level = self._capacity
        self._at = time.monotonic()

    def take(self, amount: float) -> float:
        now = time.monotonic()
        self._level = min(self._capacity, self._level + (now - self._at) * self._rate)
        self._at = now
        self._level -= amount
        return max(0.0, -self._level / self._rate)


class _ResetIsEnd(asyncio.StreamReaderProtocol):
    """A child that exits while frames of ours are still unread in its socket resets the
    connection (a Unix socket closed with data in its queue), and a StreamReader with an
    error set drops what it holds: the child's last frames, its RunEnd among them, which a
    busy host had not read yet. The reset is the end of its stream, after those frames."""

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(None if isinstance(exc, ConnectionResetError) else exc)


class AsyncChannel:
    """The host's end: one reader (the run's supervisor) and any number of writers."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        rate: FrameRate | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._write_lock = asyncio.Lock()
        rate = rate or FrameRate()
        self._frames = _Bucket(rate.frames_per_s, rate.burst_s)
        self._bytes = _Bucket(rate.bytes_per_s, rate.burst_s)

    @classmethod
    async def connect(cls, sock: socket.socket, rate: FrameRate | None = None) -> AsyncChannel:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = _ResetIsEnd(reader, loop=loop)
        transport, _ = await loop.create_unix_connection(lambda: protocol, sock=sock)
        return cls(reader, asyncio.StreamWriter(transport, protocol, reader, loop), rate)

    async def read(self) -> Message:
        """The next message; ChannelClosed at end of stream, ProtocolError on a bad frame."""
        try:
            header = await self._reader.readexactly(HEADER.size)
            (length,) = HEADER.unpack(header)
            if length > MAX_FRAME_BYTES:
                raise ProtocolError(f"frame of {length} bytes exceeds the frame limit")
            wait_s = max(self._frames.take(1), self._bytes.take(HEADER.size + length))
            if wait_s > 0:
                await asyncio.sleep(wait_s)  # before reading the body: it stays in the socket
            body = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ChannelClosed("the sandbox child closed its channel") from exc
        return decode(body)

    async def send(self, message: Message) -> None:
        data = encode(message)
        async with self._write_lock:
            if self._writer.is_closing():
                raise ChannelClosed("the channel is closed")
            self._writer.write(data)
            try:
                await self._writer.drain()
            except ConnectionError as exc:
                raise ChannelClosed("the sandbox child closed its channel") from exc

    def close(self) -> None:
        self._writer.close()


class SyncChannel:
    """The child's end: blocking, thread-safe for writers, one reader thread at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._write_lock = threading.Lock()

    def send(self, message: Message) -> None:
        data = encode(message)
        with self._write_lock:
            try:
                self._sock.sendall(data)
            except OSError as exc:
                raise ChannelClosed("the host closed the channel") from exc

    def read(self) -> Message:
        (length,) = HEADER.unpack(self._read_exactly(HEADER.size))
        if length > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {length} bytes exceeds the frame limit")
        return decode(self._read_exactly(length))

    def _read_exactly(self, size: int) -> bytes:
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            try:
                count = self._sock.recv_into(view[received:])
            except OSError as exc:
                raise ChannelClosed("the host closed the channel") from exc
            if count == 0:
                raise ChannelClosed("the host closed the channel")
            received += count
        return bytes(buffer)

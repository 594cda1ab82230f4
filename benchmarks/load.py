"""The benchmarks' load generator for many streams at once: cheap enough to share two cores
with the server it measures.

One process sends the queries, on the same two cores as the server, so it must cost little:
connections are opened first (untimed, as Poe keeps its own), each query's request is
prebuilt bytes, its clock starts as they are written, and responses are read as raw chunked
SSE. With httpx instead, sending 500 streams and parsing their lines took so much of the
CPU that the client's own delay made up most of the "late" meta events (issue 12).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Answer:
    events: list[tuple[str, str]]
    meta_s: float  # request -> meta
    first_text_s: float | None  # request -> first non-empty text
    first_text_at: float | None  # time.time() when the first text arrived
    done_s: float


@dataclass
class Reading:
    """One answer as its events arrive, timed from ``began`` (``time.perf_counter``)."""

    began: float
    events: list[tuple[str, str]] = field(default_factory=list)
    meta_s: float = 0.0
    first_text_s: float | None = None
    first_text_at: float | None = None
    done_s: float = 0.0

    def add(self, name: str, data: str, now: float) -> None:
        self.events.append((name, data))
        if name == "meta":
            self.meta_s = now - self.began
        elif name == "text" and self.first_text_s is None and json.loads(data)["text"]:
            self.first_text_s, self.first_text_at = now - self.began, time.time()
        elif name == "done":
            self.done_s = now - self.began

    def answer(self, where: str) -> Answer:
        """The answer; RuntimeError unless it is ``meta`` ... ``done``."""
        events = self.events
        if not events or events[0][0] != "meta" or events[-1][0] != "done":
            raise RuntimeError(f"{where}: not meta ... done: {events[:3]} ... {events[-3:]}")
        return Answer(events, self.meta_s, self.first_text_s, self.first_text_at, self.done_s)


def query_body(text: str = "world") -> dict[str, Any]:
    return {
        "version": "1.2",
        "type": "query",
        "query": [{"role": "user", "content": text}],
        "user_id": "u-" + secrets.token_hex(4),
        "conversation_id": "c-" + secrets.token_hex(4),
        "message_id": "m-" + uuid.uuid4().hex,
    }


def request_bytes(url: str, token: str) -> bytes:
    """One query's whole HTTP/1.1 request."""
    parts = urlsplit(url)
    body = json.dumps(query_body()).encode()
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """A chunked response body, chunk by chunk."""
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            return
        chunk = await reader.readexactly(size + 2)
        yield chunk[:-2]


async def raw_ask(connection: Connection, request: bytes) -> Answer:
    """One query on an open connection: its events, timed from the request's writing."""
    reader, writer = connection
    reading = Reading(time.perf_counter())
    writer.write(request)
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"HTTP {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    pending = b""
    async for chunk in _chunks(reader):
        pending += chunk
        *blocks, pending = pending.split(b"\r\n\r\n")
        now = time.perf_counter()
        for block in blocks:
            fields = dict(
                line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line
            )
            if "event" in fields:  # else a keep-alive comment
                reading.add(fields["event"], fields.get("data", ""), now)
    writer.close()
    return reading.answer("raw client")


async def at_once(targets: Sequence[tuple[str, str]]) -> list[Answer | BaseException]:
    """One query per (bot URL, key), all sent at once on connections opened beforehand."""
    addresses = [urlsplit(url) for url, _ in targets]
    connections = await asyncio.gather(
        *(asyncio.open_connection(a.hostname, a.port) for a in addresses)
    )
    requests = [request_bytes(url, key) for url, key in targets]
    return await asyncio.gather(
        *(raw_ask(c, r) for c, r in zip(connections, requests, strict=True)),
        return_exceptions=True,
    )

"""``make bench``: what a half-shield script's HTTP costs through the host (issue 10).

A loopback server stands in for the web; each figure is one sandbox run whose script makes
the requests, timed inside the script (so the run's start is not counted):
- small requests: N sequential ``requests.get`` of a 12-byte body, p50 and p99 per request
  (the channel round trip, the host's checks and a fresh connection each);
- a large body: ``requests.get`` of MB megabytes, streamed to the script in 64 KiB chunks
  acknowledged one by one, as MB/s;
- the host's memory while it relays that body (its peak RSS growth stays far below MB).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import fastapi_poe as fp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from sandbox import AttachmentInfo, BotCallRequest, HttpHead, HttpRequest, Limits, SandboxPool
from sandbox.protocol import MessageAdded, RunEnd, RunStart, TextAppended
from service.runs.egress import Egress, EgressPolicy

SMALL = 200
BIG_MB = 48  # under the 50 MB cap

SCRIPT = """# poe: privacy_shield=half
import time, requests
times = []
for _ in range({small}):
    began = time.perf_counter()
    requests.get(BASE + "/small")
    times.append(time.perf_counter() - began)
times.sort()
began = time.perf_counter()
size = 0
with requests.get(BASE + "/big?mb={mb}", stream=True) as response:
    for chunk in response.iter_content(1024 * 1024):
        size += len(chunk)
big_s = time.perf_counter() - began
print(times[len(times) // 2], times[int(len(times) * 0.99) - 1], size, big_s)
"""


def _app() -> Starlette:
    async def small(request: Request) -> Response:
        return PlainTextResponse("hello world!")

    async def big(request: Request) -> Response:
        megabytes = int(request.query_params.get("mb", "1"))

        async def body() -> AsyncIterator[bytes]:
            block = b"x" * (1024 * 1024)
            for _ in range(megabytes):
                yield block

        return StreamingResponse(body(), media_type="application/octet-stream")

    return Starlette(routes=[Route("/small", small), Route("/big", big)])


@contextmanager
def _web() -> Iterator[str]:
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


class _Services:
    def __init__(self) -> None:
        self.egress = Egress(EgressPolicy(allow_private=True, max_requests=SMALL + 10))

    async def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        raise NotImplementedError
        yield  # pragma: no cover

    def fetch(self, url: str) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def upload(
        self, name: str, contents: object, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        raise NotImplementedError

    def http(self, request: HttpRequest) -> AsyncIterator[HttpHead | bytes]:
        return self.egress.http(request)


async def _measure(small: int, mb: int) -> None:
    pool = SandboxPool(slots=2, spares=1)
    await pool.start()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with _web() as base:
            source = SCRIPT.format(small=small, mb=mb).replace(
                "import time, requests\n", f"import time, requests\nBASE = {base!r}\n"
            )
            start = RunStart(
                source=source,
                bot_name="bench",
                conversation=[{"role": "user", "content": "go"}],
                limits=Limits(timeout_s=300, cpu_s=120, memory_mb=1024),
                privacy_shield="half",
            )
            text, end = "", None
            async for event in pool.run(start, _Services()):
                if isinstance(event, MessageAdded | TextAppended):
                    text += event.text
                elif isinstance(event, RunEnd):
                    end = event
    finally:
        await pool.close()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if end is None or end.status != "ok":
        raise SystemExit(f"the benchmark run failed: {end}")
    p50, p99, size, big_s = text.split()
    print(
        f"egress small GET x{small}: p50 {float(p50) * 1000:.2f} ms, p99 {float(p99) * 1000:.2f} ms"
    )
    print(f"egress {int(size) // 2**20} MB streamed: {int(size) / 2**20 / float(big_s):.0f} MB/s")
    print(f"host peak RSS growth meanwhile: {(rss_after - rss_before) / 1024:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=SMALL)
    parser.add_argument("--mb", type=int, default=BIG_MB)
    args = parser.parse_args()
    asyncio.run(_measure(args.small, args.mb))


if __name__ == "__main__":
    main()

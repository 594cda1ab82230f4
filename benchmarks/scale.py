"""``make bench-scale``: N hello-world queries at once against a real server, on SQLite and
on PostgreSQL (issue 12: Poe wants the first event of a response within 5 s).

    python -m benchmarks.scale [--queries 500] [--creators 10] [--databases sqlite,postgresql]

For each database: a fresh one (SQLite in a scratch directory; PostgreSQL a new database on
``BENCH_POSTGRES_URL``, default ``TEST_POSTGRES_URL`` or the local ``test`` cluster, dropped
after), a ``scriptbots serve`` with default settings but a creator quota that lets all the
queries in, ``--creators`` creators with a hello-world script each, and all the queries
sent at once, spread over the creators. Printed per database: how many ``meta`` events and
how many first texts came later than 5 s after their request, with p50/p99 of both, and the
whole responses' p50/p99; queries that failed are counted, not timed.

The load comes from one process on the same two cores as the server, so it must cost little:
the connections are opened first (untimed, as Poe keeps its own), each query's request is
prebuilt bytes, its clock starts as they are written, and responses are read as raw chunked
SSE. With httpx instead, sending 500 streams and parsing their lines took so much of the
CPU that the client's own delay made up most of the "late" meta events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from sqlalchemy.engine import make_url

from benchmarks.http_query import (
    SCRIPTBOTS,
    SECRET_KEY,
    Answer,
    ask,
    free_port,
    pct,
    query_body,
    started,
    wait_up,
)

POE_DEADLINE_S = 5.0
HELLO = 'print("Hello, " + poe.query.text)'
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL",
    os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    """The URL of a fresh database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'scale.db'}"
        return
    url = make_url(POSTGRES_URL)
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"scriptbots_bench_{secrets.token_hex(4)}"
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def creators(env: dict[str, str], work: Path, count: int, base: str) -> list[tuple[str, str]]:
    """``count`` creators, each with a hello-world script: (token, bot URL)."""
    made = []
    for _ in range(count):
        token = subprocess.run(
            [SCRIPTBOTS, "creator", "create", f"scale{secrets.token_hex(4)}"],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        name = f"scale_{secrets.token_hex(4)}"
        response = httpx.post(
            f"{base}/api/v1/scripts",
            json={"name": name, "source": HELLO},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        response.raise_for_status()
        made.append((token, f"{base}/bots/{name}"))
    return made


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


async def raw_ask(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
) -> Answer:
    """One query on an open connection: its events, timed from the request's writing."""
    reader, writer = connection
    began = time.perf_counter()
    writer.write(request)
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"HTTP {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    events: list[tuple[str, str]] = []
    meta_s = done_s = 0.0
    first_text_s = first_text_at = None
    pending = b""
    async for chunk in _chunks(reader):
        pending += chunk
        *blocks, pending = pending.split(b"\r\n\r\n")
        now = time.perf_counter()
        for block in blocks:
            fields = dict(
                line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line
            )
            name, data = fields.get("event", ""), fields.get("data", "")
            if not name:
                continue  # a keep-alive comment
            events.append((name, data))
            if name == "meta":
                meta_s = now - began
            elif name == "text" and first_text_s is None and json.loads(data)["text"]:
                first_text_s, first_text_at = now - began, time.time()
            elif name == "done":
                done_s = now - began
    writer.close()
    if not events or events[0][0] != "meta" or events[-1][0] != "done":
        raise RuntimeError(f"not meta ... done: {events[:3]} ... {events[-3:]}")
    return Answer(events, meta_s, first_text_s, first_text_at, done_s)


async def fire(bots: list[tuple[str, str]], queries: int) -> tuple[list[Answer], list[str]]:
    """All the queries at once, spread over ``bots``; the answers, and the failures."""
    async with httpx.AsyncClient(timeout=120) as client:
        await ask(client, bots[0][1], bots[0][0])  # one warm-up query, not counted
    address = urlsplit(bots[0][1])
    connections = await asyncio.gather(
        *(asyncio.open_connection(address.hostname, address.port) for _ in range(queries))
    )
    requests = [request_bytes(*reversed(bots[i % len(bots)])) for i in range(queries)]
    results = await asyncio.gather(
        *(raw_ask(c, r) for c, r in zip(connections, requests, strict=True)),
        return_exceptions=True,
    )
    answers = [r for r in results if isinstance(r, Answer)]
    failures = [repr(r)[:200] for r in results if not isinstance(r, Answer)]
    return answers, failures


def report(kind: str, answers: list[Answer], failures: list[str], queries: int) -> None:
    meta = [a.meta_s for a in answers]
    text = [a.first_text_s for a in answers if a.first_text_s is not None]
    done = [a.done_s for a in answers]
    refused = sum(1 for a in answers if any(name == "error" for name, _ in a.events))
    print(f"\n{kind}: {queries} hello-world queries at once")
    for label, values in (("meta", meta), ("first text", text), ("done", done)):
        if not values:
            print(f"  {label:<10}  none")
            continue
        late = sum(1 for value in values if value > POE_DEADLINE_S)
        print(
            f"  {label:<10}  later than 5 s: {late:>4}   p50 {pct(values, 0.5):6.2f} s"
            f"   p99 {pct(values, 0.99):6.2f} s   max {max(values):6.2f} s"
        )
    print(f"  ended with an error event: {refused}; failed requests: {len(failures)}")
    for failure in failures[:3]:
        print(f"    {failure}")


def measure(kind: str, args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch,
        database(kind, Path(scratch)) as url,
    ):
        work = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTBOTS_")}
        env |= {
            "SCRIPTBOTS_DATABASE_URL": url,
            "SCRIPTBOTS_SECRET_KEY": SECRET_KEY,
            "SCRIPTBOTS_CREATOR_MAX_CONCURRENT_RUNS": str(
                math.ceil((args.queries + 1) / args.creators)
            ),
        }
        port = free_port()
        with started(
            [SCRIPTBOTS, "serve", "--port", str(port)], env, work, work / "serve.log"
        ) as server:
            base = f"http://127.0.0.1:{port}"
            wait_up(f"{base}/readyz", server)
            bots = creators(env, work, args.creators, base)
            answers, failures = asyncio.run(fire(bots, args.queries))
        report(kind, answers, failures, args.queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--creators", type=int, default=10)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    for kind in args.databases.split(","):
        measure(kind.strip(), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

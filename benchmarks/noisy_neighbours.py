"""``make bench``: what one tenant's abuse costs another, on a real ``scriptbots serve``.

    python -m benchmarks.noisy_neighbours [--flooders N] [--queries N]

SQLite in a scratch directory, default settings. A quiet tenant queries a hello-world bot
(request -> ``done``, p50 and max) alone, then while N clients keep sending wrong passwords
to the login page (issue 12, finding 1: 0.3 s became 11-21 s before the fix); and /healthz
is polled (its slowest answer) while the largest body the limit allows, of tiny JSON values,
and an 8 MB conversation reach a bot URL (finding 2: 17.9 s before the fix).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Awaitable
from html import unescape
from pathlib import Path
from typing import TypeVar

import httpx

from benchmarks.http_query import (
    HELLO,
    SCRIPTBOTS,
    SECRET_KEY,
    ask,
    create_scripts,
    free_port,
    pct,
    started,
    wait_up,
)

T = TypeVar("T")
MIB = 1024 * 1024
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def wrong_logins(base: str, name: str, stop: asyncio.Event, statuses: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        while not stop.is_set():
            form = await client.get("/login")
            found = _CSRF.search(form.text)
            if found is None:
                raise RuntimeError(f"no CSRF token on /login: {form.status_code}")
            fields = {"csrf_token": unescape(found.group(1)), "name": name, "password": "guess"}
            statuses.append((await client.post("/login", data=fields)).status_code)


async def quiet_queries(url: str, token: str, count: int) -> list[float]:
    async with httpx.AsyncClient(timeout=120) as client:
        return [(await ask(client, url, token)).done_s for _ in range(count)]


async def slowest_healthz(base: str, work: Awaitable[T]) -> tuple[T, float]:
    slowest, stop = 0.0, asyncio.Event()

    async def poll() -> None:
        nonlocal slowest
        async with httpx.AsyncClient(timeout=120) as client:
            while not stop.is_set():
                began = time.perf_counter()
                await client.get(f"{base}/healthz")
                slowest = max(slowest, time.perf_counter() - began)
                await asyncio.sleep(0.01)

    poller = asyncio.create_task(poll())
    await asyncio.sleep(0.1)
    try:
        result = await work
    finally:
        stop.set()
        await poller
    return result, slowest


async def post(url: str, token: str, raw: bytes) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=120) as client:
        return (await client.post(url, content=raw, headers=headers)).status_code


def tiny_values_body(size: int) -> bytes:
    head = b'{"version":"1.2","type":"settings","junk":['
    return head + b",".join([b"[]"] * ((size - len(head) - 2) // 3)) + b"]}"


def conversation_body(size: int) -> bytes:
    text = "word " * ((size // 1000) // 5)
    messages = [{"role": "user" if i % 2 == 0 else "bot", "content": text} for i in range(999)]
    body = {"version": "1.2", "type": "query", "query": messages, "user_id": "u"}
    return json.dumps({**body, "conversation_id": "c", "message_id": "m"}).encode()


async def measure(args: argparse.Namespace, base: str, victim: str, url: str, token: str) -> None:
    def line(label: str, values: list[float]) -> None:
        print(f"  {label:<44} p50 {pct(values, 0.5):6.3f} s   max {max(values):6.3f} s")

    print(f"quiet tenant's hello world, request -> done ({args.queries} sequential)")
    line("alone", await quiet_queries(url, token, args.queries))
    stop, statuses = asyncio.Event(), []
    flood = [
        asyncio.create_task(wrong_logins(base, victim if i % 2 else f"nobody{i}", stop, statuses))
        for i in range(args.flooders)
    ]
    await asyncio.sleep(0.5)
    during = await quiet_queries(url, token, args.queries)
    stop.set()
    await asyncio.gather(*flood)
    line(f"while {args.flooders} clients send wrong passwords", during)
    counts = {code: statuses.count(code) for code in sorted(set(statuses))}
    print(f"  the flood's answers: {counts}")

    limit = 8 * MIB  # SCRIPTBOTS_BOT_MAX_BODY_MB's default
    print("slowest /healthz while a bot URL reads a body")
    for label, raw in (
        ("MB of tiny JSON values", tiny_values_body(limit - 1024)),
        ("MB conversation of 999 messages", conversation_body(limit - 64 * 1024)),
    ):
        status, slowest = await slowest_healthz(base, post(url, token, raw))
        print(f"  {f'{len(raw) / 1e6:.1f} {label}':<44} {slowest:6.3f} s   (answered {status})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flooders", type=int, default=40)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-noisy-") as scratch:
        work = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTBOTS_")}
        served = {
            **env,
            "SCRIPTBOTS_DATABASE_URL": f"sqlite:///{work / 'scriptbots.db'}",
            "SCRIPTBOTS_SECRET_KEY": SECRET_KEY,
        }

        def cli(*argv: str, stdin: str = "") -> str:
            return subprocess.run(
                [SCRIPTBOTS, *argv],
                env=served,
                cwd=work,
                input=stdin,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()

        cli("creator", "create", "victim", "--password-stdin", stdin=PASSWORD + "\n")
        token = cli("creator", "create", "quiet")
        port = free_port()
        with started(
            [SCRIPTBOTS, "serve", "--port", str(port)], served, work, work / "s.log"
        ) as server:
            base = f"http://127.0.0.1:{port}"
            wait_up(f"{base}/readyz", server)
            url = create_scripts(base, token, {"hello": HELLO})["hello"]
            asyncio.run(measure(args, base, "victim", url, token))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

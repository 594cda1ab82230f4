"""The script's HTTP clients in the real sandbox child: a full-shield run's requests fail at
once naming the header that allows them (issue 10)."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool
from tests.sandbox.process.harness import run

pytestmark = pytest.mark.asyncio(loop_scope="module")

HALF = "`# poe: privacy_shield=half`"

FULL_SHIELD_CLIENTS = """
import asyncio, aiohttp, requests, httpx, urllib.request, urllib.error

def attempt(name, call):
    try:
        call()
        print(name, "reached the network")
    except Exception as exc:
        print(name, type(exc).__name__, str(exc))

async def async_httpx():
    async with httpx.AsyncClient() as client:
        await client.get("https://example.com/")

async def with_aiohttp():
    async with aiohttp.ClientSession() as session:
        async with session.get("https://example.com/") as response:
            await response.text()

attempt("requests", lambda: requests.get("https://example.com/", timeout=5))
attempt("httpx", lambda: httpx.get("https://example.com/"))
attempt("httpx-async", lambda: asyncio.run(async_httpx()))
attempt("urllib", lambda: urllib.request.urlopen("https://example.com/"))
attempt("aiohttp", lambda: asyncio.run(with_aiohttp()))
"""


async def test_full_shield_requests_fail_at_once_naming_the_half_shield(
    pool: SandboxPool,
) -> None:
    outcome = await run(pool, FULL_SHIELD_CLIENTS)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    lines = dict(line.split(" ", 1) for line in outcome.text.split("\n") if line)
    assert set(lines) == {"requests", "httpx", "httpx-async", "urllib", "aiohttp"}, outcome.text
    assert lines["requests"].startswith("ConnectionError ")
    assert lines["httpx"].startswith("ConnectError ")
    assert lines["httpx-async"].startswith("ConnectError ")
    assert lines["urllib"].startswith("URLError ")
    assert lines["aiohttp"].startswith("ClientConnectionError ")
    assert all(HALF in line and "full privacy shield" in line for line in lines.values())

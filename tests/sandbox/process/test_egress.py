"""The script's HTTP clients in the real sandbox child: a full-shield run's requests fail at
once naming the header that allows them; a half-shield run's cross the channel to the
host's RunServices, and its process still has no socket; a child that forges a request
without half shield is stopped (issue 10)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sandbox import SandboxPool
from tests.sandbox.process.harness import TestServices, run

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


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def open_pool() -> AsyncIterator[SandboxPool]:
    """Plain Python in the child (the restricted layer off): what the OS layer holds alone."""
    pool = SandboxPool(slots=8, spares=1, unrestricted_for_tests=True)
    await pool.start()
    yield pool
    await pool.close()


RAW_SOCKETS = """
import socket
for family in (socket.AF_INET, socket.AF_INET6):
    try:
        socket.socket(family, socket.SOCK_STREAM)
        print("socket made")
    except OSError as exc:
        print(type(exc).__name__)
"""


async def test_half_shield_gives_the_child_no_socket(open_pool: SandboxPool) -> None:
    outcome = await run(open_pool, RAW_SOCKETS, privacy_shield="half")
    assert outcome.text.split("\n\n") == ["PermissionError", "PermissionError"]


HTTP_THROUGH_THE_HOST = """
import requests
print(requests.get("https://files.example/a.txt").text)
"""


async def test_half_shield_requests_cross_the_channel_to_run_services(
    pool: SandboxPool,
) -> None:
    services = TestServices(files={"https://files.example/a.txt": b"from the host"})
    outcome = await run(pool, HTTP_THROUGH_THE_HOST, services=services, privacy_shield="half")
    assert outcome.text == "from the host", outcome.describe()
    (request,) = services.http_requests
    assert (request.method, request.url) == ("GET", "https://files.example/a.txt")


FORGED_REQUEST = """
import json, os, struct
body = json.dumps({"t": "HttpRequest", "request_id": 7, "method": "GET",
                   "url": "https://files.example/a.txt", "headers": []}).encode()
os.write(3, struct.pack('>II', len(body) + 4, len(body)) + body)
import time
time.sleep(30)
"""


async def test_a_full_shield_child_that_forges_a_request_is_stopped(
    open_pool: SandboxPool,
) -> None:
    services = TestServices(files={"https://files.example/a.txt": b"x"})
    outcome = await run(open_pool, FORGED_REQUEST, services=services)
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()
    assert services.http_requests == []


SETTINGS_FETCH = """# poe: privacy_shield=half
import requests
requests.get("https://files.example/a.txt")
if __name__ == "__main__":
    print("query")
"""


async def test_a_settings_run_makes_no_request_and_says_so(pool: SandboxPool) -> None:
    services = TestServices(files={"https://files.example/a.txt": b"x"})
    outcome = await run(
        pool, SETTINGS_FETCH, services=services, query=None, mode="settings", privacy_shield="half"
    )
    assert outcome.end is not None and outcome.end.error is not None, outcome.describe()
    assert "ConnectionError: no HTTP requests while the settings are read" in outcome.end.error
    assert services.http_requests == []

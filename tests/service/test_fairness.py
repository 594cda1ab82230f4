"""Finding 5 of issue 12: a tenant who fills the sandbox slots with many queries at once
must not hold up another tenant's query behind all of them. A real server with two slots;
one creator sends many two-second queries, another a hello world, whose first text comes
after about one run, not after the whole queue (which would take over 20 s); the waits
show in /metrics per creator."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import fastapi_poe as fp
import httpx
import httpx_sse

from tests.conftest import HELLO_SOURCE, TEST_SECRET_KEY, unique_name
from tests.service.processes import Server, clean_environment, free_port, scriptbots
from tests.service.streams import query_body
from tests.service.test_stuck_runs import _script

SLOTS = 2
BUSY_QUERIES = 24
BUSY_SOURCE = 'import time\nprint("busy")\ntime.sleep(2)\n'
BOUND_S = 10  # against hangs: one run of the busy tenant is 2 s; the whole queue, 24 s


def _creator(workdir: Path, env: dict[str, str]) -> tuple[str, str]:
    name = unique_name("c")
    made = scriptbots("creator", "create", name, cwd=workdir, env=env)
    assert made.returncode == 0, made.stderr
    return name, made.stdout.strip()


async def _busy(client: httpx.AsyncClient, base: str, name: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx_sse.aconnect_sse(
        client, "POST", f"{base}/bots/{name}", json=query_body(), headers=headers
    ) as source:
        async for sse in source.aiter_sse():
            if sse.event == "done":
                return


async def _first_text_after_s(base: str, name: str, token: str) -> float:
    started = time.monotonic()
    message = fp.ProtocolMessage(role="user", content="Hello")
    async for part in fp.get_bot_response(
        messages=[message], bot_name=name, api_key=token, base_url=f"{base}/bots/"
    ):
        if part.text:
            return time.monotonic() - started
    raise AssertionError("no text")


def _wait_sum(metrics: str, creator: str) -> float:
    found = re.search(
        rf'^scriptbots_queue_wait_seconds_sum\{{creator="{creator}"\}} (\S+)$', metrics, re.M
    )
    assert found, metrics
    return float(found.group(1))


async def test_a_busy_tenant_does_not_hold_up_another(tmp_path: Path) -> None:
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=f"sqlite:///{tmp_path / 'scriptbots.db'}",
        SCRIPTBOTS_SECRET_KEY=TEST_SECRET_KEY,
        SCRIPTBOTS_SANDBOX_SLOTS=str(SLOTS),
        SCRIPTBOTS_CREATOR_MAX_CONCURRENT_RUNS=str(BUSY_QUERIES),
        SCRIPTBOTS_SHUTDOWN_GRACE_S="0",
    )
    server = Server(cwd=tmp_path, env=env, port=free_port())
    try:
        base = server.wait_until_up()
        (busy_name, busy_token), (quiet_name, quiet_token) = (
            _creator(tmp_path, env),
            _creator(tmp_path, env),
        )
        busy_bot, quiet_bot = (
            _script(base, busy_token, BUSY_SOURCE),
            _script(base, quiet_token, HELLO_SOURCE),
        )
        limits = httpx.Limits(max_connections=BUSY_QUERIES + 4)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            busy = [
                asyncio.create_task(_busy(client, base, busy_bot, busy_token))
                for _ in range(BUSY_QUERIES)
            ]
            await asyncio.sleep(1.5)  # all admitted and queued, the two slots taken
            waited_s = await asyncio.wait_for(_first_text_after_s(base, quiet_bot, quiet_token), 60)
            metrics = httpx.get(f"{base}/metrics").text
            for task in busy:
                task.cancel()
            await asyncio.gather(*busy, return_exceptions=True)
        assert waited_s < BOUND_S, f"the quiet tenant waited {waited_s:.1f} s"
        assert _wait_sum(metrics, quiet_name) < BOUND_S
        assert _wait_sum(metrics, busy_name) > 2  # the busy tenant's runs did queue
    finally:
        server.stop()

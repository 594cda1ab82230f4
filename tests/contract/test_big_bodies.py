"""Big /bots bodies through a real server (issue 12, finding 2): parsed and validated in a
worker thread, so /healthz, polled meanwhile, keeps answering; a body over the limit, over
the message cap or of absurdly many values is a quick 413 with a JSON detail.

The bound on /healthz is generous (against hangs, not a speed figure): before the fix, one
16 MB body held it for 17.9 s.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import CreatorInfo
from tests.contract.conftest import PROTOCOL, Service, _serve, query_request
from tests.upstream import Upstream

T = TypeVar("T")
HEALTHZ_BOUND_S = 2.0
MIB = 1024 * 1024
COUNTING = "print(len(poe.default_chat), len(poe.query.text))"


@pytest.fixture(scope="module")
def roomy_bodies(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Service]:
    """A server taking /bots bodies of up to 32 MiB, so that 16 MB reach the parser."""
    workdir = tmp_path_factory.mktemp("contract-bodies")
    database_url = f"sqlite:///{workdir / 'scriptbots.db'}"
    yield from _serve(workdir, upstream, database_url, SCRIPTBOTS_BOT_MAX_BODY_MB="32")


async def polled(base: str, work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result, and the slowest /healthz answer while it ran."""
    slowest = 0.0
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal slowest
        async with httpx.AsyncClient(timeout=30) as client:
            while not done.is_set():
                started = time.monotonic()
                response = await client.get(f"{base}/healthz")
                assert response.status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                await asyncio.sleep(0.02)

    poller = asyncio.create_task(poll())
    await asyncio.sleep(0.1)
    try:
        result = await work
    finally:
        done.set()
        await poller
    return result, slowest


async def post(service: Service, name: str, key: str, raw: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=120) as client:
        return await client.post(service.bots_base + name, content=raw, headers=headers)


def query_body(messages: list[dict[str, Any]]) -> bytes:
    body = query_request("x").model_dump(mode="json")
    body["query"] = messages
    return json.dumps(body).encode()


async def test_16_mb_of_tiny_values_is_refused_while_healthz_answers(
    roomy_bodies: Service,
) -> None:
    creator = roomy_bodies.creator()
    name = roomy_bodies.script(creator, COUNTING)
    raw = b'{"version":"%s","type":"settings","junk":[' % PROTOCOL.encode()
    raw += b",".join([b"[]"] * (16 * 10**6 // 3)) + b"]}"
    assert len(raw) > 16 * 10**6
    response, slowest = await polled(
        roomy_bodies.base, post(roomy_bodies, name, creator.token, raw)
    )
    assert slowest < HEALTHZ_BOUND_S
    assert response.status_code == 413
    assert "JSON values" in response.json()["detail"]


async def test_a_16_mb_conversation_runs_while_healthz_answers(roomy_bodies: Service) -> None:
    creator = roomy_bodies.creator()
    name = roomy_bodies.script(creator, COUNTING)
    text = "word " * (16_000 // 5)
    messages = [
        {"role": "user" if i % 2 == 0 else "bot", "content": text, "content_type": "text/markdown"}
        for i in range(999)
    ]
    raw = query_body(messages)
    assert len(raw) > 16 * 10**6
    response, slowest = await polled(
        roomy_bodies.base, post(roomy_bodies, name, creator.token, raw)
    )
    assert slowest < HEALTHZ_BOUND_S
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert f"999 {len(text)}" in response.text
    assert "event: done" in response.text


async def test_400000_messages_are_refused_at_once(roomy_bodies: Service) -> None:
    creator = roomy_bodies.creator()
    name = roomy_bodies.script(creator, COUNTING)
    raw = query_body([{"role": "user", "content": "hi"}] * 400_000)
    started = time.monotonic()
    response, slowest = await polled(
        roomy_bodies.base, post(roomy_bodies, name, creator.token, raw)
    )
    assert slowest < HEALTHZ_BOUND_S
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "The query holds 400000 messages; a bot here takes at most 1000."
    )
    assert time.monotonic() - started < 30  # against a hang; Poe's own deadline is 5 s
    # 1000 messages are fine.
    ok = await post(
        roomy_bodies, name, creator.token, query_body([{"role": "user", "content": "hi"}] * 1000)
    )
    assert ok.status_code == 200 and "1000 2" in ok.text


def test_the_default_limit_refuses_16_mb(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, COUNTING)
    raw = query_body([{"role": "user", "content": "x" * 16_000}] * 1000)
    headers = {**creator.headers, "Content-Type": "application/json"}
    response = httpx.post(service.bots_base + name, content=raw, headers=headers, timeout=60)
    assert response.status_code == 413
    assert response.json()["detail"] == f"The request body is larger than {8 * MIB} bytes."

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it is read
        for start in range(0, len(raw), 65536):
            yield raw[start : start + 65536]

    streamed = httpx.post(service.bots_base + name, content=chunks(), headers=headers, timeout=60)
    assert streamed.status_code == 413

"""The shared outgoing clients (service/runs/outgoing.py) against real servers on loopback:
every run's calls share kept-alive connections, and nothing of one call's credentials or
answers reaches another's request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import fastapi_poe as fp
import pytest
from fastapi import FastAPI

from sandbox import Spool
from sandbox.errors import BotCallRefused
from sandbox.protocol import BotCallRequest
from service.runs.attachments import PoeUploader
from service.runs.botcalls import CallBudget, UpstreamBots
from service.runs.outgoing import OutgoingClients
from tests.upstream import ACCESS_KEY, Record, RecordingBot, Upstream, add_file_routes, serve_app

OTHER_KEY = "AnotherTenantsAccessKey012345678"


class HeadersBot(RecordingBot):
    """Accepts any key; answers with the Authorization and Cookie headers it received,
    after a meta event (as most Poe bots send one)."""

    name = "Headers"

    def __init__(self, record: Record) -> None:
        super().__init__(record, access_key=None)  # type: ignore[arg-type]

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        yield fp.MetaResponse(text="", content_type="text/markdown", linkify=True)
        await asyncio.sleep(0.02)  # calls of two runs overlap on the shared client
        headers = context.http_request.headers
        seen = {"authorization": headers.get("authorization"), "cookie": headers.get("cookie")}
        yield fp.PartialResponse(text=json.dumps(seen))


def _setting_cookies(app: Any) -> Any:
    """Every answer sets a cookie, as a load balancer's session affinity would."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", b"affinity=run-a")]
            await send(message)

        await app(scope, receive, with_cookie if scope["type"] == "http" else send)

    return wrapped


@pytest.fixture(scope="module")
def headers_upstream() -> Any:
    record = Record()
    app = FastAPI()
    fp.make_app([HeadersBot(record)], app=app, allow_without_key=True)
    add_file_routes(app, record)
    with serve_app(_setting_cookies(app)) as url:
        yield Upstream(base_url=url + "/", access_key=ACCESS_KEY, record=record)


def _bots(upstream: Upstream, clients: OutgoingClients, key: str) -> UpstreamBots:
    return UpstreamBots(
        upstream.base_url,
        access_key=key,
        user_id="u",
        conversation_id="c",
        message_id="m",
        budget=CallBudget(10),
        session=clients.bots,
    )


async def _seen(bots: UpstreamBots) -> dict[str, Any]:
    request = BotCallRequest("Headers", [{"role": "user", "content": "x"}])
    parts = [part async for part in bots.call_bot(request)]
    assert not any(isinstance(part, fp.MetaResponse) for part in parts)  # not an answer
    return dict(json.loads("".join(part.text for part in parts)))


async def test_each_call_carries_its_own_key_and_no_cookie(headers_upstream: Upstream) -> None:
    clients = OutgoingClients()
    try:
        ours, theirs = (
            _bots(headers_upstream, clients, ACCESS_KEY),
            _bots(headers_upstream, clients, OTHER_KEY),
        )
        for _ in range(3):  # later calls reuse connections that saw the other key and cookies
            seen = await asyncio.gather(_seen(ours), _seen(theirs), _seen(ours))
            assert [s["authorization"] for s in seen] == [
                f"Bearer {ACCESS_KEY}",
                f"Bearer {OTHER_KEY}",
                f"Bearer {ACCESS_KEY}",
            ]
            assert [s["cookie"] for s in seen] == [None, None, None]
        assert len(clients.bots.cookies) == 0
    finally:
        await clients.aclose()


async def test_uploads_share_the_client_and_keep_their_own_key(upstream: Upstream) -> None:
    clients = OutgoingClients()
    try:
        ours = PoeUploader(ACCESS_KEY, base_url=upstream.upload_base, session=clients.uploads)
        theirs = PoeUploader(OTHER_KEY, base_url=upstream.upload_base, session=clients.uploads)
        first = await ours.upload("a.txt", Spool.of(b"a"), "text/plain", False)
        with pytest.raises(BotCallRefused, match="401"):  # the upload route knows one key
            await theirs.upload("b.txt", Spool.of(b"b"), "text/plain", False)
        second = await ours.upload("c.txt", Spool.of(b"c"), "text/plain", False)  # still open
        assert first.url != second.url
        assert not clients.uploads.is_closed
    finally:
        await clients.aclose()

"""The SSE mapping on the wire: a tiny FastAPI route serves ``PoeEventStream`` under uvicorn
and the real fastapi_poe client queries it. The client reports protocol violations back as
``report_error`` requests; the route records them and none may arrive."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi_poe as fp
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    Limits,
    MessageAdded,
    RunEnd,
    Started,
    TextAppended,
    TextReplaced,
)
from service.routes.sse import sse_response
from service.runs.events import PoeEventStream, RunItem
from tests.upstream import serve_app, wait_until

FILE = AttachmentInfo(
    url="https://files.example/report.pdf", content_type="application/pdf", name="report.pdf"
)


async def hello() -> AsyncIterator[RunItem]:
    yield Started()
    yield MessageAdded(0, "bot", "Hello")
    await asyncio.sleep(0.05)
    yield TextAppended(0, ", world")
    yield RunEnd(status="ok")


async def two_messages() -> AsyncIterator[RunItem]:
    yield MessageAdded(0, "bot", "first")
    await asyncio.sleep(0.05)
    yield MessageAdded(1, "bot", "second")
    yield RunEnd(status="ok")


async def rewrite() -> AsyncIterator[RunItem]:
    yield MessageAdded(0, "bot", "draft")
    await asyncio.sleep(0.05)
    yield TextReplaced(0, "final")
    await asyncio.sleep(0.05)
    yield TextAppended(0, "!")
    yield RunEnd(status="ok")


async def with_file() -> AsyncIterator[RunItem]:
    yield MessageAdded(0, "bot", "Here it is.")
    yield AttachmentAdded(0, FILE)
    yield RunEnd(status="ok")


async def failing() -> AsyncIterator[RunItem]:
    yield MessageAdded(0, "bot", "partial")
    await asyncio.sleep(0.05)
    yield RunEnd(status="error", error="BotError: the cheese ran out")


async def empty() -> AsyncIterator[RunItem]:
    yield RunEnd(status="ok")


async def chatty() -> AsyncIterator[RunItem]:
    yield MessageAdded(0, "bot", "")
    for i in range(3000):
        yield TextAppended(0, f"{i}\n")
        if i % 100 == 0:
            await asyncio.sleep(0.001)
    yield RunEnd(status="ok")


async def endless() -> AsyncIterator[RunItem]:
    yield MessageAdded(0, "bot", "tick")
    try:
        while True:
            await asyncio.sleep(0.01)
            yield TextAppended(0, ".")
    finally:
        ENDLESS_CLOSED.set()


async def quiet() -> AsyncIterator[RunItem]:
    yield MessageAdded(0, "bot", "before")
    await asyncio.sleep(0.8)
    yield TextAppended(0, " after")
    yield RunEnd(status="ok")


ENDLESS_CLOSED = threading.Event()  # set in the server's thread
SCENARIOS: dict[str, Callable[[], AsyncIterator[RunItem]]] = {
    "hello": hello,
    "two_messages": two_messages,
    "rewrite": rewrite,
    "with_file": with_file,
    "failing": failing,
    "empty": empty,
    "chatty": chatty,
    "endless": endless,
    "quiet": quiet,
}


@dataclass
class Served:
    base_url: str
    reported_errors: list[dict[str, Any]] = field(default_factory=list)
    streams: list[PoeEventStream] = field(default_factory=list)
    # The last stream's backstop (``cut``), with the server's loop to resolve it from.
    cuts: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(default_factory=list)


def mapping_app(served: Served) -> FastAPI:
    app = FastAPI()

    @app.post("/bots/{name}")
    async def bot(name: str, request: Request) -> Response:
        body = await request.json()
        if body["type"] == "report_error":
            served.reported_errors.append(body)
            return JSONResponse({})
        stream = PoeEventStream(SCENARIOS[name](), limits=Limits(max_output_chars=100_000))
        served.streams.append(stream)
        loop = asyncio.get_running_loop()
        cut: asyncio.Future[None] = loop.create_future()
        served.cuts.append((loop, cut))
        return sse_response(stream, cut)

    return app


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    record = Served(base_url="")
    with serve_app(mapping_app(record)) as url:
        record.base_url = url + "/bots/"
        yield record
    assert record.reported_errors == [], "fastapi_poe's client reported protocol errors"


async def query(served: Served, name: str) -> list[fp.PartialResponse]:
    messages = [fp.ProtocolMessage(role="user", content="hi")]
    parts = fp.get_bot_response(messages, name, "any-key", base_url=served.base_url)
    return [part async for part in parts]


def final_text(parts: list[fp.PartialResponse]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, fp.MetaResponse):
            continue
        text = part.text if part.is_replace_response else text + part.text
    return text


async def test_meta_comes_first_and_text_streams(served: Served) -> None:
    parts = await query(served, "hello")
    assert isinstance(parts[0], fp.MetaResponse)
    assert parts[0].content_type == "text/markdown"
    assert [p.text for p in parts[1:]] == ["Hello", ", world"]
    assert final_text(parts) == "Hello, world"


async def test_messages_are_joined_by_a_blank_line(served: Served) -> None:
    parts = await query(served, "two_messages")
    assert final_text(parts) == "first\n\nsecond"


async def test_overwrite_arrives_as_replace_response(served: Served) -> None:
    parts = await query(served, "rewrite")
    assert [(p.text, p.is_replace_response) for p in parts[1:]] == [
        ("draft", False),
        ("final", True),
        ("!", False),
    ]
    assert final_text(parts) == "final!"


async def test_attachments_arrive_as_file_events(served: Served) -> None:
    parts = await query(served, "with_file")
    attachments = [p.attachment for p in parts if p.attachment is not None]
    assert attachments == [
        fp.Attachment(url=FILE.url, content_type=FILE.content_type, name=FILE.name)
    ]
    assert final_text(parts) == "Here it is."


async def test_a_failed_run_raises_in_the_client_without_retry(served: Served) -> None:
    with pytest.raises(fp.BotErrorNoRetry) as raised:
        await query(served, "failing")
    assert json.loads(str(raised.value)) == {
        "allow_retry": False,
        "text": "BotError: the cheese ran out",
    }


async def test_an_empty_response_is_not_a_protocol_error(served: Served) -> None:
    before = len(served.reported_errors)
    parts = await query(served, "empty")
    assert final_text(parts) == ""
    assert served.reported_errors[before:] == []


async def test_thousands_of_writes_arrive_whole_in_few_events(served: Served) -> None:
    parts = await query(served, "chatty")
    assert final_text(parts) == "".join(f"{i}\n" for i in range(3000))
    assert len(parts) < 200
    assert served.streams[-1].chars_out == len(final_text(parts))


QUERY = {
    "version": "1.2",
    "type": "query",
    "query": [{"role": "user", "content": "hi"}],
    "user_id": "u",
    "conversation_id": "c",
    "message_id": "m",
}


async def test_a_client_that_disconnects_ends_the_run(served: Served) -> None:
    ENDLESS_CLOSED.clear()
    body = QUERY
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", served.base_url + "endless", json=body) as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == "event: meta"
    # The connection is closed; the server notices and closes the run's source.
    await asyncio.to_thread(wait_until, ENDLESS_CLOSED.is_set)
    stream = served.streams[-1]
    assert stream.outcome is not None and stream.outcome.status == "killed"


async def test_a_quiet_stream_gets_keep_alive_comments_the_client_ignores(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.routes.sse.PING_S", 0.2)  # read by each new response
    async with httpx.AsyncClient() as client:
        response = await client.post(served.base_url + "quiet", json=QUERY, timeout=30)
    lines = response.text.split("\r\n")
    pings = [i for i, line in enumerate(lines) if line.startswith(": ping")]
    before = lines.index('data: {"text": "before"}')
    after = lines.index('data: {"text": " after"}')
    assert pings and all(before < i < after for i in pings)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    reported = len(served.reported_errors)
    assert final_text(await query(served, "quiet")) == "before after"
    assert served.reported_errors[reported:] == []


async def test_the_shutdown_backstop_cuts_a_stream_and_ends_its_body(served: Served) -> None:
    ENDLESS_CLOSED.clear()
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", served.base_url + "endless", json=QUERY) as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == "event: meta"
        loop, cut = served.cuts[-1]
        loop.call_soon_threadsafe(cut.set_result, None)
        async with asyncio.timeout(30):  # the body ends: no hang, no broken chunk
            rest = [line async for line in lines]
    assert "event: done" not in rest
    await asyncio.to_thread(wait_until, ENDLESS_CLOSED.is_set)
    stream = served.streams[-1]
    assert stream.outcome is not None and stream.outcome.status == "killed"

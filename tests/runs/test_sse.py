"""The run event → Poe SSE mapping (SPEC §7), fed with hand-made sandbox event sequences."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterable
from typing import Any

import fastapi_poe as fp
import pytest

from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    Limits,
    MessageAdded,
    MessageFailed,
    MessageFinished,
    RunEnd,
    RunStart,
    Started,
    TextAppended,
    TextReplaced,
)
from service.routes.sse import encode
from service.runs.events import (
    DISCONNECTED,
    INVALID_EVENT,
    NO_RUN_END,
    SOURCE_FAILED,
    PoeEventStream,
    RunItem,
    SseEvent,
    done_event,
    error_event,
    file_event,
    meta_event,
    replace_response_event,
    text_event,
)
from service.runs.response import ResponseText

META = ("meta", meta_event().data)
DONE = ("done", "{}")
OK = RunEnd(status="ok")
FILE = AttachmentInfo(url="https://files.example/a.png", content_type="image/png", name="a.png")


def text(value: str) -> tuple[str, str]:
    return ("text", json.dumps({"text": value}))


def replace(value: str) -> tuple[str, str]:
    return ("replace_response", json.dumps({"text": value}))


def error(value: str) -> tuple[str, str]:
    return ("error", json.dumps({"allow_retry": False, "text": value}))


class Source:
    """A run's event source that remembers whether it was closed (the run stopped)."""

    def __init__(
        self, items: Iterable[RunItem | float | BaseException], *, pause_s: float = 0.0
    ) -> None:
        self.items = list(items)
        self.pause_s = pause_s  # after each event: lets a zero coalescing window flush
        self.closed = False
        self.gate: asyncio.Event | None = None

    async def __aiter__(self) -> AsyncIterator[RunItem]:
        try:
            if self.gate is not None:
                await self.gate.wait()
            for item in self.items:
                if isinstance(item, float):
                    await asyncio.sleep(item)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
                    if self.pause_s:
                        await asyncio.sleep(self.pause_s)
        finally:
            self.closed = True


async def collect(stream: PoeEventStream) -> list[tuple[str, str]]:
    return [(event.event, event.data) for event in [e async for e in stream]]


async def mapped(
    items: Iterable[RunItem | float | BaseException], **options: Any
) -> list[tuple[str, str]]:
    options.setdefault("coalesce_s", 0.0)  # with the pauses: one SSE event per change
    return await collect(PoeEventStream(Source(items, pause_s=0.003).__aiter__(), **options))


async def test_meta_is_sent_before_the_sandbox_produces_anything() -> None:
    source = Source([MessageAdded(0, "bot", "hi"), OK])
    source.gate = asyncio.Event()
    events = PoeEventStream(source.__aiter__()).__aiter__()
    first = await asyncio.wait_for(anext(events), timeout=1)
    assert (first.event, first.data) == META
    source.gate.set()
    rest = [(e.event, e.data) async for e in events]
    assert rest == [text("hi"), DONE]


async def test_print_becomes_text_then_done() -> None:
    events = await mapped([Started(), MessageAdded(0, "bot", "hello"), OK])
    assert events == [META, text("hello"), DONE]


async def test_a_failed_message_keeps_its_text_and_ends_the_response_with_its_error() -> None:
    """Message.fail: Poe's protocol has one response per query and one error event, which
    ends it; so the text of every message streams, and the failure comes last."""
    items = [
        MessageAdded(0, "bot", "partial"),
        MessageFailed(0, "the API is down"),
        MessageAdded(1, "bot", "next"),
        MessageFailed(1, "the API is down"),  # a message echoed twice fails twice: said once
        OK,
    ]
    stream = PoeEventStream(Source(items, pause_s=0.003).__aiter__(), coalesce_s=0.0)
    events = await collect(stream)
    assert events == [META, text("partial"), text("\n\nnext"), error("the API is down"), DONE]
    assert stream.outcome == RunEnd("error", "the API is down")


async def test_a_failed_message_and_a_script_error_are_both_shown() -> None:
    items = [MessageAdded(0, "bot", ""), MessageFailed(0, "step 1 failed"), RunEnd("error", "boom")]
    events = await mapped(items)
    assert events[-2:] == [error("step 1 failed\n\nboom"), DONE]


async def test_appends_to_the_last_message_stream_as_deltas() -> None:
    items = [MessageAdded(0, "bot", "a"), TextAppended(0, "b"), TextAppended(0, "c"), OK]
    assert await mapped(items) == [META, text("a"), text("b"), text("c"), DONE]


async def test_a_new_message_after_text_starts_with_a_blank_line() -> None:
    items = [MessageAdded(0, "bot", "a"), MessageFinished(0), MessageAdded(1, "bot", "b"), OK]
    assert await mapped(items) == [META, text("a"), text("\n\nb"), DONE]


async def test_empty_messages_add_no_blank_line() -> None:
    items = [
        MessageAdded(0, "bot", ""),
        MessageAdded(1, "bot", ""),
        TextAppended(1, "x"),
        MessageAdded(2, "bot", ""),
        TextAppended(2, "y"),
        OK,
    ]
    assert await mapped(items) == [META, text("x"), text("\n\ny"), DONE]


async def test_overwrite_sends_the_whole_response() -> None:
    items = [
        MessageAdded(0, "bot", "a"),
        MessageAdded(1, "bot", "b"),
        TextReplaced(1, "bc"),  # even an overwrite that extends the text (SPEC §7)
        TextReplaced(1, "bc"),  # no change, nothing sent
        OK,
    ]
    assert await mapped(items) == [META, text("a"), text("\n\nb"), replace("a\n\nbc"), DONE]


async def test_a_write_into_an_earlier_message_replaces_then_appends_resume() -> None:
    items = [
        MessageAdded(0, "bot", "a"),
        MessageAdded(1, "bot", "b"),
        TextAppended(0, "x"),
        TextAppended(1, "y"),
        OK,
    ]
    assert await mapped(items) == [
        META,
        text("a"),
        text("\n\nb"),
        replace("ax\n\nb"),
        text("y"),
        DONE,
    ]


async def test_a_message_added_twice_is_an_overwrite() -> None:
    items = [MessageAdded(0, "bot", "a"), MessageAdded(1, "bot", "b"), MessageAdded(0, "bot", "c")]
    assert await mapped([*items, OK]) == [META, text("a"), text("\n\nb"), replace("c\n\nb"), DONE]


@pytest.mark.parametrize(
    "bad",
    [
        MessageAdded(5, "bot", "gap"),
        TextAppended(7, "x"),
        TextReplaced(-1, "x"),
        AttachmentAdded(3, FILE),
        MessageFinished(9),
        RunStart(source="", bot_name="x"),  # not an event a run sends
    ],
)
async def test_an_invalid_event_stops_the_run(bad: Any) -> None:
    source = Source([MessageAdded(0, "bot", "a"), bad, OK], pause_s=0.003)
    stream = PoeEventStream(source.__aiter__(), coalesce_s=0)
    assert await collect(stream) == [META, text("a"), error(INVALID_EVENT), DONE]
    assert source.closed


async def test_overwriting_the_last_message_to_empty_drops_its_blank_line() -> None:
    items = [MessageAdded(0, "bot", "a"), MessageAdded(1, "bot", "b"), TextReplaced(1, ""), OK]
    assert await mapped(items) == [META, text("a"), text("\n\nb"), replace("a"), DONE]


async def test_attachments_become_file_events_after_the_text_before_them() -> None:
    inline = AttachmentInfo(
        url="https://f.example/b", content_type="text/plain", name="b", inline_ref="r1"
    )
    items = [
        MessageAdded(0, "bot", "see"),
        AttachmentAdded(0, FILE),
        MessageAdded(1, "bot", "more", attachments=[inline]),
        OK,
    ]
    file_a = (
        "file",
        json.dumps(
            {"url": FILE.url, "content_type": "image/png", "name": "a.png", "inline_ref": None}
        ),
    )
    file_b = (
        "file",
        json.dumps(
            {"url": inline.url, "content_type": "text/plain", "name": "b", "inline_ref": "r1"}
        ),
    )
    assert await mapped(items) == [META, text("see"), file_a, text("\n\nmore"), file_b, DONE]


async def test_a_response_with_only_a_file_still_sends_text() -> None:
    # fastapi_poe's client reports a response without any text event as a protocol error.
    events = await mapped([MessageAdded(0, "bot", ""), AttachmentAdded(0, FILE), OK])
    assert events == [META, ("file", file_event(FILE).data), text(""), DONE]


async def test_an_empty_run_sends_empty_text_and_done() -> None:
    assert await mapped([Started(), OK]) == [META, text(""), DONE]


async def test_bot_error_becomes_an_error_event_without_retry() -> None:
    items = [MessageAdded(0, "bot", "partial"), RunEnd(status="error", error="no more cheese")]
    assert await mapped(items) == [META, text("partial"), error("no more cheese"), DONE]


@pytest.mark.parametrize(
    ("end", "message"),
    [
        (RunEnd(status="timeout", limit="time"), "The script reached its time limit of 7 seconds."),
        (RunEnd(status="timeout"), "The script reached its time limit of 7 seconds."),
        (
            RunEnd(status="killed", limit="cpu"),
            "The script reached its CPU time limit of 3 seconds.",
        ),
        (RunEnd(status="killed", limit="memory"), "The script reached its memory limit of 64 MB."),
        (  # the child's generic sentence adds nothing to the one naming the limit
            RunEnd(status="error", limit="memory", error="The run reached its memory limit."),
            "The script reached its memory limit of 64 MB.",
        ),
        (  # nor do the supervisor's own sentences with the limit's value
            RunEnd(status="timeout", limit="time", error="The run reached its time limit (7 s)."),
            "The script reached its time limit of 7 seconds.",
        ),
        (
            RunEnd(status="killed", limit="cpu", error="The run reached its CPU time limit (3 s)."),
            "The script reached its CPU time limit of 3 seconds.",
        ),
        (RunEnd(status="error", limit="bot_calls"), "The script reached its limit of 2 bot calls."),
        (
            RunEnd(status="error", limit="recursion", error="RecursionError: too deep"),
            "The script reached the recursion limit.\n\nRecursionError: too deep",
        ),
        (RunEnd(status="killed"), "The script was stopped before it finished."),
    ],
)
async def test_limits_give_an_error_naming_the_limit(end: RunEnd, message: str) -> None:
    limits = Limits(timeout_s=7, cpu_s=3, memory_mb=64, max_bot_calls=2)
    assert await mapped([end], limits=limits) == [META, error(message), DONE]


async def test_a_failing_source_still_ends_with_error_and_done() -> None:
    items = [MessageAdded(0, "bot", "a"), RuntimeError("pipe broke")]
    stream = PoeEventStream(Source(items, pause_s=0.003).__aiter__(), coalesce_s=0)
    assert await collect(stream) == [META, text("a"), error(SOURCE_FAILED), DONE]
    assert stream.outcome == RunEnd(status="error", error=SOURCE_FAILED)


async def test_a_source_cancelled_from_inside_still_ends_with_done() -> None:
    events = await mapped([MessageAdded(0, "bot", "a"), asyncio.CancelledError()])
    assert events == [META, text("a"), error(NO_RUN_END), DONE]


async def test_a_source_that_ends_without_run_end_is_an_error() -> None:
    events = await mapped([MessageAdded(0, "bot", "a")])
    assert events == [META, text("a"), error(NO_RUN_END), DONE]


async def test_output_is_capped_with_an_error_naming_the_limit() -> None:
    source = Source(
        [MessageAdded(0, "bot", "12345"), TextAppended(0, "67890"), TextAppended(0, "abc"), OK],
        pause_s=0.003,
    )
    stream = PoeEventStream(source.__aiter__(), limits=Limits(max_output_chars=12), coalesce_s=0)
    events = await collect(stream)
    message = "The response reached its output limit of 12 characters."
    assert events == [META, text("12345"), text("67890"), text("ab"), error(message), DONE]
    assert stream.chars_out == 12
    assert stream.response_text == "1234567890ab"
    assert stream.outcome is not None and stream.outcome.limit == "output"
    assert source.closed


async def test_output_cap_applies_to_a_replaced_response() -> None:
    items = [MessageAdded(0, "bot", "abc"), TextReplaced(0, "x" * 20), OK]
    events = await mapped(items, limits=Limits(max_output_chars=8))
    message = "The response reached its output limit of 8 characters."
    assert events == [META, text("abc"), replace("x" * 8), error(message), DONE]


async def test_rapid_writes_are_coalesced_without_losing_text() -> None:
    items: list[RunItem] = [MessageAdded(0, "bot", "")]
    items += [TextAppended(0, f"{i},") for i in range(2000)]
    stream = PoeEventStream(Source([*items, OK]).__aiter__(), coalesce_s=0.05)
    events = await collect(stream)
    texts = [json.loads(data)["text"] for name, data in events if name == "text"]
    assert "".join(texts) == "".join(f"{i}," for i in range(2000))
    assert len(events) <= 10


async def test_text_trickling_slowly_is_merged_per_window() -> None:
    items: list[RunItem | float] = [MessageAdded(0, "bot", "")]
    for i in range(40):
        items += [TextAppended(0, f"{i} "), 0.005]
    stream = PoeEventStream(Source([*items, OK]).__aiter__(), coalesce_s=0.05)
    events = await collect(stream)
    texts = [json.loads(data)["text"] for name, data in events if name == "text"]
    assert "".join(texts) == "".join(f"{i} " for i in range(40))
    assert 2 <= len(texts) <= 30  # merged: far fewer events than the 40 writes


async def test_a_response_stays_within_the_event_limit() -> None:
    items: list[RunItem | float] = [MessageAdded(0, "bot", "")]
    for i in range(300):
        items += [TextAppended(0, str(i % 10)), 0.0]
    stream = PoeEventStream(Source([*items, OK]).__aiter__(), coalesce_s=0, max_events=40)
    events = await collect(stream)
    assert len(events) <= 40
    texts = [json.loads(data)["text"] for name, data in events if name == "text"]
    assert "".join(texts) == "".join(str(i % 10) for i in range(300))
    assert events[-1] == DONE


async def test_transcript_and_counts_describe_the_stream() -> None:
    stream = PoeEventStream(
        Source(
            [MessageAdded(0, "bot", "hi"), TextReplaced(0, "hey"), OK], pause_s=0.003
        ).__aiter__(),
        coalesce_s=0,
    )
    await collect(stream)
    # The record folds like the stream: the rewrite replaced the text before it (issue 11).
    assert stream.transcript == [
        {"event": "meta", "data": json.loads(meta_event().data)},
        {"event": "replace_response", "data": {"text": "hey"}},
        {"event": "done", "data": {}},
    ]
    assert stream.chars_out == 3
    assert stream.events_sent == 4
    assert stream.outcome == OK


async def test_closing_the_stream_early_closes_the_source() -> None:
    source = Source([MessageAdded(0, "bot", "a"), 60.0, OK])
    stream = PoeEventStream(source.__aiter__(), coalesce_s=0)
    events = stream.__aiter__()
    assert (await anext(events)).event == "meta"
    assert (await anext(events)).event == "text"
    await events.aclose()  # type: ignore[attr-defined]
    assert source.closed
    assert stream.outcome == RunEnd(status="killed", error=DISCONNECTED)


async def test_cancelling_the_consumer_closes_the_source() -> None:
    source = Source([MessageAdded(0, "bot", "a"), 60.0, OK])
    stream = PoeEventStream(source.__aiter__(), coalesce_s=0)
    seen: list[SseEvent] = []

    async def consume() -> None:
        async for event in stream:
            seen.append(event)

    task = asyncio.create_task(consume())
    while len(seen) < 2:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed
    assert stream.outcome is not None and stream.outcome.status == "killed"


async def test_a_stream_is_iterated_once() -> None:
    stream = PoeEventStream(Source([OK]).__aiter__())
    await collect(stream)
    with pytest.raises(RuntimeError):
        stream.__aiter__()


def test_events_encode_exactly_as_fastapi_poe_does() -> None:
    bot = fp.PoeBot
    pairs = [
        (meta_event(), bot.meta_event()),
        (text_event("hé\nllo"), bot.text_event("hé\nllo")),
        (replace_response_event("x"), bot.replace_response_event("x")),
        (error_event("bad"), bot.error_event("bad", allow_retry=False)),
        (done_event(), bot.done_event()),
        (
            file_event(FILE),
            bot.file_event(url=FILE.url, content_type=FILE.content_type, name=FILE.name),
        ),
    ]
    for ours, theirs in pairs:
        assert encode(ours) == theirs.encode()


async def test_files_past_the_event_budget_are_left_out_but_no_text_is() -> None:
    items: list[RunItem] = [MessageAdded(0, "bot", "")]
    for _ in range(50):
        items += [TextAppended(0, "x"), AttachmentAdded(0, FILE)]
    source = Source([*items, OK], pause_s=0.001)
    events = await collect(PoeEventStream(source.__aiter__(), coalesce_s=0, max_events=20))
    assert len(events) <= 20
    texts = [json.loads(data)["text"] for name, data in events if name == "text"]
    assert "".join(texts) == "x" * 50
    assert any(name == "file" for name, _ in events)
    assert events[-1] == DONE


async def test_only_http_urls_leave_as_file_events() -> None:
    claimed = AttachmentInfo(url="javascript:alert(1)", content_type="text/html", name="x")
    events = await mapped([MessageAdded(0, "bot", "hi"), AttachmentAdded(0, claimed), OK])
    assert events == [META, text("hi"), DONE]


async def test_the_first_text_goes_out_before_the_window_ends() -> None:
    # The leading edge: a ticking script's first tick is sent at once, not a window later.
    written = asyncio.Event()
    sent = asyncio.Event()

    async def ticks() -> AsyncIterator[RunItem]:
        yield MessageAdded(0, "bot", "tick 1")
        written.set()
        await sent.wait()  # only once the client has the first tick
        yield TextAppended(0, " tick 2")
        yield OK

    events = []
    async with asyncio.timeout(5):  # a held first tick would wait here for ever
        async for event in PoeEventStream(ticks(), coalesce_s=60.0):
            events.append((event.event, event.data))
            if event.event == "text":
                sent.set()
    assert events == [META, text("tick 1"), text(" tick 2"), DONE]


def _client_view(events: list[tuple[str, str]]) -> str:
    shown = ""
    for name, data in events:
        if name == "text":
            shown += json.loads(data)["text"]
        elif name == "replace_response":
            shown = json.loads(data)["text"]
    return shown


@pytest.mark.parametrize("seed", range(12))
async def test_coalescing_never_drops_or_reorders_text(seed: int) -> None:
    rng = random.Random(seed)
    items: list[RunItem | float] = [MessageAdded(0, "bot", "start")]
    messages = 1
    for step in range(rng.randrange(50, 400)):
        roll = rng.random()
        if roll < 0.7:
            items.append(TextAppended(rng.randrange(messages), f"<{step}>"))
        elif roll < 0.8:
            items.append(MessageAdded(messages, "bot", f"[m{messages}]"))
            messages += 1
        elif roll < 0.85:
            items.append(TextReplaced(rng.randrange(messages), f"{{r{step}}}"))
        else:
            items.append(rng.choice([0.0, 0.001, 0.004]))
    expected = ResponseText()
    for item in items:
        if not isinstance(item, float):
            expected.apply(item)
    stream = PoeEventStream(
        Source([*items, OK]).__aiter__(),
        coalesce_s=rng.choice([0.0, 0.002, 0.01]),
        max_events=rng.choice([30, 10_000]),
    )
    events = await collect(stream)
    assert events[0] == META and events[-1] == DONE
    assert _client_view(events) == expected.render()
    if not any(isinstance(item, TextReplaced) for item in items) and messages == 1:
        texts = [json.loads(data)["text"] for name, data in events if name == "text"]
        assert "".join(texts) == expected.render()  # appends only: in order, each once
